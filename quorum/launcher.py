"""``make run``: start the whole platform in the foreground, keep every part of it running, stop all of it on Ctrl-C.

Embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, then migrations, the demo data, the web
processes (HTTP + WebSockets), a Celery worker for the default queue, one for the automation queue (model work,
concurrency 1) and Celery beat.

The launcher binds the web port itself and gives the listening socket to each web process
(``quorum.uvicorn_socket``), so each one is a child of its own that it can restart while the others serve.
A process that dies is started again after a back-off (1 s, doubling to 30 s; back to 1 s once it stayed up a
minute); so are the embedded services. Each child has its own process group, which the launcher kills whole
once the child is gone (Celery's pool processes with it), and dies with the launcher (PR_SET_PDEATHSIG): nothing
is left behind, even after a kill -9 of any of them.

Every child writes its metrics to one directory (``PROMETHEUS_MULTIPROC_DIR``, ``var/metrics`` unless set;
emptied at start), and a child that dies takes its live gauges (open sockets) with it (quorum/metrics.py).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent


# Background work (Celery, the demo crowd) yields the CPU to the web processes, so bookkeeping never delays a
# worker's next task.
BACKGROUND_NICENESS = 10
# Restart back-off: the first restart waits FIRST_DELAY, each quick death doubles it up to MAX_DELAY, and a
# process that stayed up STABLE_SECONDS starts over from FIRST_DELAY.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_SECONDS = 60.0
# How long processes get to stop on SIGTERM before their groups are killed.
STOP_SECONDS = 15.0
LISTEN_BACKLOG = 2048
# What the banner tells to run for a staff account: it finds this platform's database (quorum.embedded --join).
SUPERUSER_COMMAND = "make superuser"


def restart_delay(previous: float, uptime: float) -> float:
    """Seconds to wait before starting again a process that died after ``uptime`` seconds."""
    if uptime >= STABLE_SECONDS or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process left in a child's group (a group outlives its leader while members remain, so its id
    cannot have been reused)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Child:
    """A process the launcher keeps running."""

    name: str
    command: list[str]
    background: bool = True
    pass_fds: tuple[int, ...] = ()
    restart_on_success: bool = True  # the demo crowd may finish; the platform's processes never do
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    delay: float = 0.0
    start_at: float | None = None  # when a dead one is due to start again
    pids: list[int] = field(default_factory=list)  # every pid it ran as, for tests and logs

    def start(self, env: dict) -> None:
        from quorum.embedded import die_with_parent

        background = self.background

        def prepare() -> None:
            die_with_parent()
            if background:
                os.nice(BACKGROUND_NICENESS)

        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=env, preexec_fn=prepare, start_new_session=True, pass_fds=self.pass_fds
        )
        self.started_at, self.start_at = time.monotonic(), None
        self.pids.append(self.proc.pid)
        print(f"  starting {self.name} (pid {self.proc.pid}): {' '.join(self.command)}", flush=True)

    def check(self, env: dict, now: float) -> None:
        """Notice a death (and clear up its group), and start again one whose back-off is over."""
        if self.proc is not None and self.proc.poll() is not None:
            returncode, pid = self.proc.returncode, self.proc.pid
            kill_group(pid)  # what it started (Celery's pool processes) goes with it
            metrics_process_dead(pid)
            self.proc = None
            if returncode == 0 and not self.restart_on_success:
                print(f"{self.name} finished", flush=True)
                return
            self.delay = restart_delay(self.delay, now - self.started_at)
            self.start_at = now + self.delay
            print(
                f"{self.name} (pid {pid}) {describe_exit(returncode)}; starting it again in {self.delay:g} s",
                flush=True,
            )
        if self.proc is None and self.start_at is not None and now >= self.start_at:
            self.start(env)

    def terminate(self) -> None:
        self.start_at = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def wait_and_kill(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        kill_group(self.proc.pid)


class Service:
    """An embedded PostgreSQL or Redis server: watched, and started again where it was if it dies."""

    def __init__(self, handle, var_dir: Path):
        from quorum import embedded

        self.embedded, self.handle, self.var_dir = embedded, handle, var_dir
        self.name = embedded.service_name(handle)
        self.delay, self.down_since, self.start_at = 0.0, 0.0, None
        self.started_at = time.monotonic()

    def check(self, now: float) -> None:
        if self.start_at is None:
            if self.embedded.service_alive(self.handle):
                return
            self.delay = restart_delay(self.delay, now - self.started_at)
            self.start_at = now + self.delay
            print(
                f"!!! the embedded {self.name} server died; the platform waits for it (starting it again in"
                f" {self.delay:g} s)",
                flush=True,
            )
        if now < self.start_at:
            return
        try:
            self.handle = self.embedded.service_restart(self.handle, self.var_dir)
        except Exception as exc:  # a port still held, a server still shutting down: try again later
            self.delay = restart_delay(self.delay, 0)
            self.start_at = time.monotonic() + self.delay
            print(f"!!! could not start {self.name} again ({exc}); next try in {self.delay:g} s", flush=True)
            return
        self.start_at, self.started_at = None, time.monotonic()
        print(f"the embedded {self.name} server is running again", flush=True)


def listen(host: str, port: int) -> socket.socket:
    """The web port, bound once for every web process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def metrics_dir_prepare(var_dir: Path) -> Path:
    """The directory where every child writes its metrics, emptied: figures start again with the platform (a
    counter that starts over is what Prometheus expects of a restart)."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or var_dir / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def metrics_process_dead(pid: int) -> None:
    """A dead child's open sockets no longer count (its counters stay: they are history)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    from prometheus_client import multiprocess

    from quorum.metrics import process_identifier

    multiprocess.mark_process_dead(process_identifier(pid), path)


def process_commands(port: int, host: str, demo_crowd: int, web_processes: int, web_fd: int) -> list[Child]:
    py = sys.executable
    prefix = os.environ.get("QUORUM_REDIS_PREFIX", "quorum")
    children = [
        Child(f"web-{n + 1}", [py, "-m", "quorum.uvicorn_socket", "--fd", str(web_fd)], background=False,
              pass_fds=(web_fd,))
        for n in range(max(1, web_processes))
    ]  # fmt: skip
    children += [
        Child("celery-worker", [
            py, "-m", "celery", "-A", "quorum", "worker", "-Q", f"{prefix}.default", "-c", "2",
            "-n", "default@%h", "--loglevel", "INFO",
        ]),
        Child("celery-automation", [
            py, "-m", "celery", "-A", "quorum", "worker", "-Q", f"{prefix}.automation", "-c", "1",
            "-n", "automation@%h", "--loglevel", "INFO",
        ]),
        # RedBeat (CELERY_BEAT_SCHEDULER): the schedule and its lock live in Redis, as with the containers' beat.
        Child("celery-beat", [
            py, "-m", "celery", "-A", "quorum", "beat", "--loglevel", "INFO", "-S", "quorum.beat.Scheduler",
        ]),
    ]  # fmt: skip
    if demo_crowd:
        children.append(
            Child(
                "demo-crowd",
                [py, "manage.py", "demo_crowd", "--workers", str(demo_crowd), "--url", f"http://{host}:{port}"],
                restart_on_success=False,
            )
        )
    return children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start the Quorum platform.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--web-processes", type=int, default=int(os.environ.get("WEB_PROCESSES", 1)))
    parser.add_argument("--demo-crowd", type=int, default=int(os.environ.get("DEMO_CROWD", 0)),
                        help="simulated workers that answer the demo job over WebSockets")  # fmt: skip
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo requester and job")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from quorum import embedded

    var_dir = Path(os.environ.get("QUORUM_VAR_DIR", ROOT / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ["QUORUM_VAR_DIR"] = str(var_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir_prepare(var_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    print("Quorum: starting services", flush=True)
    handles = embedded.ensure_services(var_dir)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    services = [Service(handle, var_dir) for handle in handles]
    env = dict(os.environ)
    embedded.running_services_write(var_dir, env)  # for `make superuser` and `make manage` in other shells
    children: list[Child] = []
    web_socket = None
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True)
        if not args.no_demo:
            subprocess.run([*manage, "demo_setup"], cwd=ROOT, env=env, check=True)
        web_socket = listen(args.host, args.port)
        children = process_commands(args.port, args.host, args.demo_crowd, args.web_processes, web_socket.fileno())
        for child in children:
            child.start(env)
        print(f"\nQuorum is running at http://{args.host}:{args.port}/  (Ctrl-C stops everything)", flush=True)
        database = unquote(env["DATABASE_URL"].split("@")[-1])  # the embedded server's socket folder is %-encoded
        print(f"  database: {database}   redis: {env['REDIS_URL']}", flush=True)
        print(f"  staff account: run `{SUPERUSER_COMMAND}` in another shell", flush=True)
        if not args.no_demo:
            print("  demo requester: username 'demo', password 'demo-password'", flush=True)
        while not stopping:
            now = time.monotonic()
            for service in services:
                service.check(now)
            for child in children:
                child.check(env, now)
            time.sleep(0.2)
    except subprocess.CalledProcessError as exc:
        print(f"set-up step failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Quorum: stopping", flush=True)
        for child in children:
            child.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for child in children:
            child.wait_and_kill(deadline)
        if web_socket is not None:
            web_socket.close()
        embedded.running_services_remove(var_dir)
        embedded.stop_services([service.handle for service in services])
    return 0


if __name__ == "__main__":
    sys.exit(main())
