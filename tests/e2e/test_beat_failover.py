"""Two beats against the same Redis (RedBeat): a pass runs once per interval, not once per beat, and when the
active beat is killed the standby takes over within the lock timeout. Real beats and a real Celery worker."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from quorum.redis import get_redis
from tests.servers import ROOT, server_env

pytestmark = pytest.mark.timeout(120)

LOCK_TIMEOUT = 5
MAX_INTERVAL = 1


def start(role: str, env: dict, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "tests.beat_app", role, "--loglevel", "INFO"]
    if role == "beat":
        command += ["-S", "tests.beat_app.TickScheduler"]
    if role == "worker":
        command += [
            "-Q",
            f"{env['QUORUM_REDIS_PREFIX']}.beat-test",
            "-c",
            "1",
            "-P",
            "solo",
            "-n",
            f"beat-test-{uuid.uuid4().hex[:6]}@%h",
        ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def runs(prefix: str) -> list[float]:
    return [float(t) for t in get_redis().lrange(f"{prefix}:beat-test:runs", 0, -1)]


def active_beat(prefix: str) -> int | None:
    pid = get_redis().get(f"{prefix}:beat-test:active")
    return int(pid) if pid else None


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_beats_run_each_pass_once_and_the_standby_takes_over(tmp_path):
    prefix = f"quorum-beat-test-{uuid.uuid4().hex[:8]}"
    env = server_env(
        QUORUM_REDIS_PREFIX=prefix, QUORUM_BEAT_LOCK_TIMEOUT=LOCK_TIMEOUT, QUORUM_BEAT_MAX_INTERVAL=MAX_INTERVAL
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat-a", "beat-b")}
    procs = {"worker": start("worker", env, logs["worker"])}
    try:
        procs["beat-a"] = start("beat", env, logs["beat-a"])
        wait_for(lambda: active_beat(prefix) == procs["beat-a"].pid, 30, "the first beat to take the lock")
        procs["beat-b"] = start("beat", env, logs["beat-b"])
        wait_for(lambda: len(runs(prefix)) >= 1, 30, "the first run")

        # Both beats up for 8 s: one run a second, not two.
        start_count, started = len(runs(prefix)), time.time()
        time.sleep(8)
        window = [t for t in runs(prefix) if t >= started]
        assert 5 <= len(window) <= 10, f"{len(window)} runs in 8 s with two beats"
        gaps = [b - a for a, b in zip(window, window[1:], strict=False)]
        assert min(gaps) > 0.5, f"two runs {min(gaps):.2f} s apart: both beats sent the pass"
        assert active_beat(prefix) == procs["beat-a"].pid, "the second beat ticked while the first holds the lock"
        assert len(runs(prefix)) > start_count

        # kill -9 the active beat: it cannot release its lock; the standby takes it once it expires.
        procs["beat-a"].kill()
        procs["beat-a"].wait()
        killed = time.time()
        wait_for(lambda: active_beat(prefix) == procs["beat-b"].pid, LOCK_TIMEOUT + MAX_INTERVAL + 10, "takeover")
        wait_for(
            lambda: any(t > killed for t in runs(prefix)), LOCK_TIMEOUT + MAX_INTERVAL + 10, "a run after takeover"
        )
        first_after = min(t for t in runs(prefix) if t > killed)
        assert first_after - killed <= LOCK_TIMEOUT + MAX_INTERVAL + 3, (
            f"runs resumed {first_after - killed:.1f} s later"
        )
        time.sleep(4)
        after = [t for t in runs(prefix) if t >= first_after]
        assert 3 <= len(after) <= 6, f"{len(after)} runs in 4 s after takeover"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        r = get_redis()
        for name in r.scan_iter(f"{prefix}:*"):
            r.delete(name)
