"""A Redis Cluster of three masters on loopback ports, for the tests: Debian's redis-server in cluster mode.

Started once per test session, at the first test that asks for it (``start``), and stopped at the session's end.
The scale rehearsal (bench/scale.py) starts one with a replica per master (``launch``) and kills a master.
"""

import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MASTERS = 3
BUS_OFFSET = 10000  # each node also listens on its port + 10000 (the cluster bus), so ports stay under 55536


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_node_port(taken: list[int]) -> int:
    """A port that is free, with its cluster bus port free as well."""
    while True:
        port = random.randint(20000, 45000)
        if port not in taken and _free(port) and _free(port + BUS_OFFSET):
            return port


@dataclass
class LocalCluster:
    ports: list[int]  # every node's, masters and replicas
    folder: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    _client: object = None

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now (CLUSTER NODES as the first live node sees it)."""
        for port, process in zip(self.ports, self.processes, strict=True):
            if process.poll() is None and (nodes := _cli(port, "cluster", "nodes")):
                return sorted(
                    int(line.split()[1].split("@")[0].rpartition(":")[2])
                    for line in nodes.splitlines()
                    if "master" in line.split()[2] and "fail" not in line.split()[2]
                )
        return []

    def process_of(self, port: int) -> subprocess.Popen:
        return self.processes[self.ports.index(port)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports) + "/"

    def client(self):
        """A redis-py RedisCluster on it (decoded replies, as ``get_redis`` gives)."""
        if self._client is None:
            from redis.cluster import ClusterNode, RedisCluster

            self._client = RedisCluster(
                startup_nodes=[ClusterNode("127.0.0.1", port) for port in self.ports], decode_responses=True
            )
        return self._client

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


_current: LocalCluster | None = None


def missing() -> str:
    """Why no cluster can be started here ("" when one can)."""
    for program in ("redis-server", "redis-cli"):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian: apt-get install redis-server)"
    return ""


def current() -> LocalCluster | None:
    return _current


def start() -> LocalCluster:
    """The session's cluster, started now if it is not running yet."""
    global _current
    if _current is None:
        _current = launch(Path(tempfile.mkdtemp(prefix="quorum-redis-cluster-")))
    return _current


def launch(folder: Path, replicas: int = 0, node_timeout_ms: int = 5000, log=subprocess.DEVNULL) -> LocalCluster:
    """A cluster of MASTERS masters with ``replicas`` replicas each, its files in ``folder``. A replica takes over
    from a master that stays unreachable for ``node_timeout_ms``."""
    ports: list[int] = []
    for _ in range(MASTERS * (1 + replicas)):
        ports.append(free_node_port(ports))
    cluster = LocalCluster(ports, folder)
    try:
        for port in cluster.ports:
            cluster.processes.append(
                subprocess.Popen(
                    ["redis-server", "--cluster-port", str(port + BUS_OFFSET), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-config-file", str(folder / f"nodes-{port}.conf"), "--dir", str(folder),
                     "--save", "", "--appendonly", "no", "--cluster-node-timeout", str(node_timeout_ms)],
                    stdout=log, stderr=log,
                )
            )  # fmt: skip
        for port, process in zip(cluster.ports, cluster.processes, strict=True):
            _wait(
                lambda port=port, process=process: process.poll() is not None or _cli(port, "ping") == "PONG",
                f"redis-server on port {port} did not start",
            )
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited at once (code {process.returncode})")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in cluster.ports),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-2000:]}{created.stderr[-2000:]}")
        for port in cluster.ports:
            _wait(
                lambda port=port: "cluster_state:ok" in _cli(port, "cluster", "info"),
                f"the cluster node on port {port} never reached cluster_state:ok",
            )
        for port in cluster.ports:
            # A replica that has not synced yet could not take over from its master.
            _wait(
                lambda port=port: (
                    "role:master" in (info := _cli(port, "info", "replication")) or "master_link_status:up" in info
                ),
                f"the replica on port {port} never synced with its master",
            )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


def _wait(ready, message: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(message)
