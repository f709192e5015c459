"""``make run``: start the whole platform in the foreground, and stop all of it on Ctrl-C.

Embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, then migrations, the demo data, an ASGI
server (HTTP + WebSockets), a Celery worker for the default queue, one for the automation queue (model work,
concurrency 1) and Celery beat. Children die with the launcher (PR_SET_PDEATHSIG), so nothing is orphaned.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent


# Background work (Celery, the demo crowd) yields the CPU to the web processes, so bookkeeping never delays a
# worker's next task.
BACKGROUND_NICENESS = 10


def spawn(name: str, args: list[str], env: dict) -> subprocess.Popen:
    from quorum.embedded import die_with_parent

    background = name != "web"

    def prepare() -> None:
        die_with_parent()
        if background:
            os.nice(BACKGROUND_NICENESS)

    print(f"  starting {name}: {' '.join(args)}", flush=True)
    return subprocess.Popen(args, cwd=ROOT, env=env, preexec_fn=prepare, start_new_session=True)


def process_commands(port: int, host: str, demo_crowd: int, web_processes: int) -> dict[str, list[str]]:
    py = sys.executable
    prefix = os.environ.get("QUORUM_REDIS_PREFIX", "quorum")
    commands = {
        "web": [
            py, "-m", "uvicorn", "quorum.asgi:application", "--host", host, "--port", str(port),
            "--workers", str(web_processes), "--no-access-log", "--lifespan", "off", "--ws-per-message-deflate", "false",
            # The client's address (rate limits) and scheme come from X-Forwarded-* only when a proxy at one of
            # these addresses sends them.
            "--proxy-headers", "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        ],
        "celery-worker": [
            py, "-m", "celery", "-A", "quorum", "worker", "-Q", f"{prefix}.default", "-c", "2",
            "-n", "default@%h", "--loglevel", "INFO",
        ],
        "celery-automation": [
            py, "-m", "celery", "-A", "quorum", "worker", "-Q", f"{prefix}.automation", "-c", "1",
            "-n", "automation@%h", "--loglevel", "INFO",
        ],
        "celery-beat": [
            py, "-m", "celery", "-A", "quorum", "beat", "--loglevel", "INFO",
            "-s", str(Path(os.environ.get("QUORUM_VAR_DIR", ROOT / "var")) / "celerybeat-schedule"),
        ],
    }  # fmt: skip
    if demo_crowd:
        commands["demo-crowd"] = [
            py,
            "manage.py",
            "demo_crowd",
            "--workers",
            str(demo_crowd),
            "--url",
            f"http://{host}:{port}",
        ]
    return commands


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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    print("Quorum: starting services", flush=True)
    handles = embedded.ensure_services(var_dir)
    env = dict(os.environ)
    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True)
        if not args.no_demo:
            subprocess.run([*manage, "demo_setup"], cwd=ROOT, env=env, check=True)
        for name, command in process_commands(args.port, args.host, args.demo_crowd, args.web_processes).items():
            children.append((name, spawn(name, command, env)))
        print(f"\nQuorum is running at http://{args.host}:{args.port}/  (Ctrl-C stops everything)", flush=True)
        database = unquote(env["DATABASE_URL"].split("@")[-1])  # the embedded server's socket folder is %-encoded
        print(f"  database: {database}   redis: {env['REDIS_URL']}", flush=True)
        if not args.no_demo:
            print("  demo requester: username 'demo', password 'demo-password'", flush=True)
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None and name != "demo-crowd":
                    print(f"{name} exited with code {proc.returncode}; stopping", flush=True)
                    stopping = True
            time.sleep(0.5)
    except subprocess.CalledProcessError as exc:
        print(f"set-up step failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Quorum: stopping", flush=True)
        for _, proc in children:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for _, proc in children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        embedded.stop_services(handles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
