"""A Redis server and a Sentinel watching it, on free loopback ports, for the tests of Sentinel URLs."""

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from tests.servers import free_port

MASTER = "quorum-test"


def sentinel_binaries_missing() -> str | None:
    """Why the Sentinel tests cannot run here, or None."""
    if not shutil.which("redis-server"):
        return "redis-server is not installed (Debian: apt-get install redis-server)"
    return None


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, redis.sentinel.MasterNotFoundError):
            if value := check():
                return value
        time.sleep(0.1)
    raise TimeoutError(f"{what} within {timeout} s")


@contextlib.contextmanager
def redis_with_sentinel(workdir: Path):
    """Yields (Sentinel URL with db 0, plain URL of the master)."""
    redis_port, sentinel_port = free_port(), free_port()
    config = workdir / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {redis_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 5000\n"
    )
    server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    sentinel = subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: redis.Redis(port=redis_port).ping(), 10, "redis-server did not answer")
        watcher = Sentinel([("127.0.0.1", sentinel_port)])
        wait_until(lambda: watcher.discover_master(MASTER), 10, "the sentinel did not know the master")
        yield f"redis+sentinel://127.0.0.1:{sentinel_port}/{MASTER}/0", f"redis://127.0.0.1:{redis_port}/0"
    finally:
        for proc in (sentinel, server):
            proc.terminate()
        for proc in (sentinel, server):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def master_replica_sentinel(workdir: Path):
    """A master, a replica of it and a sentinel watching them. Yields (Sentinel URL with db 0, the master's port,
    the replica's port, the sentinel's port)."""
    master_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    config = workdir / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 5000\n"
    )
    common = ["--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)]
    master = subprocess.Popen(["redis-server", "--port", str(master_port), *common], stdout=subprocess.DEVNULL)
    replica = subprocess.Popen(
        ["redis-server", "--port", str(replica_port), *common, "--replicaof", "127.0.0.1", str(master_port)],
        stdout=subprocess.DEVNULL,
    )
    sentinel = subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: redis.Redis(port=replica_port).info("replication")["master_link_status"] == "up",
            20,
            "the replica did not sync",
        )
        watcher = Sentinel([("127.0.0.1", sentinel_port)])
        wait_until(lambda: watcher.discover_slaves(MASTER), 20, "the sentinel did not find the replica")
        yield f"redis+sentinel://127.0.0.1:{sentinel_port}/{MASTER}/0", master_port, replica_port, sentinel_port
    finally:
        for proc in (sentinel, replica, master):
            proc.terminate()
        for proc in (sentinel, replica, master):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
