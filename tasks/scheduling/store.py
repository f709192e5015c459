"""Durable writes of the hot path, and the group committer that batches them across sockets.

Every lease and every submit is one SQL statement. The committer of an ASGI process gathers the statements that
arrive while the previous commit is in flight and runs them as one transaction in pipeline mode, so a thousand
sockets cost tens of commits a second, not thousands. A socket is answered only after its statement committed:
an acknowledged answer is in PostgreSQL.

Invariants live in the statements and the schema, not in Redis: one assignment per (microtask, worker), one
answer per (assignment, item), and ``answer_count <= answers_wanted`` (a CHECK constraint) on ordinary
microtasks. Submits lock their microtasks first, in id order, so concurrent batches cannot deadlock.
"""

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.conf import settings

log = logging.getLogger(__name__)

# NO KEY UPDATE: it still serialises submits to one microtask, but does not block the foreign-key checks of
# lease inserts (KEY SHARE), which with FOR UPDATE deadlocked against concurrent batches.
LOCK_SQL = "SELECT id FROM tasks_microtask WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"

LEASE_SQL = """
WITH m AS (SELECT id, job_id, index, rank, status FROM tasks_microtask WHERE id = %(mt)s),
a AS (
  INSERT INTO tasks_assignment (microtask_id, job_id, worker_id, status, leased_at, expires_at, review)
  SELECT m.id, m.job_id, %(w)s, 'leased', now(), now() + make_interval(secs => %(secs)s), 'pending'
  FROM m JOIN tasks_job j ON j.id = m.job_id
  WHERE m.status = 'open' AND j.status = 'open'
  ON CONFLICT (microtask_id, worker_id) DO NOTHING
  RETURNING id, leased_at, expires_at
)
SELECT m.status, m.job_id, m.rank, m.index, a.id, a.leased_at, a.expires_at,
       CASE WHEN a.id IS NULL THEN NULL ELSE
         (SELECT json_agg(json_build_object('id', i.id, 'data', i.data) ORDER BY i.position)
          FROM tasks_item i WHERE i.job_id = m.job_id AND i.microtask_index = m.index) END
FROM m LEFT JOIN a ON true
"""

SUBMIT_SQL = """
WITH prior AS (
  SELECT 1 FROM tasks_assignment
  WHERE microtask_id = %(mt)s AND worker_id = %(w)s AND status = 'submitted'
), m AS (
  UPDATE tasks_microtask SET
    answer_count = answer_count + 1,
    status = CASE WHEN NOT is_gold AND answer_count + 1 >= answers_wanted THEN 'done' ELSE status END,
    completed_at = CASE WHEN NOT is_gold AND answer_count + 1 >= answers_wanted THEN now() ELSE completed_at END
  WHERE id = %(mt)s AND status <> 'cancelled' AND (is_gold OR answer_count < answers_wanted)
    AND NOT EXISTS (SELECT 1 FROM prior)
  RETURNING id, job_id, status, item_count, is_gold
), a AS (
  INSERT INTO tasks_assignment (microtask_id, job_id, worker_id, status, leased_at, expires_at, submitted_at,
                                seconds_taken, idempotency_key, review)
  SELECT m.id, m.job_id, %(w)s, 'submitted', now(), now(), now(), %(secs)s, %(key)s, 'pending' FROM m
  ON CONFLICT (microtask_id, worker_id) DO UPDATE SET
    status = 'submitted', submitted_at = now(), seconds_taken = EXCLUDED.seconds_taken,
    idempotency_key = EXCLUDED.idempotency_key
  RETURNING id
), ins AS (
  INSERT INTO tasks_answer (assignment_id, item_id, job_id, worker_id, value, counts, created_at)
  SELECT a.id, (e ->> 'item')::bigint, %(job)s, %(w)s, e -> 'value', true, now()
  FROM a, jsonb_array_elements(%(answers)s::jsonb) e
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM prior), (SELECT status FROM m), (SELECT item_count FROM m),
       (SELECT count(*) FROM ins), (SELECT id FROM a)
"""

RELEASE_SQL = """
UPDATE tasks_assignment a SET status = %(status)s
FROM tasks_microtask m
WHERE a.id = %(id)s AND a.worker_id = %(w)s AND a.status = 'leased' AND m.id = a.microtask_id
RETURNING a.microtask_id, a.job_id, m.rank, m.index, m.is_gold, m.status
"""


@dataclass
class LeaseOp:
    worker_id: int
    microtask_id: int
    lease_seconds: int
    sql = LEASE_SQL

    def params(self) -> dict:
        return {"mt": self.microtask_id, "w": self.worker_id, "secs": self.lease_seconds}

    @staticmethod
    def parse(row) -> "LeaseResult":
        status, job_id, rank, index, assignment_id, leased_at, expires_at, items = row
        if isinstance(items, str):
            items = json.loads(items)
        return LeaseResult(status, job_id, rank, index, assignment_id, leased_at, expires_at, items or [])


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


@dataclass
class SubmitOp:
    worker_id: int
    job_id: int
    microtask_id: int
    key: str
    answers: list[dict]
    seconds_taken: float | None
    sql = SUBMIT_SQL

    def params(self) -> dict:
        return {
            "mt": self.microtask_id,
            "w": self.worker_id,
            "job": self.job_id,
            "key": self.key,
            "answers": json.dumps(self.answers),
            "secs": self.seconds_taken,
        }

    @staticmethod
    def parse(row) -> "SubmitResult":
        duplicate, status, item_count, stored, assignment_id = row
        if duplicate:
            return SubmitResult("duplicate")
        if status is None:
            return SubmitResult("rejected", reason="no_longer_needed")
        return SubmitResult("accepted", microtask_done=status == "done", item_count=item_count or 0, answers=stored)


@dataclass
class SubmitResult:
    status: str
    reason: str = ""
    microtask_done: bool = False
    item_count: int = 0
    answers: int = 0


@dataclass
class ReleaseOp:
    worker_id: int
    assignment_id: int
    status: str  # "skipped" or "released"
    sql = RELEASE_SQL

    def params(self) -> dict:
        return {"id": self.assignment_id, "w": self.worker_id, "status": self.status}

    @staticmethod
    def parse(row) -> "ReleaseResult | None":
        if row is None:
            return None
        microtask_id, job_id, rank, index, is_gold, status = row
        return ReleaseResult(microtask_id, job_id, rank, index, is_gold, status)


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

    def __init__(self, connections: int = 2, max_batch: int = 256):
        self.queue: list[tuple[object, asyncio.Future]] = []
        self.ready = asyncio.Event()
        self.connections = connections
        self.max_batch = max_batch
        self.tasks: list[asyncio.Task] = []
        self.batches = 0
        self.statements = 0
        self.conns: list[psycopg.AsyncConnection] = []

    def start(self) -> None:
        for n in range(self.connections):
            self.tasks.append(asyncio.create_task(self._loop(n), name=f"committer-{n}"))

    async def run(self, op):
        future = asyncio.get_running_loop().create_future()
        self.queue.append((op, future))
        self.ready.set()
        return await future

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()
        self.conns.clear()

    async def _connect(self) -> psycopg.AsyncConnection:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo(), autocommit=False)
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
            try:
                results = await self._execute(conn, [op for op, _ in batch])
            except Exception:
                log.warning("batch of %d failed; running its statements one by one", len(batch), exc_info=True)
                results = await self._execute_each(conn, [op for op, _ in batch])
            self.batches += 1
            self.statements += len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _execute(self, conn: psycopg.AsyncConnection, ops: list) -> list:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            await conn.rollback()
        locks = sorted({op.microtask_id for op in ops if isinstance(op, SubmitOp)})
        cursors = []
        async with conn.pipeline():
            async with conn.transaction():
                if locks:
                    await conn.execute(LOCK_SQL, [locks])
                for op in ops:
                    cur = conn.cursor()
                    await cur.execute(op.sql, op.params())
                    cursors.append(cur)
        return [op.parse(await cur.fetchone()) for op, cur in zip(ops, cursors, strict=True)]

    async def _execute_each(self, conn: psycopg.AsyncConnection, ops: list) -> list:
        results = []
        for op in ops:
            try:
                if conn.closed:
                    conn = await self._connect()
                results.extend(await self._execute(conn, [op]))
            except Exception as exc:
                try:
                    await conn.rollback()
                except Exception:
                    pass
                results.append(exc)
        return results
