"""The scheduler inside one ASGI process: worker sessions, picking and leasing, submits, control messages.

One ``Runtime`` per event loop. The WebSocket consumer hands it a ``WorkerSession`` and the messages it
receives; the runtime answers on the session's socket directly, so the per-answer path never goes through the
channel layer (a message there costs about 1 ms of CPU; a direct reply a tenth of that).

The per-answer path: Lua pick of the next microtask in Redis, then the submit and the next lease go to the
group committer together; after the commit, ``answer.ack`` and ``task.assigned`` go back in one go.
Processes coordinate through Redis pub/sub (``keys.control_channel``): work available, job changed, lease
expired, worker blocked.
"""

import asyncio
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from datetime import datetime

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from quorum import events, gc_pacing, metrics
from quorum.redis import get_async_redis, get_async_subscriber
from tasks.aggregation.gold import gold_rate
from tasks.forms import Form
from tasks.media import lease_media, media_columns_of

from . import keys, leases, pool, progress
from .store import Committer, LeaseOp, LeaseResult, ReleaseOp, SubmitOp, SubmitResult, Unstorable

log = logging.getLogger(__name__)

MIN_LEASE_SECONDS = 30
# Picks in a row that PostgreSQL may refuse as past their redundancy before a session is told there is no work.
MAX_STRAY_PICKS = 64
# TAKE_SLOT's count that takes a microtask's every slot, and so the microtask out of the pool.
ALL_SLOTS = 1 << 30


def in_db_thread(fn):
    """Run ORM work of one session in any pool thread (its own connection), not the single shared one: a
    thousand workers connecting at once would otherwise queue behind each other."""
    return database_sync_to_async(fn, thread_sensitive=False)


@dataclass
class JobInfo:
    id: int
    name: str
    instructions: str
    question: str
    question_type: str
    options: list
    text_field: str
    priority: int
    required_skill: str
    required_skill_level: float
    lease_seconds: int
    median_seconds_per_item: float | None
    min_seconds_per_item: float = 0.0
    items_per_microtask: int = 1
    status: str = "open"
    shown_fields: list = field(default_factory=list)
    form: Form | None = None
    # {column: kind} of the form's media blocks: each item of a lease gets a URL per column (tasks/media.py).
    media_columns: dict = field(default_factory=dict)
    # The demo job: fed to a worker working on "any job" only when no real job has work for them.
    demo: bool = False

    def __post_init__(self) -> None:
        if self.form is not None:
            self.media_columns = media_columns_of(self.form)

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "instructions": self.instructions,
            "question": self.question,
            "question_type": self.question_type,
            "options": self.options,
            **self.form.public(),
        }


@dataclass
class Lease:
    assignment_id: int
    microtask_id: int
    job_id: int
    leased_at: datetime
    expires_at: datetime
    item_ids: list[int]
    message: dict
    late: bool = False


@dataclass(eq=False)
class WorkerSession:
    worker_id: int
    username: str
    send: object  # async callable taking a dict
    blocked: bool = False
    max_leases: int = 1
    skills: dict = field(default_factory=dict)
    blocked_jobs: set = field(default_factory=set)
    gold_total: int = 0
    gold_correct: int = 0
    leases: dict[int, Lease] = field(default_factory=dict)
    # Leases that expired while the socket was open: a late answer to them is still taken if needed.
    late: dict[int, Lease] = field(default_factory=dict)
    closed: bool = False
    # Registered with the runtime (sessions, the worker's connection count): close_session undoes it once.
    registered: bool = False
    # The last lease was refused: the worker holds their limit of leases across all their sockets.
    full: bool = False
    idle: bool = False
    retry: bool = False
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Leases held beyond the profile's limit: a worker page asks for one microtask ahead (``?ahead=1``) so the
    # next microtask's media load while the worker answers this one.
    ahead: int = 0
    # The job the worker chose on the job board (``?job=<id>``); None: any job.
    chosen_job: int | None = None

    def can_take(self, job: JobInfo) -> bool:
        if job.id in self.blocked_jobs:
            return False
        if job.required_skill:
            return self.skills.get(job.required_skill, -math.inf) >= job.required_skill_level
        return True


def gold_probability(gold_total: int, gold_correct: int) -> float:
    """Share of leases that are gold checks: high for a new worker, lower as they prove accurate."""
    return gold_rate(gold_total, gold_correct)


def lease_seconds_for(job: JobInfo, item_count: int, speed: float | None) -> int:
    """The cost model: expected time t of the microtask over the worker's speed r; lease = 4 p, within limits."""
    if not job.median_seconds_per_item or not speed:
        return job.lease_seconds
    expected = job.median_seconds_per_item * max(item_count, 1) / speed
    return int(min(job.lease_seconds, max(MIN_LEASE_SECONDS, math.ceil(4 * expected))))


def item_text(data: dict, text_field: str, shown_fields: list | None = None) -> str:
    """What a worker reads: the text column alone, or each shown column as "name: value" (text column first).

    ``data`` holds only the shown columns already (commit.sql filters them).
    """
    if text_field and text_field in data and len(data) == 1:
        value = data[text_field]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    order = [text_field, *(shown_fields or [])] if text_field or shown_fields else list(data)
    names = [name for name in dict.fromkeys(order) if name in data]
    names += [name for name in data if name not in names]
    return "\n".join(f"{name}: {data[name]}" for name in names)


MAX_KEY_LENGTH = 64  # tasks_assignment.idempotency_key


def key_problem(key: str) -> str:
    """What is wrong with an idempotency key ("" when nothing): it is stored, so printable and bounded."""
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        return f"key must be 1 to {MAX_KEY_LENGTH} characters long"
    if not key.isprintable():
        return "key must be printable characters only (no NUL or other control characters)"
    return ""


class Picker:
    """Picks that arrive together go to Redis in one script call, as answers go to PostgreSQL in one commit."""

    def __init__(self, script, prefix: str, max_batch: int = 200):
        self.script = script
        self.prefix = prefix
        self.keys = [keys.jobs()]  # routes the call in a Redis Cluster: the pick state's slot
        self.max_batch = max_batch
        self.queue: list[tuple[list, asyncio.Future]] = []
        self.ready = asyncio.Event()

    async def pick(self, worker_id: int, try_gold: str, jobs: list[int]) -> str:
        future = asyncio.get_running_loop().create_future()
        self.queue.append(([worker_id, try_gold, len(jobs), *jobs], future))
        self.ready.set()
        return await future

    async def run(self) -> None:
        while True:
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch :]
            args = [self.prefix, len(batch)]
            for request, _ in batch:
                args.extend(request)
            try:
                results = await self.script(keys=self.keys, args=args)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


class Runtime:
    _instances: dict[int, "Runtime"] = {}

    @classmethod
    def get(cls) -> "Runtime":
        loop = asyncio.get_running_loop()
        runtime = cls._instances.get(id(loop))
        if runtime is None or runtime.loop is not loop:
            runtime = cls._instances[id(loop)] = cls(loop)
        return runtime

    def __init__(self, loop):
        self.loop = loop
        self.prefix = keys.prefix()
        self.redis = get_async_redis(max_connections=64)
        self.picks = Picker(self.redis.register_script(pool.PICK), self.prefix)
        self.return_script = self.redis.register_script(pool.RETURN_SLOT)
        self.take_script = self.redis.register_script(pool.TAKE_SLOT)
        self.committer = Committer(
            connections=int(getattr(settings, "QUORUM_COMMIT_CONNECTIONS", 2)), on_batch=self.record_batch
        )
        self.jobs: dict[int, JobInfo] = {}
        self.open_jobs: dict[int, dict] = {}
        self.sessions: dict[int, set[WorkerSession]] = {}
        self.idle: set[WorkerSession] = set()
        self.touched_jobs: set[int] = set()
        self.speeds: dict[str, str] = {}
        self.started = False
        self.start_lock = asyncio.Lock()
        self.filling: set[int] = set()
        self.background: list[asyncio.Task] = []
        # The control listener and the periodic loops, for the life of the runtime.
        self.services: list[asyncio.Task] = []

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def ensure_started(self) -> None:
        if self.started:
            return
        async with self.start_lock:
            if self.started:
                return
            gc_pacing.start(self.loop)
            self.committer.start()
            self.background.append(asyncio.create_task(self.picks.run()))
            await self.refresh_open_jobs()
            await self.refresh_speeds()
            for coro in (
                self.listen_control(),
                self.every(2, self.refresh_open_jobs),
                self.every(30, self.refresh_speeds),
                self.every(1, self.flush_progress),
                self.every(1, self.flush_metrics),
            ):
                # Held here: the loop keeps only weak references to tasks, and one waiting on a connection no
                # other object holds (the cluster's subscriber) would be collected mid-wait.
                self.services.append(asyncio.create_task(coro))
            self.started = True

    async def shutdown(self) -> None:
        """Stop background tasks and close connections (tests; a server process simply exits)."""
        for task in self.services + list(self.background) + self.committer.tasks:
            task.cancel()
        await asyncio.gather(*self.services, *self.background, *self.committer.tasks, return_exceptions=True)
        await self.committer.close()
        await self.redis.aclose()
        gc_pacing.stop()
        self._instances.pop(id(self.loop), None)

    @classmethod
    def holds_lease_here(cls, worker_id: int, microtask_id: int) -> bool:
        """Whether a socket of this process holds the worker's live lease on the microtask (the media endpoint
        asks this first: most fetches come from the process that pushed the task, and then need no SQL)."""
        runtime = cls._instances.get(id(asyncio.get_running_loop()))
        if runtime is None:
            return False
        now = time.time()
        return any(
            lease.microtask_id == microtask_id and lease.expires_at.timestamp() > now
            for session in runtime.sessions.get(worker_id, ())
            for lease in session.leases.values()
        )

    @classmethod
    async def shutdown_current(cls) -> None:
        from workers.lookups import Lookups

        runtime = cls._instances.get(id(asyncio.get_running_loop()))
        if runtime is not None:
            await runtime.shutdown()
        await Lookups.close_current()

    async def every(self, seconds: float, fn) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:
                log.warning("periodic %s failed", fn.__name__, exc_info=True)

    async def refresh_open_jobs(self) -> None:
        raw = await self.redis.hgetall(keys.jobs())
        if not raw and not await self.redis.exists(keys.epoch()):
            await database_sync_to_async(pool.jobs_sync)()
            raw = await self.redis.hgetall(keys.jobs())
        self.open_jobs = {int(k): json.loads(v) for k, v in raw.items()}
        missing = [j for j in self.open_jobs if j not in self.jobs]
        if missing:
            await self.load_jobs(missing)

    async def refresh_speeds(self) -> None:
        """Workers' measured speeds (pace.py writes them every minute); one entry per worker, so not every 2 s."""
        self.speeds = await self.redis.hgetall(f"{self.prefix}:speed")

    async def load_jobs(self, job_ids) -> None:
        from tasks.models import Job

        def load():
            return list(Job.objects.filter(pk__in=list(job_ids)))

        for job in await database_sync_to_async(load)():
            self.jobs[job.pk] = JobInfo(
                job.pk, job.name, job.instructions, job.question, job.question_type, list(job.options or []),
                job.text_field, job.priority, job.required_skill, job.required_skill_level, job.lease_seconds,
                job.median_seconds_per_item, job.min_seconds_per_item, job.items_per_microtask, job.status,
                list(job.shown_fields or []), Form.for_job(job), demo=job.demo,
            )  # fmt: skip

    async def listen_control(self) -> None:
        while True:
            # On a Redis Cluster, a plain client of one node (PUBLISH reaches every node).
            subscriber = get_async_subscriber()
            try:
                pubsub = (subscriber or self.redis).pubsub()
                await pubsub.subscribe(keys.control_channel())
                # Messages may have been missed while unsubscribed: let idle sessions look again.
                self.wake_idle()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.on_control(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("control channel lost; resubscribing", exc_info=True)
                await asyncio.sleep(1)
            finally:
                if subscriber is not None:
                    await subscriber.aclose()

    async def on_control(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "work.available":
            self.wake_idle()
        elif kind == "job.changed":
            await self.load_jobs([msg["job_id"]])
            job = self.jobs.get(msg["job_id"])
            if job is not None and job.status == "cancelled":
                # Its microtasks were cancelled with it: the leases out on them end now (a paused job's do not).
                for group in list(self.sessions.values()):
                    for session in list(group):
                        for lease in [lease for lease in session.leases.values() if lease.job_id == job.id]:
                            await self.release(session, lease, "released", reason="job_cancelled")
            await self.refresh_open_jobs()
            if msg.get("open"):
                self.wake_idle()
        elif kind == "lease.expired":
            for session in list(self.sessions.get(msg["worker_id"], ())):
                lease = session.leases.pop(msg["assignment_id"], None)
                if lease is not None:
                    # Keep it: a late answer is still accepted while the microtask needs answers.
                    lease.late = True
                    session.late[lease.assignment_id] = lease
                    await self.safe_send(
                        session, {"type": "task.revoked", "assignment_id": lease.assignment_id, "reason": "expired"}
                    )
                    self.spawn_fill(session)
        elif kind == "earnings.changed":
            # Money moved (an accept, a bonus, a payout): the worker's pages re-read it over HTTP.
            for worker_id in msg.get("worker_ids", ()):
                for session in list(self.sessions.get(worker_id, ())):
                    await self.safe_send(session, {"type": "earnings.changed"})
        elif kind in ("worker.blocked", "worker.changed"):
            for session in list(self.sessions.get(msg["worker_id"], ())):
                await self.reload_worker(session)
                for lease in list(session.leases.values()):
                    if session.blocked or lease.job_id in session.blocked_jobs:
                        await self.release(session, lease, "released", reason="blocked")
                if session.blocked:
                    await self.safe_send(session, {"type": "task.none", "reason": "blocked"})
                else:
                    self.spawn_fill(session)

    def wake_idle(self) -> None:
        for session in list(self.idle):
            self.spawn_fill(session)

    # --- sessions --------------------------------------------------------------------------------------------

    async def open_session(self, session: WorkerSession) -> None:
        """Register a new socket, send ``session.ready`` and the worker's live leases, then fill up.

        Whatever happens here (the socket gone mid-way, an error), the consumer calls ``close_session``: a socket
        that is gone must never stay registered, or the worker shows online forever and their leases are no
        longer cut to the reconnect grace when they leave.
        """
        await self.ensure_started()
        await self.reload_worker(session)
        if session.closed:
            return
        self.sessions.setdefault(session.worker_id, set()).add(session)
        session.registered = True
        metrics.socket_opened()
        await self.redis.incr(keys.connections(session.worker_id))
        await self.redis.zadd(keys.online(), {session.worker_id: time.time()})
        await self.safe_send(
            session,
            {
                "type": "session.ready",
                "worker": {"id": session.worker_id, "username": session.username},
                "max_leases": session.max_leases,
            },
        )
        for active in await in_db_thread(leases.leases_resume)(session.worker_id):
            if active.job_id not in self.jobs:
                await self.load_jobs([active.job_id])
            lease = self.make_lease(
                active.assignment_id,
                active.microtask_id,
                active.job_id,
                active.leased_at,
                active.expires_at,
                active.items,
                session.worker_id,
            )
            session.leases[lease.assignment_id] = lease
            if session.chosen_job not in (None, active.job_id):
                # The worker chose another job on the board: this one's microtask goes back to the others.
                await self.release(session, lease, "released", reason="other_job")
                continue
            await self.safe_send(session, lease.message)
        await self.fill(session)

    async def close_session(self, session: WorkerSession) -> None:
        """The socket is gone: forget it (once, however often this is called) and, when it was the worker's
        last, hold their leases for the reconnect grace only."""
        session.closed = True
        self.idle.discard(session)
        if not session.registered:
            return
        session.registered = False
        metrics.socket_closed()
        group = self.sessions.get(session.worker_id)
        if group is not None:
            group.discard(session)
            if not group:
                del self.sessions[session.worker_id]
        try:
            remaining = await self.redis.decr(keys.connections(session.worker_id))
            if remaining <= 0:
                await self.redis.zrem(keys.online(), session.worker_id)
        except Exception:
            # Redis cannot say whether other sockets of the worker are open elsewhere: keep their leases (they
            # expire on their own time), rather than cut the leases of someone still at work.
            log.warning("could not count the sockets of worker %s", session.worker_id, exc_info=True)
            return
        if remaining <= 0 and session.worker_id not in self.sessions:
            # Even when this socket holds none: opening it may have resumed (lengthened) the worker's leases.
            await in_db_thread(leases.leases_hold_for_reconnect)(session.worker_id)

    async def reload_worker(self, session: WorkerSession) -> None:
        from workers.lookups import Lookups

        state = await Lookups.get().worker_state(session.worker_id)
        session.blocked_jobs = state.blocked_jobs
        if state.has_profile:
            session.blocked = state.blocked
            session.max_leases = max(1, state.max_leases) + session.ahead
            session.gold_total = state.gold_total
            session.gold_correct = state.gold_correct
        session.skills = state.skills

    async def safe_send(self, session: WorkerSession, message: dict) -> None:
        if session.closed:
            return
        try:
            await session.send(message)
        except Exception:
            session.closed = True

    # --- leasing ---------------------------------------------------------------------------------------------

    def make_lease(self, assignment_id, microtask_id, job_id, leased_at, expires_at, items, worker_id: int) -> Lease:
        job = self.jobs[job_id]
        if isinstance(leased_at, str):
            leased_at = datetime.fromisoformat(leased_at)
        media = lease_media(job_id, job.media_columns, worker_id, microtask_id, expires_at.timestamp())
        message = {
            "type": "task.assigned",
            "assignment": {
                "id": assignment_id,
                "microtask_id": microtask_id,
                "expires_at": expires_at.isoformat(),
                "lease_seconds": max(0, round((expires_at - leased_at).total_seconds())),
            },
            "job": job.public(),
            "items": [
                {
                    "id": i["id"],
                    "data": i["data"],
                    "text": item_text(i["data"], job.text_field, job.shown_fields),
                    "media": media(i["data"]),
                }
                for i in items
            ],
        }
        return Lease(assignment_id, microtask_id, job_id, leased_at, expires_at, [i["id"] for i in items], message)

    def job_order(self, session: WorkerSession) -> list[int]:
        """Eligible open jobs in a priority lottery order: weight = priority, so none starves. A worker who chose a
        job gets only that one; on "any job" the demo job comes last, after every real job."""
        candidates = [
            (job_id, max(1, int(meta.get("priority") or 1)))
            for job_id, meta in self.open_jobs.items()
            if job_id in self.jobs and session.can_take(self.jobs[job_id]) and session.chosen_job in (None, job_id)
        ]
        demo = [job_id for job_id, _ in candidates if self.jobs[job_id].demo]
        if demo:
            candidates = [jw for jw in candidates if not self.jobs[jw[0]].demo]
        if len(candidates) > 1:
            # Weighted sampling without replacement (Efraimidis-Spirakis keys).
            candidates.sort(key=lambda jw: random.random() ** (1.0 / jw[1]), reverse=True)
        return [job_id for job_id, _ in candidates] + demo

    async def pick(self, session: WorkerSession) -> tuple[str, int, int] | None:
        """Choose a microtask for the session in Redis; None when there is no work for this worker."""
        if session.blocked:
            return None
        try_gold = "1" if random.random() < gold_probability(session.gold_total, session.gold_correct) else "0"
        for _ in range(6):
            order = self.job_order(session)
            if not order:
                return None
            result = (await self.picks.pick(session.worker_id, try_gold, order)).split(":")
            kind = result[0]
            if kind == "none":
                return None
            if kind == "resync":
                await database_sync_to_async(pool.jobs_sync)()
                await self.refresh_open_jobs()
                continue
            if kind == "fill":
                await self.fill_pool(int(result[1]))
                continue
            if result[3] == "1":
                self.spawn_pool_fill(int(result[1]))
            return kind, int(result[1]), int(result[2])
        return None

    async def fill_pool(self, job_id: int) -> None:
        if not await database_sync_to_async(pool.pool_fill)(job_id):
            await asyncio.sleep(0.05)  # another process is filling it

    def spawn_pool_fill(self, job_id: int) -> None:
        if job_id in self.filling:
            return
        self.filling.add(job_id)

        async def run():
            try:
                await self.fill_pool(job_id)
            finally:
                self.filling.discard(job_id)

        asyncio.create_task(run())

    def lease_op(self, session: WorkerSession, picked) -> LeaseOp:
        _, job_id, microtask_id = picked
        speed = self.speeds.get(str(session.worker_id))
        job = self.jobs[job_id]
        # The microtask's own count is in its row, read by the lease itself; a full one is the most it can be.
        seconds = lease_seconds_for(job, job.items_per_microtask, float(speed) if speed else None)
        return LeaseOp(session.worker_id, job_id, microtask_id, seconds, session.max_leases)

    async def lease_made(self, session: WorkerSession, picked, result) -> Lease | None:
        """The committed lease, or None: then the pick's slot goes back if the microtask is still open."""
        kind, job_id, microtask_id = picked
        if isinstance(result, BaseException):
            log.warning("lease failed", exc_info=result)
            result = None
        if result is not None and (result.worker_full or result.no_free_slot):
            # The microtask was never theirs, so they may pick it again later (the pick had marked it seen).
            await self.redis.srem(keys.seen(microtask_id), session.worker_id)
        if result is not None and result.worker_full:
            session.full = True  # they hold their limit on other sockets
        if result is None or result.assignment_id is None:
            if result is not None and result.no_free_slot:
                # PostgreSQL has every answer it wants leased or given: the microtask leaves the pool until a
                # lease of it ends (its slot then comes back as any other).
                await self.take_script(keys=[keys.slots(job_id)], args=[self.prefix, job_id, microtask_id, ALL_SLOTS])
            elif kind == "task" and result is not None and result.microtask_status == "open":
                score = keys.pool_score(result.rank, result.index)
                await self.return_script(keys=[keys.slots(job_id)], args=[self.prefix, job_id, microtask_id, score])
            elif result is not None and result.microtask_status in ("done", "cancelled"):
                await self.redis.zrem(keys.pool(job_id), microtask_id)
            return None
        return self.make_lease(
            result.assignment_id,
            microtask_id,
            job_id,
            result.leased_at,
            result.expires_at,
            result.items,
            session.worker_id,
        )

    async def next_lease(self, session: WorkerSession, *, capacity: int) -> Lease | None:
        """Pick and make a durable lease; None when there is no work for the session. A pick PostgreSQL refuses
        because the microtask is done or has no free slot (Redis lost track of it) is not counted among the tries:
        after a Redis failover many workers' first picks can meet such microtasks, each leaving the pool as met."""
        session.full = False
        tries = stray = 0
        while tries < 4 and stray < MAX_STRAY_PICKS:
            if len(session.leases) >= capacity or session.closed or session.full:
                return None
            picked = await self.pick(session)
            if picked is None:
                return None
            result = (await self.committer.run_many([self.lease_op(session, picked)]))[0]
            lease = await self.lease_made(session, picked, result)
            if lease is not None:
                return lease
            if isinstance(result, LeaseResult) and (result.no_free_slot or result.microtask_status != "open"):
                stray += 1  # it left the pool
            else:
                tries += 1
        return None

    def spawn_fill(self, session: WorkerSession) -> None:
        asyncio.create_task(self.fill(session))

    async def fill(self, session: WorkerSession) -> None:
        """Give the session work up to its lease limit, or tell it there is none (and wake it later)."""
        if session.closed:
            return
        async with session.busy:
            try:
                while not session.closed and len(session.leases) < session.max_leases:
                    lease = await self.next_lease(session, capacity=session.max_leases)
                    if lease is None:
                        break
                    session.leases[lease.assignment_id] = lease
                    self.idle.discard(session)
                    await self.safe_send(session, lease.message)
                session.retry = False
            except Exception:
                log.warning("could not lease work for worker %s", session.worker_id, exc_info=True)
                session.retry = True
            if not session.leases and not session.closed:
                if session not in self.idle:
                    self.idle.add(session)
                    await self.safe_send(
                        session, {"type": "task.none", "reason": "blocked" if session.blocked else "no_work"}
                    )

    # --- answers ---------------------------------------------------------------------------------------------

    async def submit(self, session: WorkerSession, msg: dict) -> None:
        key = msg.get("key")
        assignment_id = msg.get("assignment_id")
        answers = msg.get("answers")
        if (
            not isinstance(key, str)
            or type(assignment_id) is not int  # not true, not 1.0
            or not 0 < assignment_id < 2**63
            or not isinstance(answers, list)
        ):
            await self.safe_send(
                session,
                {
                    "type": "error",
                    "code": "bad_submit",
                    "message": "answer.submit needs key (≤64 chars), assignment_id and answers",
                },
            )
            return
        ack = {"type": "answer.ack", "key": key, "assignment_id": assignment_id}
        if problem := key_problem(key):
            # Answered under the key it came with, so the client stops resending it.
            await self.safe_send(session, {**ack, "status": "rejected", "reason": "invalid", "message": problem})
            return
        lease = session.leases.get(assignment_id) or session.late.get(assignment_id)
        if lease is None:
            found = await in_db_thread(leases.lease_lookup)(session.worker_id, assignment_id)
            if found is None:
                await self.safe_send(session, {**ack, "status": "rejected", "reason": "not_your_lease"})
                return
            if found.blocked:
                await self.safe_send(session, {**ack, "status": "rejected", "reason": "blocked"})
                return
            if found.job_id not in self.jobs:
                await self.load_jobs([found.job_id])
            lease = self.make_lease(
                found.assignment_id,
                found.microtask_id,
                found.job_id,
                found.leased_at,
                found.expires_at,
                found.items,
                session.worker_id,
            )
            lease.late = True
        if session.blocked or lease.job_id in session.blocked_jobs:
            # Blocking revoked this lease; an answer sent after that does not count (lease_lookup says so too).
            await self.safe_send(session, {**ack, "status": "rejected", "reason": "blocked"})
            return
        if lease.job_id not in self.jobs:
            await self.load_jobs([lease.job_id])
        job = self.jobs.get(lease.job_id)
        problem = self.check_answers(job, lease, answers)
        if problem:
            await self.safe_send(session, {**ack, "status": "rejected", "reason": "invalid", "message": problem})
            return
        seconds = max(0.0, (time.time() - lease.leased_at.timestamp()))
        answers = [{"item": a["item"], "value": job.form.normalise(a["value"])} for a in answers]
        too_fast = seconds < job.min_seconds_per_item * len(answers)
        op = SubmitOp(session.worker_id, lease.job_id, lease.microtask_id, key, answers, seconds, too_fast)
        async with session.busy:
            session.leases.pop(assignment_id, None)
            session.late.pop(assignment_id, None)
            # Pick the next microtask now, so the answer and the next lease share one commit.
            picked = None
            if not session.closed and len(session.leases) < session.max_leases:
                try:
                    picked = await self.pick(session)
                except Exception:
                    log.warning("pick failed for worker %s", session.worker_id, exc_info=True)
            ops = [op] + ([self.lease_op(session, picked)] if picked else [])
            results = await self.committer.run_many(ops)
            result = results[0]
            if isinstance(result, BaseException):
                if not lease.late:
                    session.leases[assignment_id] = lease  # the lease still waits for a good answer
                if isinstance(result, Unstorable):
                    reply = {**ack, "status": "rejected", "reason": "invalid", "message": str(result)}
                else:
                    log.warning("submit failed for worker %s", session.worker_id, exc_info=result)
                    reply = {
                        **ack,
                        "status": "rejected",
                        "reason": "retry",
                        "message": "could not store the answer; send it again",
                    }
                await self.safe_send(session, reply)
            else:
                reply = {**ack, "status": result.status}
                if result.reason:
                    reply["reason"] = result.reason
                await self.safe_send(session, reply)
            nxt = await self.lease_made(session, picked, results[1]) if picked else None
            if nxt is not None:
                session.leases[nxt.assignment_id] = nxt
                self.idle.discard(session)
                await self.safe_send(session, nxt.message)
        if (
            not isinstance(result, BaseException)
            and result.status == "accepted"
            and lease.late
            and not result.microtask_done
        ):
            await self.take_script(
                keys=[keys.slots(lease.job_id)], args=[self.prefix, lease.job_id, lease.microtask_id]
            )
        if not session.leases:
            await self.fill(session)

    def check_answers(self, job: JobInfo | None, lease: Lease, answers: list) -> str:
        if job is None:
            return "unknown job"
        given = {}
        for answer in answers:
            if not isinstance(answer, dict) or "item" not in answer or "value" not in answer:
                return "each answer needs item and value"
            if type(answer["item"]) is not int:  # not 1.0, not true, not [1]: the id as the task gave it
                return f"item {answer['item']!r} is not an item id (an integer)"
            given[answer["item"]] = answer["value"]
        if len(given) != len(answers):
            return "answer every item of the microtask exactly once (an item is answered twice)"
        if extra := sorted(set(given) - set(lease.item_ids)):
            return f"item {extra[0]} is not part of this microtask"
        if missing := [item_id for item_id in lease.item_ids if item_id not in given]:
            return f"item {missing[0]} has no answer; answer every item of the microtask"
        for item in lease.message["items"]:  # the items as the worker got them: some answers are checked against them
            item_id = item["id"]
            if problem := job.form.answer_problem(given[item_id], item["data"] or {}):
                return f"item {item_id}: {problem}"
        return ""

    def record_batch(self, ops: list, results: list) -> None:
        """After each commit: dashboard counters and pool clean-up for the accepted answers, in one pipeline."""
        accepted = [
            (op, res)
            for op, res in zip(ops, results, strict=True)
            if isinstance(op, SubmitOp) and isinstance(res, SubmitResult) and res.status == "accepted"
        ]
        if accepted:
            task = asyncio.create_task(self.record_answers(accepted))
            self.background.append(task)
            task.add_done_callback(self.background.remove)

    async def record_answers(self, accepted: list) -> None:
        now = time.time()
        bucket = int(now // 10)
        per_job: dict[int, dict] = {}
        pipe = self.redis.pipeline(transaction=False)
        for op, res in accepted:
            tally = per_job.setdefault(op.job_id, {"answers": 0, "microtasks_done": 0, "items_done": 0, "active": {}})
            tally["answers"] += res.answers
            tally["active"][op.worker_id] = now
            if res.is_gold:
                pipe.rpush(f"{self.prefix}:goldcheck", res.assignment_id)
            if res.microtask_done:
                tally["microtasks_done"] += 1
                tally["items_done"] += res.item_count
                pipe.zrem(keys.pool(op.job_id), op.microtask_id)
                pipe.hdel(keys.slots(op.job_id), op.microtask_id)
                pipe.delete(keys.seen(op.microtask_id))
                pipe.rpush(f"{self.prefix}:aggregate", f"{op.job_id}:{op.microtask_id}")
        for job_id, tally in per_job.items():
            for name in ("answers", "microtasks_done", "items_done"):
                if tally[name]:
                    pipe.hincrby(keys.counts(job_id), name, tally[name])
            pipe.incrby(keys.rate(job_id, bucket), tally["answers"])
            pipe.expire(keys.rate(job_id, bucket), 120)
            pipe.zadd(keys.active(job_id), tally["active"])
            pipe.sadd(f"{self.prefix}:dirty", job_id)
        metrics.answers_committed(sum(tally["answers"] for tally in per_job.values()), len(accepted))
        try:
            await pipe.execute()
        except Exception:
            log.warning("could not record answers in Redis", exc_info=True)
        self.touched_jobs.update(per_job)

    async def skip(self, session: WorkerSession, msg: dict) -> None:
        assignment_id = msg.get("assignment_id")
        lease = session.leases.get(assignment_id) if type(assignment_id) is int else None
        if lease is None:
            await self.safe_send(session, {"type": "error", "code": "unknown_assignment", "message": "no such lease"})
            return
        async with session.busy:
            await self.release(session, lease, "skipped", reason="skipped")
        await self.fill(session)

    async def release(self, session: WorkerSession, lease: Lease, status: str, *, reason: str) -> None:
        session.leases.pop(lease.assignment_id, None)
        released = await self.committer.run(ReleaseOp(session.worker_id, lease.assignment_id, status))
        await self.safe_send(session, {"type": "task.revoked", "assignment_id": lease.assignment_id, "reason": reason})
        if released is not None and not released.is_gold and released.microtask_status == "open":
            await self.return_script(
                keys=[keys.slots(released.job_id)],
                args=[
                    self.prefix,
                    released.job_id,
                    released.microtask_id,
                    keys.pool_score(released.rank, released.index),
                ],
            )
            # PUBLISH as a plain command: redis.asyncio's cluster client has no publish().
            await self.redis.execute_command(
                "PUBLISH", keys.control_channel(), json.dumps({"type": "work.available", "job_id": released.job_id})
            )

    # --- dashboards ------------------------------------------------------------------------------------------

    async def publish_stats(self) -> None:
        """This process's scheduler figures, for the operations page (expire if the process dies)."""
        stats = {
            "sessions": sum(len(group) for group in self.sessions.values()),
            "idle": len(self.idle),
            "leases": sum(len(s.leases) for group in self.sessions.values() for s in group),
            **self.committer.stats(),
            "at": round(time.time(), 1),
        }
        name = f"{keys.prefix()}:process:{os.getpid()}"
        await self.redis.set(name, json.dumps(stats), ex=15)

    async def flush_metrics(self) -> None:
        """The answer path counts in plain integers (quorum/metrics.py); once a second they become metrics."""
        metrics.flush()

    async def flush_progress(self) -> None:
        touched, self.touched_jobs = self.touched_jobs, set()
        layer = get_channel_layer()
        if layer is None:
            return
        for job_id in touched:
            if not await self.redis.hexists(keys.counts(job_id), "seeded"):
                await database_sync_to_async(progress.job_counts_seed)(job_id)
            counts = await progress.job_live_counts(self.redis, job_id)
            await layer.group_send(
                events.job_group(job_id), {"type": "job.progress", "job_id": job_id, "counts": counts}
            )
