"""How the scale rehearsal (bench/scale.py) turns latencies into p99 per second and seconds to recover."""

import math

from bench.scale import p99_windows, recovery_seconds


def test_p99_per_second_and_a_second_without_answers():
    latency = [(100.2, 0.010), (100.7, 0.020), (102.5, 0.500)]
    windows = p99_windows(latency, start=100.0, stop=104.0)
    assert windows[0] == 0.020
    assert math.isinf(windows[1])  # nothing came back: counts as over any threshold
    assert windows[2] == 0.500
    assert math.isinf(windows[3])


def test_recovery_is_measured_up_to_the_next_event():
    windows = [0.01, 0.01, 0.9, 0.8, 0.01, 0.01, 0.01, 0.7, 0.01, 0.01]
    # kill at 2.0 s: over until the end of second 3, so 2 s; kill at 6.5 s: second 7 is over, so 1.5 s.
    assert recovery_seconds(windows, [2.0, 6.5], threshold=0.05) == [2.0, 1.5]
    assert recovery_seconds([0.01] * 5, [1.0], threshold=0.05) == [0.0]
