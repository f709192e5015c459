"""Ingest benchmark: upload a generated CSV through the API, time the Celery ingest, compare with raw COPY.

    python bench/ingest.py --rows 1000000            # starts the platform itself (launcher, temporary var dir)
    python bench/ingest.py --url http://host:8000 --token KEY --database-url postgres://...

Ends with two lines: ``job 10000000 items ingest_10m_s=<s> delete_10m_s=<s> export_10m_s=<s>`` (a second job of
``--big-rows`` items, 10,000,000 unless told, ingested, exported through the API and deleted, each timed; skipped
with ``--big-rows 0``), then ``ingest items_per_s=<n> copy_rows_per_s=<n> ratio=<x> peak_celery_mb=<n>``.
End to end runs from the first byte of the upload request to the upload reported done (items and microtasks
committed). Raw COPY loads the same file into a scratch table of three text columns, as a user would by hand.
Peak memory is sampled RSS of each process (the Celery worker's pool children included); the figure in the
last line is the largest single Celery worker process, the one that runs the ingest.
"""

import argparse
import csv
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    import httpx
    import psutil
    import psycopg
except ImportError:
    # Run with a Python that lacks the project's packages: use the project's virtual environment instead.
    venv = ROOT / ".venv"
    if (venv / "bin" / "python").exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(str(venv / "bin" / "python"), [str(venv / "bin" / "python"), *sys.argv])
    raise
WORDS = (
    "the quick brown fox jumps over a lazy dog while seven bright stars shine above quiet hills and "
    "rivers run past old stone bridges toward distant towns where people read books drink tea and talk"
).split()
TARGET_RATIO = 0.5
TARGET_CELERY_MB = 300


def generate_csv(path: Path, rows: int, seed: int) -> None:
    """id, a text of about 100 characters, a category: the same bytes for the same seed."""
    rng = random.Random(seed)
    categories = ["positive", "negative", "neutral"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "text", "category"])
        batch = []
        for i in range(rows):
            words = rng.choices(WORDS, k=22)
            text = " ".join(words)[:100]
            if i % 10 == 0:
                text = text[:60] + ', "quoted", ' + text[60:90]
            batch.append((f"row-{i}", text, categories[i % 3]))
            if len(batch) == 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """The launcher as a subprocess on a free port with its own var dir; stopped with SIGINT like Ctrl-C."""

    def __init__(self, var_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(QUORUM_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
        env.setdefault("QUORUM_MAX_ITEMS_PER_JOB", str(50_000_000))  # the --big-rows job
        env.setdefault("QUORUM_REDIS_PREFIX", f"bench-{os.getpid()}")
        self.log = open(var_dir / "launcher.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quorum.launcher", "--port", str(self.port), "--no-demo"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the platform exited with {self.proc.returncode}; see {self.log.name}")
            try:
                # The Celery workers start with the web server; the clock must not run while they boot (the
                # automation worker loads its model before it says it is ready, and that takes a core for a while).
                if (
                    httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
                    and self.log_has("default@")
                    and self.log_has("automation@")
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"the platform did not answer within {timeout}s; see {self.log.name}")

    def log_has(self, worker: str) -> bool:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return any(worker in line and " ready." in line for line in text.splitlines())

    def ingest_log(self) -> str:
        """The worker's own account of the ingest ("upload N: R rows in S s")."""
        lines = Path(self.log.name).read_text(errors="replace").splitlines()
        return next((line.strip() for line in reversed(lines) if " rows in " in line), "")

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> dict[str, list[psutil.Process]]:
        return classify(self.children())

    def database_url(self) -> str:
        """The launcher's children carry the DATABASE_URL it settled on (embedded or from the environment)."""
        for proc in self.children():
            try:
                url = proc.environ().get("DATABASE_URL")
            except (psutil.Error, OSError):
                continue
            if url:
                return url
        raise SystemExit("could not find the platform's DATABASE_URL")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def classify(procs: list[psutil.Process]) -> dict[str, list[psutil.Process]]:
    """Web (uvicorn) and default-queue Celery worker processes, pool children included."""
    found: dict[str, list[psutil.Process]] = {"web": [], "celery": []}
    for proc in procs:
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "uvicorn" in cmd:
            found["web"].append(proc)
        elif "celery" in cmd and " worker" in cmd and ".automation" not in cmd:
            found["celery"].append(proc)
    return found


class MemorySampler(threading.Thread):
    """RSS of each watched process every 50 ms: the peak of the largest process and of the group's sum.

    ``find`` is called again every half second, so pool processes that start (or restart) are watched too.
    """

    def __init__(self, find):
        super().__init__(daemon=True)
        self.find = find
        self.groups = find()
        self.peak_process = dict.fromkeys(self.groups, 0)
        self.peak_sum = dict.fromkeys(self.groups, 0)
        self.seen = dict.fromkeys(self.groups, 0)
        self.running = True

    def run(self) -> None:
        refreshed = time.monotonic()
        while self.running:
            if time.monotonic() - refreshed > 0.5:
                self.groups, refreshed = self.find(), time.monotonic()
            for name, procs in self.groups.items():
                sizes = []
                for proc in procs:
                    try:
                        sizes.append(proc.memory_info().rss)
                    except psutil.Error:
                        pass
                if sizes:
                    self.seen[name] = max(self.seen[name], len(sizes))
                    self.peak_process[name] = max(self.peak_process[name], max(sizes))
                    self.peak_sum[name] = max(self.peak_sum[name], sum(sizes))
            time.sleep(0.05)

    def stop(self) -> None:
        self.running = False
        self.join()


def running_celery_workers() -> list[psutil.Process]:
    """For --url: the Celery workers on this machine (a remote platform's memory cannot be seen)."""
    return [p for p in psutil.process_iter() if classify([p])["celery"]]


def api_client(url: str, token: str | None, username: str | None, password: str | None) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=600)
    if not token:
        if username and password:
            response = client.post("/api/auth/token/", data={"username": username, "password": password})
        else:
            username, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
            response = client.post(
                "/api/auth/signup/",
                json={
                    "username": username,
                    "password": password,
                    "email": f"{username}@example.com",
                    "role": "requester",
                },
            )
        response.raise_for_status()
        token = response.json()["token"]
    client.headers["Authorization"] = f"Token {token}"
    return client


def upload(client: httpx.Client, job_id: int, path: Path, mode: str) -> dict:
    def body():
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    if mode == "raw":
        response = client.post(
            f"/api/jobs/{job_id}/uploads/",
            params={"filename": path.name},
            content=body(),
            headers={"Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)},
        )
    else:
        with open(path, "rb") as f:
            response = client.post(f"/api/jobs/{job_id}/uploads/", files={"file": (path.name, f, "text/csv")})
    if response.status_code != 202:
        raise SystemExit(f"upload failed: {response.status_code} {response.text[:500]}")
    return response.json()


def wait_done(client: httpx.Client, upload_id: int, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        body = client.get(f"/api/uploads/{upload_id}/").json()
        if body["status"] in ("done", "failed"):
            return body
        if body["rows_done"] != last:
            last = body["rows_done"]
            print(f"  progress: {body['rows_done']} / {body['rows_total']} rows", flush=True)
        time.sleep(0.05)
    raise SystemExit(f"the upload did not finish within {timeout}s")


def settle(database_url: str) -> None:
    """CHECKPOINT, so that each timed step starts with the one before it written back rather than paying for it
    (a million items leave some 1 GB of WAL and dirty pages behind). Skipped where the role may not."""
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass


def raw_copy(database_url: str, path: Path) -> float:
    """Seconds to COPY the file into a fresh table of text columns (dropped afterwards)."""
    table = f"bench_copy_{os.getpid()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id text, text text, category text)")
        settle(database_url)
        try:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                    with open(path, "rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
            return time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE {table}")


def timed_load(database_url: str, table: str, lines: Path, columns: str, layout) -> float:
    """Seconds for one session to run a layout's statements around a COPY of ``lines`` (the table is dropped)."""
    setup, before, after = layout  # untimed set-up, timed statements before the COPY, timed statements after it
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in setup:
            conn.execute(statement)
        settle(database_url)
        try:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                for statement in before:
                    cur.execute(statement)
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    with open(lines, "rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
                for statement in after:
                    cur.execute(statement)
            return time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def item_copy(database_url: str, path: Path, rows: int, items_per_microtask: int) -> tuple[float, float, float]:
    """Seconds PostgreSQL alone needs to store the rows already shaped as items (no Python runs while timed):

    - into an empty copy of tasks_item with its indexes, as intake writes them: the floor under end to end;
    - into a table created in the same transaction, its indexes built after the load: the best another item
      layout (a partition per upload, say) could do, without counting the work of switching it in;
    - the most favourable layout tried: two sessions at once, each loading half the rows into a table of its
      own with only the columns intake writes and ``json`` data (no jsonb parsing), indexes built after.
    """
    lines = path.with_suffix(".items")
    halves = [path.with_suffix(".items1"), path.with_suffix(".items2")]
    with (
        open(path, newline="", encoding="utf-8") as f,
        open(lines, "w", encoding="utf-8") as out,
        open(halves[0], "w", encoding="utf-8") as first,
        open(halves[1], "w", encoding="utf-8") as second,
    ):
        reader = csv.reader(f)
        header = next(reader)
        for i, row in enumerate(reader):
            data = json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False, separators=(",", ":"))
            line = f"1\t{i}\t{i // items_per_microtask}\t{row[0]}\t{data.replace(chr(92), chr(92) * 2)}\t\\N\n"
            out.write(line)
            (first if i < rows // 2 else second).write(f"{i + 1}\t{line}")
    table = f"bench_items_{os.getpid()}"
    columns = "job_id, position, microtask_index, external_id, data, gold"

    def indexes(name: str, unique: str = "UNIQUE ") -> list[str]:
        return [
            f"ALTER TABLE {name} ADD PRIMARY KEY (id)",
            f"CREATE {unique}INDEX ON {name} (job_id, position)",
            f"CREATE INDEX ON {name} (job_id, microtask_index)",
        ]

    def narrow(name: str) -> list[str]:
        return [
            f"CREATE TABLE {name} (id bigint NOT NULL, job_id bigint NOT NULL, position integer NOT NULL,"
            " microtask_index integer NOT NULL, external_id varchar(200), data json NOT NULL, gold json)"
        ]

    try:
        floor = timed_load(
            database_url, table, lines, columns, ([f"CREATE TABLE {table} (LIKE tasks_item INCLUDING ALL)"], [], [])
        )
        fresh = timed_load(
            database_url, table, lines, columns,
            ([], [f"CREATE TABLE {table} (LIKE tasks_item INCLUDING DEFAULTS INCLUDING IDENTITY)"], indexes(table)),
        )  # fmt: skip
        seconds: list[float] = [0.0, 0.0]

        def load_half(k: int) -> None:
            name = f"{table}_{k}"
            layout = ([], narrow(name), indexes(name, unique=""))
            seconds[k] = timed_load(database_url, name, halves[k], f"id, {columns}", layout)

        settle(database_url)
        started = time.perf_counter()
        loaders = [threading.Thread(target=load_half, args=(k,)) for k in range(2)]
        for loader in loaders:
            loader.start()
        for loader in loaders:
            loader.join()
        parallel = time.perf_counter() - started
    finally:
        for name in (lines, *halves):
            name.unlink()
    return floor, fresh, parallel


def shaped_by_columns(path: Path, start: int, end: int, first: int, items_per_microtask: int):
    """Bytes ``start:end`` of the CSV file (whole lines, no header) parsed and shaped into COPY text lines of
    items by a column-wise parser: polars, in Rust, off the GIL. Yields chunks of 50,000 items."""
    import io

    import polars as pl

    with open(path, "rb") as f:
        header = f.readline()
        f.seek(start)
        body = f.read(end - start)
    frame = pl.read_csv(io.BytesIO(header + body), infer_schema=False)
    names = frame.columns
    escaped = pl.col(names[0])
    for char, escape in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        escaped = escaped.str.replace_all(char, escape, literal=True)
    shaped = frame.select(
        (pl.int_range(0, pl.len()) + first + 1).alias("id"),
        pl.lit(1).alias("job_id"),
        (pl.int_range(0, pl.len()) + first).alias("position"),
        ((pl.int_range(0, pl.len()) + first) // items_per_microtask).alias("microtask_index"),
        escaped.alias("external_id"),
        # JSON text holds no raw tab or newline; its backslashes are doubled for COPY's text format.
        pl.struct(names).struct.json_encode().str.replace_all("\\", "\\\\", literal=True).alias("data"),
    )
    for offset in range(0, shaped.height, 50_000):
        part = shaped.slice(offset, 50_000)
        yield part.write_csv(include_header=False, separator="\t", quote_style="never").encode()


def parsed_and_loaded(database_url: str, path: Path, items_per_microtask: int) -> float | None:
    """Seconds for the most favourable pipeline tried, everything but the upload, the switch and the microtasks:
    two sessions at once, each parsing its half of the file with a column-wise parser and loading it as in the
    last layout of ``item_copy``. None when polars (bench/requirements-ingest.txt) is not installed."""
    try:
        import polars  # noqa: F401
    except ImportError:
        return None
    table = f"bench_parsed_{os.getpid()}"
    size = path.stat().st_size
    settle(database_url)
    started = time.perf_counter()
    with open(path, "rb") as f:
        f.readline()
        cuts = [f.tell()]
        f.seek(size // 2)
        f.readline()
        cuts += [f.tell(), size]
        f.seek(cuts[0])
        firsts = [0, f.read(cuts[1] - cuts[0]).count(b"\n")]  # the generated file has no newline inside a field

    def load_half(k: int) -> None:
        name = f"{table}_{k}"
        with psycopg.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {name} (id bigint NOT NULL, job_id bigint NOT NULL, position integer NOT NULL,"
                " microtask_index integer NOT NULL, external_id varchar(200), data json NOT NULL, gold json)"
            )
            columns = "id, job_id, position, microtask_index, external_id, data"
            with cur.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                for chunk in shaped_by_columns(path, cuts[k], cuts[k + 1], firsts[k], items_per_microtask):
                    copy.write(chunk)
            cur.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
            cur.execute(f"CREATE INDEX ON {name} (job_id, position)")
            cur.execute(f"CREATE INDEX ON {name} (job_id, microtask_index)")

    try:
        loaders = [threading.Thread(target=load_half, args=(k,)) for k in range(2)]
        for loader in loaders:
            loader.start()
        for loader in loaders:
            loader.join()
        return time.perf_counter() - started
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for k in range(2):
                conn.execute(f"DROP TABLE IF EXISTS {table}_{k}")


def job_create(client: httpx.Client, name: str, items_per_microtask: int) -> int:
    job = client.post(
        "/api/jobs/",
        json={
            "name": name,
            "question": "Which category?",
            "question_type": "single_choice",
            "options": ["positive", "negative", "neutral"],
            "text_field": "text",
            "items_per_microtask": items_per_microtask,
            "redundancy": 3,
        },
    )
    job.raise_for_status()
    return job.json()["id"]


def tables_of(database_url: str, job_id: int) -> int:
    """How many of the job's item and microtask tables exist."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        names = [f"tasks_item_p{job_id}", f"tasks_microtask_p{job_id}"]
        return conn.execute("SELECT count(to_regclass(n)) FROM unnest(%s::text[]) n", [names]).fetchone()[0]


def ten_million_job(client: httpx.Client, database_url: str, data_dir: Path, rows: int, seed: int, per: int):
    """A job of ``rows`` items: seconds to ingest it (upload to done), to export its results (the API's CSV,
    streamed and counted), and to delete it (the API's DELETE until its tables are gone); None if the platform
    refused the upload."""
    path = data_dir / f"bench-{rows}.csv"
    generate_csv(path, rows, seed)
    print(f"generated {path} ({rows} rows, {path.stat().st_size / 2**20:.0f} MiB)", flush=True)
    try:
        job_id = job_create(client, f"bench {rows} rows (ingest, export, delete)", per)
        settle(database_url)
        started = time.perf_counter()
        result = wait_done(client, upload(client, job_id, path, "raw")["id"], timeout=7200)
        ingest_s = time.perf_counter() - started
        if result["status"] != "done":
            # A platform given with --url keeps its own QUORUM_MAX_ITEMS_PER_JOB (5,000,000 by default).
            print(f"the {rows}-item job was not stored, so it is not timed: {result['error']}")
            return None
    finally:
        path.unlink()
    started = time.perf_counter()
    lines = 0
    with client.stream("GET", f"/api/jobs/{job_id}/export/", params={"format": "csv"}, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            lines += chunk.count(b"\n")
    export_s = time.perf_counter() - started
    if lines < rows + 1:
        raise SystemExit(f"the export had {lines} lines for {rows} items")
    started = time.perf_counter()
    client.delete(f"/api/jobs/{job_id}/", timeout=600).raise_for_status()
    while tables_of(database_url, job_id):
        time.sleep(0.01)
    delete_s = time.perf_counter() - started
    print(f"{rows} items: ingest {ingest_s:.1f}s, export {export_s:.1f}s ({lines} lines), delete {delete_s:.2f}s")
    return ingest_s, delete_s, export_s


def mb(n: int) -> int:
    return round(n / 2**20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--items-per-microtask", type=int, default=10)
    parser.add_argument("--mode", choices=["raw", "multipart"], default="raw", help="how the file is sent")
    parser.add_argument("--url", help="a running platform (default: start one)")
    parser.add_argument("--token", help="an API token of a requester on --url")
    parser.add_argument("--username", help="a requester's username on --url (with --password)")
    parser.add_argument("--password")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="for raw COPY with --url")
    parser.add_argument("--data-dir", help="where the CSV is written (default: a temporary folder)")
    parser.add_argument(
        "--big-rows", type=int, default=10_000_000,
        help="then a job of this many items: ingest, export and delete timed (0: skip; the line says 10m for 10M)",
    )  # fmt: skip
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as tmp:
        data_dir = Path(args.data_dir or tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"bench-{args.rows}.csv"
        started = time.perf_counter()
        generate_csv(path, args.rows, args.seed)
        size = path.stat().st_size
        print(f"generated {path} ({args.rows} rows, {size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f}s")

        platform = None
        if args.url:
            url, database_url = args.url.rstrip("/"), args.database_url
            if not database_url:
                raise SystemExit("--url needs --database-url (or DATABASE_URL) for the raw COPY comparison")
            find = lambda: {"web": [], "celery": running_celery_workers()}  # noqa: E731
        else:
            var_dir = Path(tmp) / "var"
            var_dir.mkdir()
            print("starting the platform (launcher, temporary var dir) ...", flush=True)
            platform = Platform(var_dir)
        try:
            if platform:
                platform.wait_ready()
                url, database_url = platform.url, platform.database_url()
                find = platform.processes
            client = api_client(url, args.token, args.username, args.password)
            job_id = job_create(client, f"bench {args.rows} rows", args.items_per_microtask)

            sampler = MemorySampler(find)
            settle(database_url)
            sampler.start()
            t0 = time.perf_counter()
            sent = upload(client, job_id, path, args.mode)
            t_upload = time.perf_counter() - t0
            result = wait_done(client, sent["id"])
            elapsed = time.perf_counter() - t0
            sampler.stop()
            if result["status"] != "done":
                raise SystemExit(f"the upload failed: {result['error']}")
            job = client.get(f"/api/jobs/{job_id}/").json()
            assert job["item_count"] == args.rows, job
            copy_seconds = raw_copy(database_url, path)
            floor_seconds, fresh_seconds, parallel_seconds = item_copy(
                database_url, path, args.rows, args.items_per_microtask
            )
            parsed_seconds = parsed_and_loaded(database_url, path, args.items_per_microtask)
            worker_said = platform.ingest_log() if platform else ""
            path.unlink()
            big = None
            if args.big_rows:
                big_sampler = MemorySampler(find)
                big_sampler.start()
                big = ten_million_job(
                    client, database_url, data_dir, args.big_rows, args.seed + 1, args.items_per_microtask
                )
                big_sampler.stop()
        finally:
            if platform:
                platform.stop()

    items_per_s = args.rows / elapsed
    copy_rows_per_s = args.rows / copy_seconds
    ratio = items_per_s / copy_rows_per_s
    peak_celery = mb(sampler.peak_process["celery"])
    print(f"upload request ({args.mode} body): {t_upload:.2f}s; end to end: {elapsed:.2f}s for {args.rows} items")
    print(f"  {job['microtask_count']} microtasks of {args.items_per_microtask} items")
    if worker_said:
        print(f"  celery worker: {worker_said}")
    print(f"raw COPY of the same file: {copy_seconds:.2f}s")
    print(
        "COPY of the same rows shaped as items into an empty table with tasks_item's indexes (no Python): "
        f"{floor_seconds:.2f}s, {args.rows / floor_seconds:.0f} rows/s = {copy_seconds / floor_seconds:.2f} x raw COPY"
    )
    print(
        "the same into a table created in the same transaction, indexes built after the load (as a job's first "
        "upload is stored): "
        f"{fresh_seconds:.2f}s = {copy_seconds / fresh_seconds:.2f} x raw COPY"
    )
    print(
        "two sessions at once, each loading half into a table of its own (only the columns intake writes, json "
        f"data, indexes built after the load): {parallel_seconds:.2f}s = {copy_seconds / parallel_seconds:.2f} x raw COPY"
    )
    if parsed_seconds is None:
        print("the same with each session parsing its half of the file with polars: skipped (polars not installed)")
    else:
        print(
            "the same with each session parsing and shaping its half of the CSV file with a column-wise parser "
            "(polars) while timed: everything but the upload, the switch and the microtasks: "
            f"{parsed_seconds:.2f}s = {copy_seconds / parsed_seconds:.2f} x raw COPY"
        )
    print(
        f"end to end / raw COPY: {ratio:.2f}  (target >= {TARGET_RATIO})  {'OK' if ratio >= TARGET_RATIO else 'MISSED'}"
    )
    web = f"{mb(sampler.peak_process['web'])} MB" if sampler.peak_process["web"] else "not watched (--url)"
    print(
        f"peak RSS: celery worker process {peak_celery} MB (all {sampler.seen['celery']} celery processes together "
        f"{mb(sampler.peak_sum['celery'])} MB; target < {TARGET_CELERY_MB} MB "
        f"{'OK' if peak_celery < TARGET_CELERY_MB else 'MISSED'}), web process {web}"
    )
    if big is not None:
        tag = "10m" if args.big_rows == 10_000_000 else f"{args.big_rows}"
        ingest_s, delete_s, export_s = big
        print(
            f"job {args.big_rows} items ingest_{tag}_s={ingest_s:.1f} delete_{tag}_s={delete_s:.2f} "
            f"export_{tag}_s={export_s:.1f} peak_celery_{tag}_mb={mb(big_sampler.peak_process['celery'])}"
        )
    print(
        f"ingest items_per_s={items_per_s:.0f} copy_rows_per_s={copy_rows_per_s:.0f} ratio={ratio:.2f} "
        f"peak_celery_mb={peak_celery}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
