"""A periodic pass never overlaps itself: a second run while the first still goes is skipped, not queued."""

import threading

from quorum.periodic import SKIPPED, one_at_a_time, pass_lock_key
from quorum.redis import get_redis


def test_a_second_concurrent_run_is_skipped_and_the_pass_runs_again_afterwards():
    started, finish, runs = threading.Event(), threading.Event(), []

    @one_at_a_time("test-overlap", ttl=30)
    def slow_pass(n):
        runs.append(n)
        started.set()
        finish.wait(10)
        return n

    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", slow_pass(1)))
    first.start()
    assert started.wait(10)
    assert slow_pass(2) is SKIPPED  # the first run still holds the pass
    finish.set()
    first.join(10)
    assert results["first"] == 1 and runs == [1]
    assert get_redis().get(pass_lock_key("test-overlap")) is None  # released when the run ended
    assert slow_pass(3) == 3 and runs == [1, 3]


def test_a_run_releases_only_its_own_lock():
    r = get_redis()

    @one_at_a_time("test-own-token", ttl=30)
    def pass_whose_lock_expired_meanwhile():
        # Its ttl ran out and another run took the lock: ending must not free that run's lock.
        r.set(pass_lock_key("test-own-token"), "another-run", ex=30)
        return "done"

    assert pass_whose_lock_expired_meanwhile() == "done"
    assert r.get(pass_lock_key("test-own-token")) == "another-run"
    r.delete(pass_lock_key("test-own-token"))


def test_a_failing_run_releases_the_pass():
    @one_at_a_time("test-failing", ttl=30)
    def failing_pass():
        raise RuntimeError("boom")

    for _ in range(2):
        try:
            failing_pass()
        except RuntimeError:
            pass
        else:
            raise AssertionError("the error was swallowed")
    assert get_redis().get(pass_lock_key("test-failing")) is None
