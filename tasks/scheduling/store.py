"""Durable writes of the hot path, and the group committer that batches them across sockets.

Every lease and every submit is one SQL statement. The committer of an ASGI process gathers the statements that
arrive while the previous commit is in flight and runs them as one transaction in pipeline mode, so a thousand
sockets cost tens of commits a second, not thousands. A socket is answered only after its statement committed:
an acknowledged answer is in PostgreSQL.

The statements run server-side in PL/pgSQL (``commit.sql``, installed by a migration): a batch is one call and
one round trip, whatever its size, which keeps the per-answer cost in this process to building a little JSON.
Invariants live in those statements and the schema, not in Redis: one assignment per (microtask, worker), one
answer per (assignment, item), and ``answer_count <= answers_wanted`` (a CHECK constraint) on ordinary
microtasks. Submits lock their microtasks first, in id order, so concurrent batches cannot deadlock.
"""

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import psycopg
from django.conf import settings
from psycopg.types.json import set_json_loads

from quorum import metrics

log = logging.getLogger(__name__)

BATCH_SQL = "SELECT quorum_commit_batch(%s::jsonb)"
# "\u0000" as JSON writes it (not a literal backslash before "u0000", which is "\\u0000").
ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class Unstorable(ValueError):
    """An op whose values PostgreSQL cannot store; it is answered on its own, never sent with a batch."""


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class LeaseOp:
    worker_id: int
    job_id: int
    microtask_id: int
    lease_seconds: int
    # The worker's lease limit, counted in PostgreSQL over all their sockets (None: no limit).
    max_leases: int | None = None

    def payload(self) -> dict:
        payload = {
            "op": "l",
            "j": self.job_id,
            "mt": self.microtask_id,
            "w": self.worker_id,
            "secs": self.lease_seconds,
        }
        if self.max_leases is not None:
            payload["max"] = self.max_leases
        return payload

    @staticmethod
    def parse(r: dict) -> "LeaseResult":
        return LeaseResult(
            r.get("ms"), r.get("job"), r.get("rank"), r.get("index"), r.get("a"),
            parse_time(r.get("la")), parse_time(r.get("ea")), r.get("items") or [], bool(r.get("full")),
            bool(r.get("taken")),
        )  # fmt: skip


@dataclass
class LeaseResult:
    microtask_status: str | None
    job_id: int | None
    rank: float | None
    index: int | None
    assignment_id: int | None
    leased_at: datetime | None
    expires_at: datetime | None
    items: list = field(default_factory=list)
    # Refused: the worker already holds their limit of leases (on this socket or others).
    worker_full: bool = False
    # Refused: PostgreSQL has leases or answers for every answer the microtask still wants; Redis's slot was one
    # it should not have had (writes lost in a failover).
    no_free_slot: bool = False


@dataclass
class SubmitOp:
    worker_id: int
    job_id: int
    microtask_id: int
    key: str
    answers: list[dict]
    seconds_taken: float | None
    too_fast: bool = False

    def payload(self) -> dict:
        return {
            "op": "s",
            "j": self.job_id,
            "mt": self.microtask_id,
            "w": self.worker_id,
            "key": self.key,
            "answers": self.answers,
            "secs": self.seconds_taken,
            "flag": "too_fast" if self.too_fast else "",
        }

    @staticmethod
    def parse(r: dict) -> "SubmitResult":
        if r["s"] == "duplicate":
            return SubmitResult("duplicate")
        if r["s"] == "answered":
            return SubmitResult("rejected", reason="already_answered")
        if r["s"] == "skipped":
            return SubmitResult("rejected", reason="skipped")
        if r["s"] == "rejected":
            return SubmitResult("rejected", reason="no_longer_needed")
        return SubmitResult(
            "accepted",
            microtask_done=r["status"] == "done",
            item_count=r["items"] or 0,
            answers=r["n"],
            assignment_id=r["a"],
            is_gold=bool(r["g"]),
        )


@dataclass
class SubmitResult:
    status: str
    reason: str = ""
    microtask_done: bool = False
    item_count: int = 0
    answers: int = 0
    assignment_id: int | None = None
    is_gold: bool = False


@dataclass
class ReleaseOp:
    worker_id: int
    assignment_id: int
    status: str  # "skipped" or "released"

    def payload(self) -> dict:
        return {"op": "r", "a": self.assignment_id, "w": self.worker_id, "status": self.status}

    @staticmethod
    def parse(r: dict) -> "ReleaseResult | None":
        if not r:
            return None
        return ReleaseResult(r["mt"], r["job"], r["rank"], r["index"], r["g"], r["ms"])


@dataclass
class ReleaseResult:
    microtask_id: int
    job_id: int
    rank: float
    index: int
    is_gold: bool
    microtask_status: str


def conninfo() -> str:
    db = settings.DATABASES["default"]
    parts = {
        "dbname": db["NAME"],
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
        "application_name": "quorum-scheduler",
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


class Committer:
    """Runs queued statements in batches: one transaction, one round trip, one fsync per batch."""

    def __init__(self, connections: int = 2, max_batch: int = 256, on_batch=None):
        self.queue: list[tuple[object, asyncio.Future]] = []
        self.ready = asyncio.Event()
        self.connections = connections
        self.max_batch = max_batch
        self.tasks: list[asyncio.Task] = []
        self.batches = 0
        self.statements = 0
        self.conns: list[psycopg.AsyncConnection] = []
        self.busy_seconds = 0.0
        # Called with (ops, results) after each commit, for bookkeeping that must not delay the replies.
        self.on_batch = on_batch

    def start(self) -> None:
        for n in range(self.connections):
            self.tasks.append(asyncio.create_task(self._loop(n), name=f"committer-{n}"))

    async def run(self, op):
        (result,) = await self.run_many([op])
        if isinstance(result, BaseException):
            raise result
        return result

    async def run_many(self, ops: list) -> list:
        """Queue statements that belong together (an answer and the next lease): they land in the same batch.

        Returns one result per op, or the exception that op raised.
        """
        future = asyncio.get_running_loop().create_future()
        self.queue.append((ops, future))
        self.ready.set()
        return await future

    def stats(self) -> dict:
        return {
            "batches": self.batches,
            "statements": self.statements,
            "mean_batch": round(self.statements / self.batches, 1) if self.batches else 0,
            "mean_commit_ms": round(self.busy_seconds / self.batches * 1000, 2) if self.batches else 0,
        }

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()
        self.conns.clear()

    async def _connect(self) -> psycopg.AsyncConnection:
        # The connections an outage closed go; each loop holds one connection, never one per outage.
        self.conns = [conn for conn in self.conns if not conn.closed]
        while True:
            try:
                # Autocommit: the batch is one statement, so it is its own transaction, and the reply comes after
                # the commit in the same round trip (an explicit BEGIN and COMMIT were two more).
                conn = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True)
                set_json_loads(orjson.loads, conn)
                self.conns.append(conn)
                return conn
            except psycopg.OperationalError:
                log.warning("scheduler cannot reach PostgreSQL; retrying", exc_info=True)
                await asyncio.sleep(1)

    async def _loop(self, n: int) -> None:
        conn = await self._connect()
        while True:
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch :]
            if self.queue:
                self.ready.set()
            if conn.closed:
                conn = await self._connect()
            ops = [op for group, _ in batch for op in group]
            started = time.perf_counter()
            try:
                results = await self._execute(conn, ops)
            except Exception:
                log.warning("batch of %d failed; running its statements one by one", len(ops), exc_info=True)
                results, conn = await self._execute_each(conn, ops)
            elapsed = time.perf_counter() - started
            self.batches += 1
            self.statements += len(ops)
            self.busy_seconds += elapsed
            metrics.commit_batch(len(ops), elapsed)
            at = 0
            for group, future in batch:
                if not future.done():
                    future.set_result(results[at : at + len(group)])
                at += len(group)
            if self.on_batch is not None:
                try:
                    self.on_batch(ops, results)
                except Exception:
                    log.warning("batch bookkeeping failed", exc_info=True)

    async def _execute(self, conn: psycopg.AsyncConnection, ops: list) -> list:
        """One round trip: the whole batch goes to ``quorum_commit_batch`` (commit.sql) as JSON.

        An op PostgreSQL could not even read (a NUL character: jsonb has none) gets an ``Unstorable`` result and
        stays out of the batch, so it cannot fail everyone else's statements with it.
        """
        results: list = [None] * len(ops)
        sent: list[int] = []
        parts: list[bytes] = []
        for at, op in enumerate(ops):
            try:
                part = orjson.dumps(op.payload())
            except (TypeError, orjson.JSONEncodeError) as exc:
                results[at] = Unstorable(str(exc))
                continue
            if b"\\u0000" in part and ESCAPED_NUL.search(part):
                results[at] = Unstorable("a NUL character (\\u0000) cannot be stored")
                continue
            sent.append(at)
            parts.append(part)
        if parts:
            cur = await conn.execute(BATCH_SQL, [(b"[" + b",".join(parts) + b"]").decode()])
            (rows,) = await cur.fetchone()
            for at, r in zip(sent, rows, strict=True):
                results[at] = ops[at].parse(r)
        return results

    async def _execute_each(self, conn: psycopg.AsyncConnection, ops: list) -> tuple[list, psycopg.AsyncConnection]:
        """Each op on its own; returns the results and the connection to go on with (a new one if it broke)."""
        results = []
        for op in ops:
            try:
                if conn.closed:
                    conn = await self._connect()
                results.extend(await self._execute(conn, [op]))
            except Exception as exc:  # autocommit: the failed statement rolled itself back
                results.append(exc)
        return results, conn
