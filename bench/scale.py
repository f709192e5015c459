#!/usr/bin/env python
"""A rehearsal on one machine of a multi-host deployment, with one process of each kind killed during the run.

    python bench/scale.py --workers 1000 --offered 300 --seconds 60

It starts Redis behind Sentinel (a master, --replicas replicas, one sentinel; every role's URL is the Sentinel URL; with
--redis cluster the scheduler's state goes to a Redis Cluster of 3 masters with a replica each instead), uses
the machine's PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/quorum_bench_scale, created if
missing), then 2 ASGI processes on ports of their own behind a round-robin TCP balancer (bench/balancer.py), 2
Celery workers for the default queue and one Celery beat (RedBeat). The human-like crowd of bench/crowd.py
answers through the balancer; each simulated worker reconnects when its socket drops and resends every answer
not yet acknowledged (same key), as the protocol asks of a client. During the measured window it kills with
SIGKILL one ASGI process (at 20% of the window), one Celery worker (40%), and fails Redis over to the replica
(60%, SENTINEL FAILOVER; --failover kill kills the master instead, none skips it; with --redis cluster, SIGKILL of
the cluster master that holds the pick state, and its replica takes over). Nothing is restarted.

At the end it checks crowd.py's invariants in PostgreSQL and that every acknowledged answer has its Answer rows,
computes p99 of submit->next-task latency over 1 s windows, and for each kill the seconds until p99 stays under
max(2 x the p99 before the first kill, 50 ms) until the next kill or the end (a window without answers counts as
over). Per process kind it reports PostgreSQL connections held, RSS and CPU seconds per 1,000 answers. Ends with:
    scale cycles_per_s=<n> p99_ms=<n> violations=<n> recovered_s=<n>
"""

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import crowd  # noqa: E402
from bench.common import ROOT, django_setup, free_port, raise_open_files_limit  # noqa: E402
from tests import redis_cluster  # noqa: E402

MASTER = "quorum-scale"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/quorum_bench_scale"
RECOVERED_FLOOR_MS = 50
RECOVERY_TARGET_S = 10
# A cluster replica starts its election this long after its master stops answering (Redis ships 15 s).
CLUSTER_NODE_TIMEOUT_MS = 1000


# --- the services ------------------------------------------------------------------------------------------------


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := check():
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} within {timeout} s")


class SentinelRedis:
    """A Redis master, its replicas and one sentinel (quorum 1) on free loopback ports."""

    def __init__(self, workdir: Path, log, replicas: int = 1, min_replicas_max_lag: int = 0):
        import redis
        from redis.sentinel import Sentinel

        self.master_port, self.sentinel_port = free_port(), free_port()
        self.replica_ports = [free_port() for _ in range(replicas)]
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if min_replicas_max_lag:
            # A master cut off from its replicas (promoted in its place) refuses writes after this many seconds.
            common += ["--min-replicas-to-write", "1", "--min-replicas-max-lag", str(min_replicas_max_lag)]
        self.master = subprocess.Popen(
            ["redis-server", "--port", str(self.master_port), "--dir", str(workdir), *common], stdout=log, stderr=log
        )
        self.replicas = [
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--dir",
                    str(workdir),
                    *common,
                    "--replicaof",
                    "127.0.0.1",
                    str(self.master_port),
                ],
                stdout=log,
                stderr=log,
            )  # fmt: skip
            for port in self.replica_ports
        ]
        config = workdir / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 2000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        self.sentinel = subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=log, stderr=log)
        wait_until(lambda: redis.Redis(port=self.master_port).ping(), 10, "the Redis master did not answer")
        for port in self.replica_ports:
            wait_until(
                lambda port=port: redis.Redis(port=port).info("replication")["master_link_status"] == "up",
                20,
                "a replica did not sync",
            )
        self.watcher = Sentinel([("127.0.0.1", self.sentinel_port)])
        wait_until(lambda: self.watcher.discover_master(MASTER), 10, "the sentinel did not know the master")
        wait_until(
            lambda: len(self.watcher.discover_slaves(MASTER)) == replicas, 20, "the sentinel did not find the replicas"
        )
        self.url = f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{MASTER}/0"

    def processes(self) -> list[int]:
        return [self.master.pid, *(p.pid for p in self.replicas), self.sentinel.pid]

    def fail_over(self, how: str) -> str:
        """Move the master to the replica; returns what was done."""
        import redis

        before = self.watcher.discover_master(MASTER)
        if how == "kill":
            self.master.kill()
        else:
            redis.Redis(port=self.sentinel_port).execute_command("SENTINEL", "FAILOVER", MASTER)
        return f"Redis master {before[0]}:{before[1]} -> failover ({how})"

    def stop(self) -> None:
        everything = (self.sentinel, *self.replicas, self.master)
        for proc in everything:
            if proc.poll() is None:
                proc.terminate()
        for proc in everything:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


class ClusterRedis:
    """A Redis Cluster of 3 masters, each with a replica (tests/redis_cluster.py), for the scheduler's state."""

    def __init__(self, workdir: Path, log):
        folder = workdir / "cluster"
        folder.mkdir()
        self.cluster = redis_cluster.launch(folder, replicas=1, node_timeout_ms=CLUSTER_NODE_TIMEOUT_MS, log=log)
        self.url = self.cluster.url

    def processes(self) -> list[int]:
        return [p.pid for p in self.cluster.processes]

    def kill_master(self) -> str:
        """SIGKILL the master that holds the pick state's slot (every pick runs a script there)."""
        from tasks.scheduling import keys

        port = self.cluster.client().get_node_from_key(keys.jobs()).port
        self.cluster.process_of(port).kill()
        return f"kill -9 Redis Cluster master 127.0.0.1:{port} (the pick state's slot)"

    def masters(self) -> str:
        return ", ".join(f"127.0.0.1:{port}" for port in self.cluster.masters())

    def stop(self) -> None:
        self.cluster.stop()


def database_ensure(url: str) -> None:
    """The bench's own database on the machine's PostgreSQL, created when missing."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


class Processes:
    """The platform's processes, each started as a deployment would start it on a host of its own."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.children: dict[str, subprocess.Popen] = {}  # name -> process

    def start(self, name: str, command: list[str], pass_fds=()) -> None:
        log = open(self.log_dir / f"{name}.log", "w")
        self.children[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            pass_fds=pass_fds, start_new_session=True,
        )  # fmt: skip

    def start_asgi(self, name: str) -> int:
        """An ASGI process as `make run`'s launcher starts one (quorum.uvicorn_socket), on a port of its own."""
        from quorum.launcher import listen

        sock = listen("127.0.0.1", 0)
        port = sock.getsockname()[1]
        self.start(name, [sys.executable, "-m", "quorum.uvicorn_socket", "--fd", str(sock.fileno())], (sock.fileno(),))
        # Only the child holds it now: once it dies, its port refuses connections, as a dead host's does.
        sock.close()
        return port

    def start_celery(self, name: str, prefix: str) -> None:
        self.start(name, [sys.executable, "-m", "celery", "-A", "quorum", "worker", "-Q", f"{prefix}.default",
                          "-c", "2", "-n", f"{name}@%h", "--loglevel", "INFO"])  # fmt: skip

    def start_beat(self, name: str) -> None:
        self.start(name, [sys.executable, "-m", "celery", "-A", "quorum", "beat", "--loglevel", "INFO",
                          "-S", "quorum.beat.Scheduler"])  # fmt: skip

    def kill(self, name: str) -> None:
        try:
            os.killpg(self.children[name].pid, signal.SIGKILL)  # Celery's pool processes with it
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_healthy(port: int, timeout: float = 120) -> None:
    import httpx

    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200,
        timeout,
        f"nothing answered /healthz on port {port}",
    )


# --- what each process uses ----------------------------------------------------------------------------------------


class Usage:
    """CPU seconds, peak RSS and PostgreSQL connections per kind of process, sampled each second. A process that
    dies keeps the CPU it had used at its last sample. No lock: a kill must not wait for a slow sample."""

    def __init__(self, kinds: dict[str, list[int]]):
        import psutil

        self.psutil = psutil
        self.kinds = kinds  # kind -> pids of the group leaders
        self.cpu_start: dict[int, float] = {}
        self.cpu_last: dict[int, float] = {}
        self.kind_of: dict[int, str] = {}
        self.rss_peak: dict[str, float] = {}
        self.pg_peak: dict[str, int] = {}
        self.counting = False

    def tree(self, pid: int) -> list:
        try:
            leader = self.psutil.Process(pid)
            return [leader, *leader.children(recursive=True)]
        except self.psutil.Error:
            return []

    def sample(self, kinds=None, connections: bool = False) -> None:
        """CPU and RSS of ``kinds`` (all when None); PostgreSQL connections too when ``connections`` (slower)."""
        for kind, pids in self.kinds.items():
            if kinds is not None and kind not in kinds:
                continue
            for leader in pids:
                rss = pg = 0
                for proc in self.tree(leader):
                    try:
                        times = proc.cpu_times()
                        rss += proc.memory_info().rss
                        if connections:
                            pg += sum(1 for c in proc.net_connections("tcp") if c.raddr and c.raddr.port == 5432)
                    except self.psutil.Error:
                        continue
                    used = times.user + times.system
                    self.kind_of[proc.pid] = kind
                    if self.counting:
                        self.cpu_start.setdefault(proc.pid, used)
                        self.cpu_last[proc.pid] = used
                if rss:
                    self.rss_peak[kind] = max(self.rss_peak.get(kind, 0), rss / 2**20)
                    self.pg_peak[kind] = max(self.pg_peak.get(kind, 0), pg)

    def begin(self) -> None:
        self.counting = True
        self.sample(connections=True)

    def end(self) -> None:
        self.sample(connections=True)
        self.counting = False

    def cpu_seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, last in self.cpu_last.items():
            kind = self.kind_of[pid]
            totals[kind] = totals.get(kind, 0.0) + last - self.cpu_start[pid]
        return totals


def postgres_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


# --- the simulated workers, reconnecting ----------------------------------------------------------------------------


class SocketDropped(Exception):
    """The socket closed while the simulated person was thinking."""


async def closed_within(ws, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as the socket closes (the page hears a close event at once)."""
    try:
        await asyncio.wait_for(ws.wait_closed(), max(0.0, seconds))
    except TimeoutError:
        return False
    return True


async def reconnecting_worker_loop(ws_url, token, start_at, stop_at, think_mean, stats, media=False):
    """crowd.worker_loop's human-like worker that, when its socket drops, connects again (through the balancer, to
    whichever process is alive) and resends every answer not yet acknowledged under the same key. As the worker page
    does (frontend/js/socket.js, work.js), a drop is noticed when it happens, also while the person is still
    thinking: the page reconnects in the background, keeps the task on screen (its lease comes again on the new
    socket) and the answer goes out on the new socket. An answer counts as acknowledged when the ack says
    ``accepted`` or ``duplicate`` (stored under that key before)."""
    import websockets

    for counter in ("resent", "reconnects"):
        stats.setdefault(counter, 0)
    stats.setdefault("rejected_at", [])
    unacked: dict[str, dict] = {}  # key -> the answer.submit message
    submitted: dict[str, float] = {}  # key -> when it was first sent
    acked = []
    thinking = None  # (the task.assigned being answered, when the person sends the answer)
    first_task = first_connect = True
    attempts = 0
    while time.time() < stop_at:
        try:
            async with websockets.connect(
                f"{ws_url}/ws/work/?token={token}", max_size=2**22, open_timeout=30, ping_interval=None
            ) as ws:
                stats["connected"] += 1
                attempts = 0
                if not first_connect:
                    stats["reconnects"] += 1
                first_connect = False
                for message in unacked.values():
                    await ws.send(json.dumps(message))
                    stats["resent"] += 1
                while True:
                    if thinking is not None:
                        # On a new socket the lease being answered comes again while the person thinks: it is read
                        # after the answer has gone out, and skipped below as a lease whose answer is on its way.
                        msg, send_at = thinking
                        if await closed_within(ws, min(send_at, stop_at) - time.time()):
                            raise SocketDropped
                        if not first_task and time.time() >= stop_at:
                            break
                        first_task = False
                        thinking = None
                        key = uuid.uuid4().hex
                        unacked[key] = {
                            "type": "answer.submit",
                            "key": key,
                            "assignment_id": msg["assignment"]["id"],
                            "answers": [
                                {"item": item["id"], "value": random.choice(msg["job"]["options"])}
                                for item in msg["items"]
                            ],
                        }
                        submitted[key] = time.time()
                        await ws.send(json.dumps(unacked[key]))
                    now = time.time()
                    if now >= stop_at:
                        break
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, stop_at - now))
                    except TimeoutError:
                        break
                    msg = json.loads(raw)
                    kind = msg["type"]
                    if kind == "task.assigned":
                        assignment = msg["assignment"]["id"]
                        if any(m["assignment_id"] == assignment for m in unacked.values()):
                            continue  # the same lease sent again on reconnect: its answer is on its way
                        now = time.time()
                        for key in [k for k in submitted if k not in unacked]:  # acknowledged: now the next task
                            sent = submitted.pop(key)
                            stats["latency"].append((sent, now - sent))
                        if now < start_at:
                            first = random.expovariate(1 / think_mean) if think_mean else random.random() * 0.05
                            thinking = (msg, start_at + first)
                        else:
                            thinking = (msg, now + (random.expovariate(1 / think_mean) if think_mean else 0.0))
                    elif kind == "answer.ack":
                        message = unacked.pop(msg.get("key"), None)
                        if message is None:
                            continue
                        if msg["status"] in ("accepted", "duplicate"):
                            acked.append((time.time(), msg["assignment_id"]))
                        else:
                            submitted.pop(msg["key"], None)
                            stats["not_accepted"] += 1
                            stats["rejected_at"].append(time.time())
                            reason = msg.get("reason", "?")
                            stats["error_kinds"][reason] = stats["error_kinds"].get(reason, 0) + 1
                    elif kind == "task.none":
                        stats["none"] += 1
                if time.time() >= stop_at:
                    break
        except Exception as exc:  # noqa: BLE001 - a dropped or refused connection: counted, then again
            stats["errors"] += 1
            name = type(exc).__name__
            stats["error_kinds"][name] = stats["error_kinds"].get(name, 0) + 1
        # The worker page's back-off (frontend/js/socket.js): half to all of 0.5 s x 2^attempts, at most 15 s.
        base = min(15.0, 0.5 * 2**attempts)
        attempts += 1
        await asyncio.sleep(min(base / 2 + random.random() * base / 2, max(0.0, stop_at - time.time())))
    stats["all_acked"].extend(a for _, a in acked)
    stats["acked"].extend(a for t, a in acked if start_at <= t < stop_at)


# --- recovery ------------------------------------------------------------------------------------------------------


def p99_windows(latency: list[tuple[float, float]], start: float, stop: float) -> list[float]:
    """p99 (seconds) of the answers submitted in each whole second of [start, stop); inf where none came back."""
    buckets: list[list[float]] = [[] for _ in range(int(stop - start))]
    for t, dt in latency:
        i = int(t - start)
        if 0 <= i < len(buckets):
            buckets[i].append(dt)
    return [crowd.percentile(b, 0.99) if b else float("inf") for b in buckets]


def recovery_seconds(windows: list[float], kills: list[float], threshold: float) -> list[float]:
    """For each kill (seconds into the window), the seconds until p99 stays under ``threshold`` up to the next kill
    or the end."""
    out = []
    for n, at in enumerate(kills):
        until = kills[n + 1] if n + 1 < len(kills) else len(windows)
        first, last = int(at), int(until)
        over = [i for i in range(first, min(last, len(windows))) if windows[i] > threshold]
        out.append(max(0.0, over[-1] + 1 - at) if over else 0.0)
    return out


# --- the rehearsal -------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--offered", type=float, default=300, help="answers/s offered in total (human-like)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--redundancy", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--redis", choices=["sentinel", "cluster"], default="sentinel",
                        help="cluster: the scheduler's state on a Redis Cluster (the other roles stay on Sentinel)")  # fmt: skip
    parser.add_argument("--failover", choices=["sentinel", "kill", "none"], default="sentinel",
                        help="how the Sentinel Redis fails over during the run (--redis cluster: a cluster master "
                             "is killed instead, unless none)")  # fmt: skip
    parser.add_argument("--replicas", type=int, default=1, help="Redis replicas")
    parser.add_argument("--min-replicas-max-lag", type=int, default=0, metavar="S",
                        help="Redis min-replicas-to-write 1 with this lag (0: off, as Redis ships)")  # fmt: skip
    args = parser.parse_args()

    raise_open_files_limit()
    var_dir = Path(tempfile.mkdtemp(prefix="quorum-scale-"))
    os.environ["QUORUM_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("QUORUM_REDIS_PREFIX", "quorum-scale")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(var_dir / "metrics")
    (var_dir / "metrics").mkdir()
    database_ensure(os.environ["DATABASE_URL"])
    redis_log = open(var_dir / "redis.log", "w")
    redis = SentinelRedis(var_dir, redis_log, args.replicas, args.min_replicas_max_lag)
    cluster = None
    os.environ["REDIS_URL"] = redis.url
    for role in ("CELERY_BROKER_URL", "CHANNEL_REDIS_URL", "SCHEDULER_REDIS_URL", "CACHE_REDIS_URL"):
        os.environ.pop(role, None)  # every role through the sentinel
    if args.redis == "cluster":
        try:
            cluster = ClusterRedis(var_dir, redis_log)
        except BaseException:
            redis.stop()
            raise
        os.environ["SCHEDULER_REDIS_URL"] = cluster.url  # the broker, channel layer and cache stay on Sentinel
    print(f"logs in {var_dir}; PostgreSQL {os.environ['DATABASE_URL']}; Redis {redis.url}", flush=True)
    if cluster is not None:
        print(f"scheduler's Redis: cluster {cluster.url} (masters {cluster.masters()})", flush=True)
    django_setup()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = Processes(env, var_dir)
    balancer = None
    try:
        prefix = os.environ["QUORUM_REDIS_PREFIX"]
        ports = [procs.start_asgi("asgi-1"), procs.start_asgi("asgi-2")]
        procs.start_celery("celery-1", prefix)
        procs.start_celery("celery-2", prefix)
        procs.start_beat("beat")
        lb_port = free_port()
        backends = [arg for p in ports for arg in ("--backend", f"127.0.0.1:{p}")]
        lb_log = open(var_dir / "balancer.log", "w")
        balancer = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "balancer.py"), "--port", str(lb_port), *backends],
            stdout=lb_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for port in [*ports, lb_port]:
            wait_healthy(port)
        base = f"http://127.0.0.1:{lb_port}"

        from tasks import services
        from tasks.models import Job

        for earlier in Job.objects.filter(name__startswith="bench crowd", status__in=["open", "paused"]):
            services.job_cancel(earlier)
        job = crowd.make_job(args.items, args.redundancy)
        tokens = crowd.make_workers(args.workers)
        services.job_publish(job)
        print(f"job {job.pk}: {job.item_count} items, {args.workers} workers, balancer {base} -> ports {ports}",
              flush=True)  # fmt: skip

        children = procs.children
        usage = Usage({
            "asgi": [children["asgi-1"].pid, children["asgi-2"].pid],
            "celery": [children["celery-1"].pid, children["celery-2"].pid],
            "beat": [children["beat"].pid],
            "balancer": [balancer.pid],
            "redis": redis.processes() + (cluster.processes() if cluster else []),
            "postgres": postgres_pids(),
        })  # fmt: skip
        think = args.workers / args.offered
        start_at = crowd.window_start(args.workers)
        stop_at = start_at + args.seconds
        opens = time.strftime("%H:%M:%S", time.gmtime(start_at))
        print(f"the window opens at {opens} UTC (t=0 below; for the logs in {var_dir})", flush=True)
        plan = [
            (0.2, "asgi", "kill -9 ASGI process asgi-1", lambda: procs.kill("asgi-1")),
            (0.4, "celery", "kill -9 Celery worker celery-1", lambda: procs.kill("celery-1")),
        ]
        if args.failover != "none" and cluster is not None:
            plan.append((0.6, "redis", "Redis Cluster master killed", lambda: print(cluster.kill_master(), flush=True)))
        elif args.failover != "none":
            plan.append((0.6, "redis", "Redis failover", lambda: print(redis.fail_over(args.failover), flush=True)))
        kills: list[float] = []

        def chaos():
            """The kills, on time; before each, the CPU its victim used so far."""
            for fraction, kind, what, act in plan:
                time.sleep(max(0.0, start_at + fraction * args.seconds - time.time()))
                usage.sample([kind])
                kills.append(time.time() - start_at)
                act()
                print(f"t={kills[-1]:.1f}s: {what}", flush=True)

        def sampler():
            """Each process's CPU and memory every second, its PostgreSQL connections every 5 s."""
            time.sleep(max(0.0, start_at - time.time()))
            usage.begin()
            n = 0
            while time.time() < stop_at - 1:
                time.sleep(1)
                n += 1
                usage.sample(connections=n % 5 == 0)
            time.sleep(max(0.0, stop_at - time.time()))
            usage.end()

        threads = [threading.Thread(target=chaos, daemon=True), threading.Thread(target=sampler, daemon=True)]
        for thread in threads:
            thread.start()
        result = crowd.run_crowd(
            f"ws://127.0.0.1:{lb_port}", tokens, args.seconds, think, args.clients, start_at,
            loop=reconnecting_worker_loop,
        )  # fmt: skip
        for thread in threads:
            thread.join()
        answers = len(result["acked"])
        cycles = answers / args.seconds
        print(
            f"human-like, {args.offered:.0f}/s offered through the balancer: {result['connected']} connections made "
            f"({result['reconnects']} reconnects), {answers} answers acknowledged in the "
            f"{args.seconds:.0f}s window, {result['resent']} resent after a reconnect, {result['not_accepted']} not "
            f"accepted, {result['errors']} connection errors {result['error_kinds'] or ''}",
            flush=True,
        )

        # Every acknowledged answer must be in PostgreSQL, with its Answer rows.
        violations = crowd.check_invariants(job.pk, result["all_acked"])
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM unnest(%s::bigint[]) acked(id) WHERE NOT EXISTS "
                "(SELECT 1 FROM tasks_answer x WHERE x.assignment_id = acked.id)",
                [result["all_acked"]],
            )
            violations["acknowledged answer without Answer rows"] = cur.fetchone()[0]
        for name, count in violations.items():
            if count:
                print(f"VIOLATION {name}: {count}", flush=True)
        lost = violations["acknowledged answer missing"]
        total_violations = sum(violations.values())

        latency = result["latency"]
        before = [dt for t, dt in latency if t < start_at + (kills[0] if kills else args.seconds)]
        baseline = crowd.percentile(before, 0.99)
        threshold = max(2 * baseline, RECOVERED_FLOOR_MS / 1000)
        windows = p99_windows(latency, start_at, stop_at)
        recovered = recovery_seconds(windows, kills, threshold)
        p99 = crowd.percentile([dt for _, dt in latency], 0.99) * 1000
        print("p99 per second (ms): " + " ".join("-" if w == float("inf") else f"{w * 1000:.0f}" for w in windows))
        rejected = [0] * len(windows)
        for t in result["rejected_at"]:
            if 0 <= int(t - start_at) < len(rejected):
                rejected[int(t - start_at)] += 1
        print("answers not accepted per second: " + " ".join(map(str, rejected)))
        print(
            f"p99 before the first kill {baseline * 1000:.1f} ms; recovery threshold {threshold * 1000:.0f} ms; "
            f"seconds to recover after each event: {', '.join(f'{r:.1f}' for r in recovered)}"
        )
        cpu = usage.cpu_seconds()
        print("per kind of process (CPU: seconds per 1,000 answers in the window; PostgreSQL and Redis: all users):")
        for kind in ("asgi", "celery", "beat", "balancer", "postgres", "redis"):
            per_k = cpu.get(kind, 0.0) / max(answers, 1) * 1000
            processes = len(usage.kinds[kind])
            # A PostgreSQL server's RSS counts its shared buffers in every backend: not shown.
            rss = "-" if kind == "postgres" else f"{usage.rss_peak.get(kind, 0):.0f}"
            print(
                f"  {kind:9s} processes {processes:2d}  CPU {per_k:6.2f} s/1k answers  peak RSS per process "
                f"{rss:>5s} MB  PostgreSQL connections per process (peak) {usage.pg_peak.get(kind, 0)}",
                flush=True,
            )
        print(f"targets: 0 acknowledged answers lost ({lost}), violations = 0, recovery <= {RECOVERY_TARGET_S} s")
        print(
            f"scale cycles_per_s={cycles:.0f} p99_ms={p99:.1f} violations={total_violations} "
            f"recovered_s={max(recovered, default=0.0):.1f}"
        )
        return 0
    finally:
        if balancer is not None:
            balancer.terminate()
        procs.stop()
        if cluster is not None:
            print(f"Redis Cluster masters at the end: {cluster.masters()}", flush=True)
            cluster.stop()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
