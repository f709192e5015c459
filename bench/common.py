"""Shared by the benchmarks: start the platform (or use a running one), Django set-up, process memory."""

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def django_setup() -> None:
    """Embedded services when DATABASE_URL / REDIS_URL are unset (as `make run` does), then Django."""
    from quorum import embedded

    var_dir = Path(os.environ.setdefault("QUORUM_VAR_DIR", tempfile.mkdtemp(prefix="quorum-bench-")))
    embedded.ensure_services(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """`python -m quorum.launcher` as a child process, stopped with SIGINT like Ctrl-C."""

    def __init__(self, web_processes: int = 1, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
        self.log = open(Path(os.environ["QUORUM_VAR_DIR"]) / "platform.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quorum.launcher", "--port", str(self.port), "--no-demo",
             "--web-processes", str(web_processes)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the platform exited; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError("the platform did not answer /healthz")

    def processes(self, needle: str) -> list:
        import psutil

        return [p for p in psutil.Process(self.proc.pid).children(recursive=True) if needle in " ".join(p.cmdline())]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def rss_mb(processes) -> float:
    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except Exception:
            pass
    return total / 2**20
