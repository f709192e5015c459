#!/usr/bin/env python
"""Simulated workers, each a real WebSocket client, against a running platform.

    python bench/crowd.py --workers 1000 --seconds 30                 # saturation
    python bench/crowd.py --workers 2000 --offered 1000 --seconds 30  # human-like load
    python bench/crowd.py --workers 0 --idle 10000                    # idle connections and memory
    python bench/crowd.py --workers 2000 --offered 1000 --media image # each task shows an uploaded image

It starts the platform itself (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set) unless --url
names a running one (then DATABASE_URL/REDIS_URL must reach that platform's database, for set-up and checks).
It creates a job of --items items (1 item per microtask, redundancy 3), workers with API tokens, runs the load,
measures a bare Channels echo round trip on the same server, and checks the scheduler's invariants in
PostgreSQL. Ends with:
    crowd cycles_per_s=<n> p50_ms=<n> p99_ms=<n> echo_ratio=<x> violations=<n>
With --media image each item shows one of --media-files uploaded images of about 50 KB (sent in a zip archive with
the data, through the platform's own upload path), and every simulated worker fetches its task's image by the
signed URL, with its API token, before it answers (as a browser does when it shows the task); the line then ends
with ``media_p99_ms=<n> media_fetched=<n> media_failed=<n>``.
With --webhook a local receiver records every webhook delivery; one endpoint is subscribed to the job's item
results (and QUORUM_WEBHOOK_ALLOW_PRIVATE is set, the receiver being on loopback). After the window the
benchmark waits for the results and their deliveries to drain and checks that every (item, version) written was
delivered exactly once; the line then ends with ``webhooks_missing=<n> webhooks_duplicates=<n>``.
"""

import argparse
import asyncio
import gc
import json
import multiprocessing
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Platform, django_setup, raise_open_files_limit, rss_mb  # noqa: E402

TARGET_CYCLES = 2000
TARGET_P99_MS = 50
TARGET_MEDIA_P99_MS = 100


# --- webhooks: a local receiver and the check that every item result arrived once ----------------------------


class WebhookReceiver:
    """Records each delivery's id and the (item, version) pairs it carries; answers 200 at once."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.by_delivery: dict[str, list[tuple[int, int]]] = {}
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                pairs = [(r["item"], r["version"]) for r in json.loads(body)["data"].get("results", [])]
                with receiver.lock:
                    receiver.requests += 1
                    receiver.by_delivery[self.headers["X-Quorum-Delivery"]] = pairs
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def counts(self) -> dict[tuple[int, int], int]:
        """How many distinct deliveries carried each (item, version); a retried delivery counts once."""
        seen: dict[tuple[int, int], int] = {}
        with self.lock:
            for pairs in self.by_delivery.values():
                for pair in pairs:
                    seen[pair] = seen.get(pair, 0) + 1
        return seen


def webhook_subscribe(job, url: str) -> None:
    from webhooks import services as webhooks

    webhooks.endpoint_create(owner=job.owner, url=url, events=["item.result"], job=job)


def webhook_check(job_id: int, receiver: WebhookReceiver, timeout: float = 120) -> tuple[int, int, int]:
    """Wait until the job's results are written and their deliveries drained, then (missing, duplicates, pairs):
    every (item, version) from 1 to each item's result_version must have come in exactly one delivery."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        received = receiver.counts()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM tasks_microtask m WHERE m.job_id = %s AND m.status = 'done'"
                "        AND NOT m.is_gold AND m.results_for IS DISTINCT FROM m.completed_at)"
                " + (SELECT count(*) FROM webhooks_event e WHERE e.job_id = %s)"
                " + (SELECT count(*) FROM webhooks_delivery d WHERE d.job_id = %s"
                "    AND d.status IN ('pending', 'delivering', 'failed'))",
                [job_id, job_id, job_id],
            )
            busy = cur.fetchone()[0]
            cur.execute("SELECT id, result_version FROM tasks_item WHERE job_id = %s AND result_version > 0", [job_id])
            expected = {(item, v) for item, version in cur.fetchall() for v in range(1, version + 1)}
        missing = len(expected - set(received))
        duplicates = sum(n - 1 for n in received.values() if n > 1)
        if (not busy and not missing) or time.monotonic() > deadline:
            return missing, duplicates, len(expected)
        time.sleep(1)


# --- set-up through the platform's own services --------------------------------------------------------------


def make_job(items: int, redundancy: int, name: str = "bench crowd"):
    import tempfile

    from tasks import services
    from tests.factories import make_requester

    owner = make_requester(f"bench-{uuid.uuid4().hex[:8]}")
    job = services.job_create(
        owner=owner, name=name, question="Pick one", question_type="single_choice",
        options=["a", "b", "c"], text_field="text", items_per_microtask=1, redundancy=redundancy, lease_seconds=120,
    )  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("id,text\n")
        for i in range(items):
            f.write(f"{i},item {i} with some text to read\n")
    upload = services.upload_create(job=job, filename="bench.csv", source=f.name, in_background=False)
    services.upload_ingest(upload.pk)
    job.refresh_from_db()
    return job


def make_media_job(items: int, redundancy: int, files: int):
    """A job whose items each show one of ``files`` images (128x128 noise PNGs, about 50 KB), uploaded as one zip
    archive of the images and the CSV that names them."""
    import tempfile

    from tasks import media, services
    from tests.factories import make_requester, png_bytes

    owner = make_requester(f"bench-{uuid.uuid4().hex[:8]}")
    job = services.job_create(
        owner=owner, name="bench crowd media", question="Pick one", question_type="single_choice",
        options=["a", "b", "c"], text_field="text", items_per_microtask=1, redundancy=redundancy, lease_seconds=120,
        display=[{"type": "image", "column": "photo", "label": "Photo"}, {"type": "text", "column": "text", "label": ""}],
    )  # fmt: skip
    rows = "".join(f"{i},item {i} with some text to read,img/{i % files}.png\n" for i in range(items))
    archive = {f"img/{n}.png": png_bytes(128, 128, seed=n) for n in range(files)}
    archive["items.csv"] = ("id,text,photo\n" + rows).encode()
    with tempfile.NamedTemporaryFile("wb", suffix=".zip", delete=False) as f:
        f.write(media.zip_bytes(archive))
    upload = services.upload_create(job=job, filename="bench.zip", source=f.name, in_background=False)
    upload = services.upload_ingest(upload.pk)
    if upload.status != "done":
        raise RuntimeError(f"the media upload failed: {upload.error}")
    job.refresh_from_db()
    return job


def make_workers(count: int) -> list[str]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from workers.models import WorkerProfile

    User = get_user_model()
    tag = uuid.uuid4().hex[:6]
    users = [User(username=f"sim-{tag}-{i}", role=User.Role.WORKER) for i in range(count)]
    for user in users:
        user.set_unusable_password()
    users = User.objects.bulk_create(users, batch_size=2000)
    WorkerProfile.objects.bulk_create([WorkerProfile(user=u) for u in users], batch_size=2000)
    tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users], batch_size=2000)
    return [t.key for t in tokens]


# --- the simulated workers -------------------------------------------------------------------------------------


class MediaFetcher:
    """One worker's HTTP/1.1 keep-alive connection for media, as a browser holds one: a few lines of asyncio
    streams, so the client's own CPU (on the same cores as the server) stays small next to what it measures."""

    def __init__(self, base_url: str, token: str):
        where = base_url.split("://", 1)[1]
        self.host, _, port = where.partition(":")
        self.port = int(port or 80)
        self.request_head = f"Host: {where}\r\nAuthorization: Token {token}\r\n\r\n".encode()
        self.reader = self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.writer is None or self.reader.at_eof() or self.writer.is_closing():
                self.close()
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.request_head)
                head = await self.reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                body = await self.reader.readexactly(int(headers.get("content-length", "0")))
                if headers.get("connection") == "close":
                    self.close()
                return status, body
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection as this request went out: once more, afresh.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


async def fetch_media(fetcher: MediaFetcher, msg: dict, stats: dict) -> None:
    """Fetch every media URL of a task, as the worker's browser would; latency and failures go to ``stats``."""
    for item in msg["items"]:
        for url in item.get("media", {}).values():
            started = time.time()
            try:
                status, body = await fetcher.get(url)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                status, body = type(exc).__name__, b""
            stats["media_fetched"] += 1
            if status != 200 or not body.startswith(b"\x89PNG"):
                stats["media_failed"] += 1
                kind = f"media {status}"
                stats["error_kinds"][kind] = stats["error_kinds"].get(kind, 0) + 1
            else:
                stats["media"].append((started, time.time() - started))


async def worker_loop(ws_url, token, start_at, stop_at, think_mean, stats, media=False):
    """Connect, hold the first task until the measured window opens, then answer until it closes.

    Only answers acknowledged inside the window count, so connecting a thousand sockets is not measured. With
    ``media`` each task's media are fetched as it arrives, before the think time.
    """
    import websockets

    acked = []
    fetcher = MediaFetcher(ws_url.replace("ws", "http", 1), token) if media else None
    try:
        async with websockets.connect(f"{ws_url}/ws/work/?token={token}", max_size=2**22, open_timeout=120) as ws:
            stats["connected"] += 1
            submitted_at = None
            while True:
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
                    now = time.time()
                    if submitted_at is not None:
                        stats["latency"].append((submitted_at, now - submitted_at))
                        submitted_at = None
                    if fetcher is not None:
                        await fetch_media(fetcher, msg, stats)
                    if now < start_at:
                        # The first answer too comes after a think time, so the window opens on a steady flow.
                        first = random.expovariate(1 / think_mean) if think_mean else random.random() * 0.05
                        await asyncio.sleep(start_at - now + first)
                    elif think_mean:
                        await asyncio.sleep(random.expovariate(1 / think_mean))
                    if time.time() >= stop_at:
                        break
                    pending = {
                        "type": "answer.submit",
                        "key": uuid.uuid4().hex,
                        "assignment_id": msg["assignment"]["id"],
                        "answers": [
                            {"item": item["id"], "value": random.choice(msg["job"]["options"])} for item in msg["items"]
                        ],
                    }
                    submitted_at = time.time()
                    await ws.send(json.dumps(pending))
                elif kind == "answer.ack":
                    if msg["status"] == "accepted":
                        acked.append((time.time(), msg["assignment_id"]))
                    else:
                        stats["not_accepted"] += 1
                        reason = msg.get("reason", "?")
                        stats["error_kinds"][reason] = stats["error_kinds"].get(reason, 0) + 1
                elif kind == "task.none":
                    stats["none"] += 1
    except Exception as exc:  # a refused or dropped connection is counted, not fatal
        stats["errors"] += 1
        stats["error_kinds"][type(exc).__name__] = stats["error_kinds"].get(type(exc).__name__, 0) + 1
    if fetcher is not None:
        fetcher.close()
    stats["all_acked"].extend(a for _, a in acked)
    stats["acked"].extend(a for t, a in acked if start_at <= t < stop_at)


def new_stats() -> dict:
    return {"latency": [], "acked": [], "all_acked": [], "not_accepted": 0, "none": 0, "errors": 0,
            "connected": 0, "error_kinds": {}, "media": [], "media_fetched": 0, "media_failed": 0}  # fmt: skip


def run_workers(args) -> dict:
    ws_url, tokens, seconds, think_mean, start_at, media, loop = args
    # The client's own garbage-collector pauses would be counted as server latency.
    gc.disable()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    stats = new_stats()

    async def main():
        stop_at = start_at + seconds
        tasks = []
        for n, t in enumerate(tokens):
            tasks.append(asyncio.create_task(loop(ws_url, t, start_at, stop_at, think_mean, stats, media)))
            if n % 50 == 49:
                await asyncio.sleep(0.05)  # connect in waves, as a crowd arrives
        await asyncio.gather(*tasks)
        # Latencies of the window only.
        stats["latency"] = [(t, dt) for t, dt in stats["latency"] if start_at <= t < stop_at]
        stats["media"] = [(t, dt) for t, dt in stats["media"] if start_at <= t < stop_at]

    asyncio.run(main())
    return stats


def window_start(workers: int) -> float:
    # Everyone connects first (a few ms of server time per connection), then the measured window opens.
    return time.time() + 5 + workers / 80


def run_crowd(
    ws_url: str,
    tokens: list[str],
    seconds: float,
    think_mean: float,
    clients: int,
    start_at: float,
    media=False,
    loop=worker_loop,
) -> dict:
    """The workers in ``clients`` processes, each worker running ``loop`` (bench/scale.py's reconnects)."""
    chunks = [tokens[i::clients] for i in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients) as p:
        parts = p.map(run_workers, [(ws_url, chunk, seconds, think_mean, start_at, media, loop) for chunk in chunks])
    merged = new_stats()
    for part in parts:
        for key, value in part.items():  # lists joined, counts and counts by kind added up
            if isinstance(value, dict):
                into = merged.setdefault(key, {})
                for k, v in value.items():
                    into[k] = into.get(k, 0) + v
            elif key in merged:
                merged[key] += value
            else:
                merged[key] = value
    return merged


# --- the echo ceiling -------------------------------------------------------------------------------------------


def run_echo_part(args) -> int:
    ws_url, connections, seconds = args
    import websockets

    count = 0

    async def one(stop_at):
        nonlocal count
        async with websockets.connect(f"{ws_url}/ws/echo/", open_timeout=60) as ws:
            payload = json.dumps({"type": "echo", "n": 0, "pad": "x" * 100})
            while time.monotonic() < stop_at:
                await ws.send(payload)
                await ws.recv()
                count += 1

    async def main():
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*[one(stop_at) for _ in range(connections)], return_exceptions=True)

    asyncio.run(main())
    return count


def run_echo(ws_url: str, connections: int, seconds: float, clients: int) -> float:
    per = [connections // clients + (1 if i < connections % clients else 0) for i in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients) as p:
        counts = p.map(run_echo_part, [(ws_url, n, seconds) for n in per])
    return sum(counts) / seconds


# --- idle connections ---------------------------------------------------------------------------------------------


def run_idle_part(args) -> tuple[int, dict[str, int], list[float]]:
    """Open idle worker connections and hold them; (how many opened, failures by kind, handshake seconds)."""
    ws_url, tokens, hold = args
    import collections

    import websockets

    opened = 0
    failures: collections.Counter = collections.Counter()
    handshakes: list[float] = []

    async def one(token, stop):
        nonlocal opened
        started = time.perf_counter()
        try:
            async with websockets.connect(f"{ws_url}/ws/work/?token={token}", open_timeout=120, ping_interval=None):
                handshakes.append(time.perf_counter() - started)
                opened += 1
                await stop.wait()
        except Exception as exc:  # noqa: BLE001 - counted and reported by kind
            failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1

    async def main():
        stop = asyncio.Event()
        tasks = []
        for i, t in enumerate(tokens):
            tasks.append(asyncio.create_task(one(t, stop)))
            if i % 25 == 24:
                await asyncio.sleep(0.2)  # 125 a second per client process: a crowd arriving over a minute
        await asyncio.sleep(hold)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return opened, dict(failures), handshakes


# --- invariants ---------------------------------------------------------------------------------------------------

CHECKS = {
    "done microtask without exactly answers_wanted submitted assignments": """
        SELECT count(*) FROM tasks_microtask m WHERE m.job_id = %(job)s AND m.status = 'done' AND m.answers_wanted <>
          (SELECT count(*) FROM tasks_assignment a WHERE a.microtask_id = m.id AND a.status = 'submitted' AND a.review <> 'rejected')""",
    "answer_count differs from submitted assignments": """
        SELECT count(*) FROM tasks_microtask m WHERE m.job_id = %(job)s AND m.answer_count <>
          (SELECT count(*) FROM tasks_assignment a WHERE a.microtask_id = m.id AND a.status = 'submitted' AND a.review <> 'rejected')""",
    "more answers than wanted": "SELECT count(*) FROM tasks_microtask WHERE job_id = %(job)s AND answer_count > answers_wanted",
    "worker twice on a microtask": """
        SELECT count(*) FROM (SELECT 1 FROM tasks_assignment WHERE job_id = %(job)s
          GROUP BY microtask_id, worker_id HAVING count(*) > 1) d""",
    "duplicate answers": """
        SELECT count(*) FROM (SELECT 1 FROM tasks_answer WHERE job_id = %(job)s
          GROUP BY assignment_id, item_id HAVING count(*) > 1) d""",
    "submitted assignment without its answers": """
        SELECT count(*) FROM tasks_assignment a JOIN tasks_microtask m ON m.id = a.microtask_id
        WHERE a.job_id = %(job)s AND a.status = 'submitted'
          AND (SELECT count(*) FROM tasks_answer x WHERE x.assignment_id = a.id) <> m.item_count""",
}


def check_invariants(job_id: int, acked: list[int]) -> dict[str, int]:
    from django.db import connection

    found = {}
    with connection.cursor() as cur:
        for name, sql in CHECKS.items():
            cur.execute(sql, {"job": job_id})
            found[name] = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM unnest(%s::bigint[]) acked(id) WHERE NOT EXISTS "
            "(SELECT 1 FROM tasks_assignment a WHERE a.id = acked.id AND a.status = 'submitted')",
            [acked],
        )
        found["acknowledged answer missing"] = cur.fetchone()[0]
    return found


def cpu_seconds(platform) -> dict[str, float]:
    """CPU time so far of the ASGI processes, PostgreSQL and Redis (whoever runs them on this machine)."""
    import psutil

    totals = {"asgi": 0.0, "postgres": 0.0, "redis": 0.0}
    web = {p.pid for p in platform.processes("uvicorn")} if platform else set()
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name = proc.info["name"] or ""
        times = proc.info["cpu_times"]
        if times is None:
            continue
        used = times.user + times.system
        if proc.pid in web:
            totals["asgi"] += used
        elif name.startswith("postgres"):
            totals["postgres"] += used
        elif name.startswith("redis-server"):
            totals["redis"] += used
    return totals


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument(
        "--offered", type=float, default=0, help="answers/s offered in total (human-like); 0 = saturation"
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--redundancy", type=int, default=3)
    parser.add_argument("--echo-connections", type=int, default=1000)
    parser.add_argument("--echo-seconds", type=float, default=10)
    parser.add_argument("--idle", type=int, default=0, help="also hold this many idle connections and report memory")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--web-processes", type=int, default=1)
    parser.add_argument("--url", help="a running platform (its database must be DATABASE_URL)")
    parser.add_argument("--timeline", help="write each measured answer's submit time and latency to this CSV file")
    parser.add_argument("--media", choices=["image"], help="each item shows an uploaded image that workers fetch")
    parser.add_argument("--media-files", type=int, default=1000, help="distinct images for --media (items share)")
    parser.add_argument("--webhook", action="store_true", help="deliver the job's item results to a local receiver")
    parser.add_argument(
        "--other-jobs", type=int, default=0,
        help="first store this many other jobs of 100 items (unpublished): items are stored per job, and the answer"
        " path must not slow down with the number of jobs",
    )  # fmt: skip
    args = parser.parse_args()

    raise_open_files_limit()
    if args.webhook:
        import os

        os.environ["QUORUM_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver is on loopback (the platform inherits it)
    django_setup()
    platform = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        platform = Platform(web_processes=args.web_processes, extra_env={"QUORUM_ECHO_ENDPOINT": "1"})
        base = platform.url
    ws_url = base.replace("http", "ws", 1)
    try:
        from tasks import services
        from tasks.models import Job

        # Earlier runs against the same database left their jobs open: their workers would share this run's crowd
        # (and a media job's files lived in that run's own directory).
        for earlier in Job.objects.filter(name__startswith="bench crowd", status__in=["open", "paused"]):
            services.job_cancel(earlier)
        for _ in range(args.other_jobs):
            make_job(100, args.redundancy, name="bench crowd other job")
        if args.media:
            job = make_media_job(args.items, args.redundancy, args.media_files)
        else:
            job = make_job(args.items, args.redundancy)
        tokens = make_workers(max(args.workers, args.idle))
        receiver = None
        if args.webhook:
            receiver = WebhookReceiver()
            webhook_subscribe(job, receiver.url)
        services.job_publish(job)
        print(f"job {job.pk}: {job.item_count} items, {args.workers} workers, platform {base}", flush=True)

        echo_rate = run_echo(ws_url, args.echo_connections, args.echo_seconds, args.clients)
        print(f"echo: {echo_rate:.0f} round trips/s with {args.echo_connections} connections", flush=True)

        result = new_stats()
        cycles = 0.0
        if args.workers:
            think = args.workers / args.offered if args.offered else 0.0
            start_at = window_start(args.workers)
            cpu = {}

            def sample(name, at):
                time.sleep(max(0.0, at - time.time()))
                cpu[name] = cpu_seconds(platform)

            samplers = [
                threading.Thread(target=sample, args=(n, t))
                for n, t in (("start", start_at), ("stop", start_at + args.seconds))
            ]
            for thread in samplers:
                thread.start()
            result = run_crowd(
                ws_url, tokens[: args.workers], args.seconds, think, args.clients, start_at, bool(args.media)
            )
            for thread in samplers:
                thread.join()
            cpu_used = {k: cpu["stop"][k] - v for k, v in cpu["start"].items()}
            cycles = len(result["acked"]) / args.seconds
            mode = f"human-like, {args.offered:.0f}/s offered" if args.offered else "saturation"
            print(
                f"{mode}: {result['connected']} workers connected; {len(result['acked'])} answers acknowledged in the "
                f"{args.seconds:.0f}s window, "
                f"{result['not_accepted']} not accepted, {result['none']} no-work messages, "
                f"{result['errors']} connection errors {result['error_kinds'] or ''}",
                flush=True,
            )
            if result["acked"]:
                per_cycle = ", ".join(f"{k} {v / len(result['acked']) * 1e6:.0f} us" for k, v in cpu_used.items())
                print(
                    f"CPU per answer cycle in the window (PostgreSQL and Redis: all their users): {per_cycle}",
                    flush=True,
                )

        if args.idle and platform is not None:
            services.job_pause(job)
            web = platform.processes("uvicorn")
            before = rss_mb(web)
            idle_tokens = tokens[: args.idle]
            hold = 20 + args.idle / 120
            with multiprocessing.get_context("fork").Pool(args.clients) as p:
                pending = p.map_async(
                    run_idle_part, [(ws_url, idle_tokens[i :: args.clients], hold) for i in range(args.clients)]
                )
                time.sleep(hold - 3)
                during = rss_mb(web)
                parts = pending.get()
            opened = sum(n for n, _, _ in parts)
            handshakes = [h for _, _, part in parts for h in part]
            failures: dict[str, int] = {}
            for _, kinds, _ in parts:
                for kind, n in kinds.items():
                    failures[kind] = failures.get(kind, 0) + n
            for kind, n in sorted(failures.items(), key=lambda kv: -kv[1]):
                print(f"idle: {n} connections failed: {kind}", flush=True)
            if handshakes:
                print(f"idle: handshake p50 {percentile(handshakes, 0.5) * 1000:.0f} ms,"
                      f" p99 {percentile(handshakes, 0.99) * 1000:.0f} ms", flush=True)  # fmt: skip
            print(f"idle: {opened} connections held on one ASGI process: RSS {before:.0f} MB -> {during:.0f} MB "
                  f"({(during - before) * 1024 / max(opened, 1):.1f} KB per connection)", flush=True)  # fmt: skip

        webhook_fields = ""
        if receiver is not None:
            waited = time.monotonic()
            missing, duplicates, pairs = webhook_check(job.pk, receiver)
            print(
                f"webhooks: {pairs} (item, version) results written, {receiver.requests} requests received in "
                f"{len(receiver.by_delivery)} deliveries; drained {time.monotonic() - waited:.1f} s after the window; "
                f"{missing} missing, {duplicates} delivered twice",
                flush=True,
            )
            webhook_fields = f" webhooks_missing={missing} webhooks_duplicates={duplicates}"
        violations = check_invariants(job.pk, result.get("all_acked", []))
        for name, count in violations.items():
            if count:
                print(f"VIOLATION {name}: {count}", flush=True)
        total_violations = sum(violations.values())
        latencies = [dt for _, dt in result["latency"]]
        p50 = percentile(latencies, 0.50) * 1000
        p99 = percentile(latencies, 0.99) * 1000
        if args.timeline:
            with open(args.timeline, "w") as f:
                f.write("submitted_at,latency_ms\n")
                f.writelines(f"{t:.4f},{dt * 1000:.2f}\n" for t, dt in sorted(result["latency"]))
        ratio = cycles / echo_rate if echo_rate else 0
        print(f"targets: saturation >= {TARGET_CYCLES} cycles/s; human-like p99 < {TARGET_P99_MS} ms; violations = 0")
        print(f"submit->next task latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(latencies)} cycles")
        media_fields = ""
        if args.media:
            media_latencies = [dt for _, dt in result["media"]]
            media_p50 = percentile(media_latencies, 0.50) * 1000
            media_p99 = percentile(media_latencies, 0.99) * 1000
            print(f"media targets: p99 < {TARGET_MEDIA_P99_MS} ms, every fetch succeeds")
            print(
                f"media fetch (signed URL, token, ~50 KB PNG): p50 {media_p50:.1f} ms, p99 {media_p99:.1f} ms over "
                f"{len(media_latencies)} fetches in the window ({len(media_latencies) / args.seconds:.0f}/s); "
                f"{result['media_fetched']} fetched in all, {result['media_failed']} failed"
            )
            media_fields = (
                f" media_p99_ms={media_p99:.1f} media_fetched={result['media_fetched']}"
                f" media_failed={result['media_failed']}"
            )
        print(
            f"crowd cycles_per_s={cycles:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f} echo_ratio={ratio:.2f} "
            f"violations={total_violations}{media_fields}{webhook_fields}"
        )
        return 0
    finally:
        if platform is not None:
            platform.stop()


if __name__ == "__main__":
    sys.exit(main())
