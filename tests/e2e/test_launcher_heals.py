"""``make run`` heals: kill -9 any process it started, under load, and it is started again while the rest keeps
serving; on SIGTERM nothing it started is left, and the port is free."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import httpx
import psutil
import pytest

from tests.servers import ROOT, free_port, server_env

pytestmark = pytest.mark.e2e

ROLES = {
    "a web process": "quorum.uvicorn_socket",
    "the Celery worker": ".default ",
    "Celery beat": "celery -A quorum beat",
    "the automation Celery worker": ".automation ",
}


class Load(threading.Thread):
    """GETs /healthz without pause, remembering when each 200 came."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.ok, self.errors, self.running = url, [], 0, True

    def run(self) -> None:
        with httpx.Client(timeout=3) as client:
            while self.running:
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        self.ok.append(time.monotonic())
                except httpx.HTTPError:
                    self.errors += 1
                time.sleep(0.02)

    def longest_gap(self, since: float) -> float:
        times = [since] + [t for t in self.ok if t >= since] + [time.monotonic()]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


def role_processes(launcher: psutil.Process, needle: str) -> list[psutil.Process]:
    found = []
    for child in launcher.children():
        with contextlib.suppress(psutil.Error):
            if needle in " ".join(child.cmdline()) + " ":
                found.append(child)
    return found


def came_back(launcher: psutil.Process, needle: str, before: list[psutil.Process]) -> bool:
    """As many processes of the role as before, the killed one not among them."""
    now = {p.pid for p in role_processes(launcher, needle)}
    return len(now) == len(before) and before[0].pid not in now


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


def test_every_process_killed_under_load_comes_back_and_nothing_outlives_the_launcher(
    django_db_setup, django_db_blocker, tmp_path
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with django_db_blocker.unblock():
        env = server_env(QUORUM_VAR_DIR=tmp_path, QUORUM_AUTOMATION_PRELOAD=0, QUORUM_AUTOMATION_SOLVER="hashing")
    log = open(tmp_path / "launcher.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quorum.launcher", "--port", str(port), "--no-demo", "--web-processes", "2"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    launcher = psutil.Process(proc.pid)
    seen: dict[int, psutil.Process] = {}  # every process the launcher ever started, grandchildren included

    def remember() -> None:
        with contextlib.suppress(psutil.Error):
            for p in launcher.children(recursive=True):
                seen.setdefault(p.pid, p)

    load = Load(url)
    try:
        wait_for(lambda: proc.poll() is None and _healthy(url), 40, f"no /healthz (see {log.name})")
        wait_for(lambda: all(role_processes(launcher, n) for n in ROLES.values()), 20, "not every process started")
        load.start()
        for role, needle in ROLES.items():
            remember()
            before = role_processes(launcher, needle)
            victim = before[0]
            killed_at = time.monotonic()
            victim.kill()
            wait_for(partial(came_back, launcher, needle, before), 10, f"{role} was not started again")
            wait_for(lambda: _healthy(url), 10, f"/healthz did not answer after {role} was killed")
            assert proc.poll() is None, f"the launcher stopped when {role} was killed"
            if role == "a web process":  # the other one kept serving
                assert load.longest_gap(killed_at) < 3, load.longest_gap(killed_at)
        remember()
        time.sleep(1)  # Celery's pool processes of the restarted workers
        remember()
        assert len(load.ok) > 20
    finally:
        load.running = False
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            returncode = proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
    assert returncode == 0
    gone, alive = psutil.wait_procs(list(seen.values()), timeout=5)
    assert alive == [], [(p.pid, p.cmdline()) for p in alive]
    listening = [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == "LISTEN"]
    assert listening == []
    log_text = (tmp_path / "launcher.log").read_text()
    assert "Quorum is running at" in log_text and "was killed by SIGKILL; starting it again in 1 s" in log_text


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    return False


def test_the_embedded_postgresql_and_redis_are_started_again_where_they_were():
    # A short path: the embedded server's Unix socket lives in its data folder.
    tmp = Path(tempfile.mkdtemp(prefix="qlh-"))
    var_dir = tmp / "var"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        QUORUM_VAR_DIR=str(var_dir), QUORUM_REDIS_PREFIX="launcher-heal-test", PYTHONUNBUFFERED="1",
        QUORUM_AUTOMATION_PRELOAD="0", QUORUM_AUTOMATION_SOLVER="hashing",
    )  # fmt: skip
    log = open(tmp / "launcher.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quorum.launcher", "--port", str(port), "--no-demo"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    launcher = psutil.Process(proc.pid)
    try:
        wait_for(lambda: proc.poll() is None and _healthy(url), 150, f"no /healthz (see {log.name})")
        (redis,) = role_processes(launcher, "redis-server")
        redis_port = [c.laddr.port for c in redis.net_connections("tcp") if c.status == "LISTEN"]
        workers = {p.pid for p in launcher.children()} - {redis.pid}
        redis.kill()
        wait_for(lambda: not _healthy(url), 5, "/healthz still said ok without Redis")
        (redis,) = wait_for(lambda: role_processes(launcher, "redis-server"), 10, "Redis was not started again")
        wait_for(lambda: [c.laddr.port for c in redis.net_connections("tcp") if c.status == "LISTEN"], 5, "no port")
        assert [c.laddr.port for c in redis.net_connections("tcp") if c.status == "LISTEN"] == redis_port
        wait_for(lambda: _healthy(url), 15, "/healthz did not answer again after Redis came back")

        postmaster = psutil.Process(int((var_dir / "postgres" / "postmaster.pid").read_text().split()[0]))
        postmaster.kill()
        wait_for(lambda: not _healthy(url), 5, "/healthz still said ok without PostgreSQL")
        wait_for(lambda: _healthy(url), 30, "/healthz did not answer again after PostgreSQL came back")
        assert proc.poll() is None
        # The platform's own processes rode both outages out.
        assert workers <= {p.pid for p in launcher.children()}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            returncode = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
    try:
        assert returncode == 0
        postmaster = var_dir / "postgres" / "postmaster.pid"
        assert not postmaster.exists() or not psutil.pid_exists(int(postmaster.read_text().split()[0]))
        log_text = (tmp / "launcher.log").read_text()
        assert "the embedded redis server is running again" in log_text
        assert "the embedded postgres server is running again" in log_text
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
