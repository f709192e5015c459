"""``make run``'s launcher with nothing configured: embedded PostgreSQL and Redis, every process stopped on
Ctrl-C, and the data still there on the next start."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.servers import ROOT, free_port

pytestmark = pytest.mark.e2e

JOB = {"name": "Kept", "question": "Which?", "question_type": "single_choice", "options": ["a", "b"]}


@contextlib.contextmanager
def launched(var_dir: Path, port: int):
    """Yields (launcher process, base URL) once /healthz answers 200; stops it with SIGINT, as Ctrl-C would."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(QUORUM_VAR_DIR=str(var_dir), QUORUM_REDIS_PREFIX="launcher-test", PYTHONUNBUFFERED="1")
    log = open(var_dir.parent / "launcher.log", "a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quorum.launcher", "--port", str(port), "--no-demo"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            assert proc.poll() is None, f"the launcher exited with {proc.returncode}; see {log.name}"
            assert time.monotonic() < deadline, f"no /healthz within 150 s; see {log.name}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        log.close()


def started_processes(proc: subprocess.Popen, var_dir: Path) -> list[psutil.Process]:
    """The launcher's children, and the embedded PostgreSQL server (pg_ctl detaches it from the launcher)."""
    processes = psutil.Process(proc.pid).children(recursive=True)
    postmaster = var_dir / "postgres" / "postmaster.pid"
    processes.append(psutil.Process(int(postmaster.read_text().split()[0])))
    return processes


def test_launcher_runs_everything_stops_everything_and_keeps_the_data():
    # A short path: the embedded server's Unix socket lives in its data folder.
    tmp = Path(tempfile.mkdtemp(prefix="ql-"))
    var_dir = tmp / "var"
    var_dir.mkdir()
    try:
        with launched(var_dir, free_port()) as (proc, url):
            health = httpx.get(f"{url}/healthz").json()
            assert health == {"status": "ok", "database": {"ok": True}, "redis": {"ok": True}}
            # Which servers it uses is for staff (/healthz) and for whoever started it (the banner).
            banner = (var_dir.parent / "launcher.log").read_text()
            assert f"database: {var_dir / 'postgres'}/quorum" in banner, banner
            assert "redis: redis://127.0.0.1:" in banner, banner
            assert "staff account: run `make superuser` in another shell" in banner, banner
            # What `make superuser` runs, from a shell that knows nothing of the embedded servers.
            second_shell = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            second_shell.update(QUORUM_VAR_DIR=str(var_dir), DJANGO_SUPERUSER_PASSWORD="a-long-boss-password")
            made = subprocess.run(
                [sys.executable, "-m", "quorum.embedded", "--join", sys.executable, "manage.py", "createsuperuser",
                 "--noinput", "--username", "boss", "--email", "boss@example.com"],
                cwd=ROOT, env=second_shell, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
            boss = httpx.post(f"{url}/api/auth/token/", json={"username": "boss", "password": "a-long-boss-password"})
            assert boss.status_code == 200, boss.text
            me = httpx.get(f"{url}/api/me/", headers={"Authorization": f"Token {boss.json()['token']}"})
            assert me.json()["is_staff"] is True
            signup = httpx.post(
                f"{url}/api/auth/signup/",
                json={
                    "username": "keeper",
                    "password": "a-long-test-password",
                    "email": "k@example.com",
                    "role": "requester",
                },
            )
            assert signup.status_code == 201, signup.text
            auth = {"Authorization": f"Token {signup.json()['token']}"}
            job = httpx.post(f"{url}/api/jobs/", json=JOB, headers=auth)
            assert job.status_code == 201, job.text
            processes = started_processes(proc, var_dir)
            names = " ".join(" ".join(p.cmdline()) for p in processes)
            for part in ("uvicorn", "celery -A quorum worker", "celery -A quorum beat", "redis-server", "postgres"):
                assert part in names, names
        assert proc.returncode == 0
        assert not (var_dir / "services.json").exists()  # nothing running: `make superuser` starts its own
        gone, alive = psutil.wait_procs(processes, timeout=10)
        assert alive == [], [p.pid for p in alive]

        with launched(var_dir, free_port()) as (proc, url):
            kept = httpx.get(f"{url}/api/jobs/{job.json()['id']}/", headers=auth)
            assert kept.status_code == 200, kept.text
            assert kept.json()["name"] == "Kept"
            processes = started_processes(proc, var_dir)
        gone, alive = psutil.wait_procs(processes, timeout=10)
        assert alive == [], [p.pid for p in alive]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
