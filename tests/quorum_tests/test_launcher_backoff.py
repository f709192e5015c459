"""The launcher's restart back-off: quick deaths wait longer each time, a process that stayed up starts afresh."""

from quorum.launcher import FIRST_DELAY, MAX_DELAY, STABLE_SECONDS, describe_exit, restart_delay


def test_quick_deaths_double_the_wait_up_to_the_maximum():
    delays, delay = [], 0.0
    for _ in range(8):
        delay = restart_delay(delay, uptime=2)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert (FIRST_DELAY, MAX_DELAY) == (1, 30)


def test_a_process_that_stayed_up_a_minute_starts_over_from_one_second():
    assert restart_delay(30, uptime=STABLE_SECONDS) == 1
    assert restart_delay(30, uptime=STABLE_SECONDS - 1) == 30


def test_the_log_says_how_a_process_ended():
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
