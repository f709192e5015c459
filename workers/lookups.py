"""The reads a WebSocket connect needs (who holds this token, what this worker may do), those of the upload
gate before a body is read (whose session this is, may they upload to this job), and those of the media endpoint
(quorum/media_serving.py: where this file is, may this caller see it), on the event loop.

A crowd connects in bursts: after a deploy or a network blip thousands of sockets arrive within seconds. Each
read here is one SQL round trip on a connection of the ASGI process's own, awaited on the loop, instead of ORM
queries that queue for a thread: under such a burst those queues grew past the WebSocket handshake timeout and
connections were dropped.
"""

import asyncio
import logging
import re
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

log = logging.getLogger(__name__)
# What a Django session key looks like; anything else (a NUL, say) is no key.
SESSION_KEY_FORM = re.compile(r"[a-z0-9]{1,40}")
# Media lookups in one query at most.
MEDIA_BATCH = 500


@dataclass
class WorkerState:
    """What the scheduler needs to know about a worker when their socket opens."""

    blocked: bool = False
    max_leases: int = 1
    gold_total: int = 0
    gold_correct: int = 0
    skills: dict[str, float] = field(default_factory=dict)
    blocked_jobs: set[int] = field(default_factory=set)
    has_profile: bool = False


def _tables() -> dict[str, str]:
    from django.contrib.sessions.models import Session
    from rest_framework.authtoken.models import Token

    from tasks.models import Assignment, Job, JobWorker, MediaFile
    from workers.models import User, WorkerProfile, WorkerSkill

    return {
        "job": Job._meta.db_table,
        "media": MediaFile._meta.db_table,
        "assignment": Assignment._meta.db_table,
        "session": Session._meta.db_table,
        "token": Token._meta.db_table,
        "user": User._meta.db_table,
        "profile": WorkerProfile._meta.db_table,
        "skill": WorkerSkill._meta.db_table,
        "jobworker": JobWorker._meta.db_table,
    }


class Lookups:
    """One per event loop (an ASGI process has one; tests may run several), with one connection."""

    _instances: dict[int, "Lookups"] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.conn: psycopg.AsyncConnection | None = None
        self.connecting = asyncio.Lock()
        t = _tables()
        self.user_sql = (
            f"SELECT u.id, u.username, u.role, u.is_active, u.is_staff, u.is_superuser, k.created AS token_created"
            f" FROM {t['token']} k JOIN {t['user']} u ON u.id = k.user_id WHERE k.key = %s"
        )
        self.worker_sql = (
            f"SELECT p.id IS NOT NULL AS has_profile, p.blocked, p.max_leases, p.gold_total, p.gold_correct,"
            f" COALESCE((SELECT json_object_agg(s.name, s.level) FROM {t['skill']} s WHERE s.worker_id = p.id),"
            f" '{{}}') AS skills,"
            f" ARRAY(SELECT j.job_id FROM {t['jobworker']} j WHERE j.worker_id = u.id AND j.blocked) AS blocked_jobs"
            f" FROM {t['user']} u LEFT JOIN {t['profile']} p ON p.user_id = u.id WHERE u.id = %s"
        )
        self.session_sql = f"SELECT session_data FROM {t['session']} WHERE session_key = %s AND expire_date > now()"
        self.password_sql = f"SELECT password, is_active FROM {t['user']} WHERE id = %s"
        # What the upload view will require (IsRequester, jobs_visible_to): a requester's own job, or any for staff.
        self.upload_sql = (
            f"SELECT 1 FROM {t['job']} j JOIN {t['user']} u ON u.id = %s"
            f" WHERE j.id = %s AND u.is_active AND (u.is_staff OR (u.role = %s AND j.owner_id = u.id))"
        )

        # The media endpoint, for a batch of requests at once (one row per request that names a valid caller): the
        # caller (by API token, or by user id once a session is read), the file if it exists, and whether this
        # caller may have it: the job's requester, staff, or the worker the URL was signed for while they hold a
        # live lease on its microtask.
        self.media_sql = (
            f"SELECT q.n, u.id AS user_id, m.storage_name, m.content_type, m.size_bytes,"
            f" CASE WHEN q.key IS NOT NULL THEN k.created END AS token_created,"
            f" CASE WHEN q.key IS NULL THEN u.password END AS password,"
            f" (u.is_staff OR j.owner_id = u.id OR (u.id = q.worker AND EXISTS (SELECT 1 FROM {t['assignment']} a"
            f" WHERE a.microtask_id = q.microtask AND a.worker_id = u.id AND a.job_id = m.job_id"
            f" AND a.status = 'leased' AND a.expires_at > now()))) AS allowed"
            f" FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::bigint[])"
            f" WITH ORDINALITY AS q(key, user_id, job, name, worker, microtask, n)"
            f" LEFT JOIN {t['token']} k ON k.key = q.key"
            f" JOIN {t['user']} u ON u.id = COALESCE(k.user_id, q.user_id) AND u.is_active"
            f" LEFT JOIN {t['media']} m ON m.job_id = q.job AND m.name = q.name"
            f" LEFT JOIN {t['job']} j ON j.id = m.job_id"
        )
        self.media_pending: list[tuple[tuple, asyncio.Future]] = []
        self.media_wake = asyncio.Event()
        self.media_runners: list[asyncio.Task] = []
        self.media_conns: list[psycopg.AsyncConnection] = []

    @classmethod
    def get(cls) -> "Lookups":
        loop = asyncio.get_running_loop()
        found = cls._instances.get(id(loop))
        if found is None or found.loop is not loop:
            if found is not None and found.conn is not None:
                found.conn.pgconn.finish()  # its loop is gone (an id can be reused): close the socket directly
            found = cls._instances[id(loop)] = cls(loop)
        return found

    async def _connection(self) -> psycopg.AsyncConnection:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        async with self.connecting:
            if self.conn is None or self.conn.closed:
                from tasks.scheduling.store import conninfo

                self.conn = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True, row_factory=dict_row)
        return self.conn

    async def _fetchone(self, sql: str, params) -> dict | None:
        conn = await self._connection()
        try:
            return await (await conn.execute(sql, params)).fetchone()
        except psycopg.OperationalError:
            # PostgreSQL may have restarted since the last connect: one more try on a fresh connection.
            log.warning("lookup connection lost; reconnecting", exc_info=True)
            await conn.close()
            conn = await self._connection()
            return await (await conn.execute(sql, params)).fetchone()

    async def user_for_token(self, key: str):
        """The active user who holds this API token, or None (also when the token has expired)."""
        from workers.models import User
        from workers.tokens import TOKEN_KEY, token_expired

        if not TOKEN_KEY.fullmatch(key):
            return None  # not a key at all (a NUL in it, say): never sent to PostgreSQL
        row = await self._fetchone(self.user_sql, (key,))
        if row is None or not row["is_active"] or token_expired(row.pop("token_created")):
            return None
        return User(**row)

    async def user_for_session(self, session_key: str) -> int | None:
        """The user of a live session, by django.contrib.auth.get_user's checks (an active user whose password has
        not changed since they signed in); None otherwise."""
        claim = await self._session_claim(session_key, self._fetchone)
        if claim is None:
            return None
        user_id, given_hash = claim
        found = await self._fetchone(self.password_sql, (user_id,))
        if found is None or not found["is_active"]:
            return None
        return user_id if session_hash_ok(user_id, found["password"], given_hash) else None

    async def _session_claim(self, session_key: str, fetchone) -> tuple[int, str] | None:
        """(user id, password hash) that a live session's data names, not yet checked against the user."""
        from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        if not SESSION_KEY_FORM.fullmatch(session_key):
            return None  # not a key at all: never sent to PostgreSQL
        row = await fetchone(self.session_sql, (session_key,))
        if row is None:
            return None
        data = SessionStore().decode(row["session_data"])
        try:
            return int(data.get(SESSION_KEY)), data.get(HASH_SESSION_KEY) or ""
        except (TypeError, ValueError):
            return None

    async def media_for_token(
        self, key: str, job_id: int, name: str, worker_id: int | None, microtask_id: int | None
    ) -> dict | None:
        """For the media endpoint, by an API token: None if the token is not a valid one; else {user_id,
        storage_name, content_type, size_bytes, allowed}, storage_name None when there is no such file."""
        from workers.tokens import TOKEN_KEY, token_expired

        if not TOKEN_KEY.fullmatch(key):
            return None
        row = await self._media_lookup((key, None, job_id, name, worker_id, microtask_id))
        if row is None or token_expired(row.pop("token_created")):
            return None
        row.pop("password")
        return row

    async def media_for_session(
        self, session_key: str, job_id: int, name: str, worker_id: int | None, microtask_id: int | None
    ) -> dict | None:
        """As media_for_token, for a browser's session (one more round trip first, to read the session)."""
        claim = await self._session_claim(session_key, self._fetchone)
        if claim is None:
            return None
        user_id, given_hash = claim
        row = await self._media_lookup((None, user_id, job_id, name, worker_id, microtask_id))
        if row is None or not session_hash_ok(user_id, row.pop("password"), given_hash):
            return None
        row.pop("token_created")
        return row

    async def _media_lookup(self, request: tuple) -> dict | None:
        """Queue one media lookup for the next batch. A thousand fetches a second, one query each, cost the ASGI
        process more in its database driver than in serving the files: lookups that arrive while a batch is in
        flight go together in the next (as answers go to the group committer)."""
        if not self.media_runners:
            from django.conf import settings

            count = max(1, settings.QUORUM_MEDIA_LOOKUP_CONNECTIONS)
            self.media_runners = [asyncio.create_task(self._media_runner()) for _ in range(count)]
        future = self.loop.create_future()
        self.media_pending.append((request, future))
        self.media_wake.set()
        return await future

    async def _media_runner(self) -> None:
        """Runs batches of media lookups on a connection of its own, one batch at a time."""
        from tasks.scheduling.store import conninfo

        conn: psycopg.AsyncConnection | None = None
        while True:
            while not self.media_pending:
                self.media_wake.clear()
                await self.media_wake.wait()
            batch = self.media_pending[:MEDIA_BATCH]
            del self.media_pending[:MEDIA_BATCH]
            columns = list(zip(*(request for request, _ in batch), strict=True))
            rows = None
            for attempt in (0, 1):
                try:
                    if conn is None or conn.closed:
                        conn = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True, row_factory=dict_row)
                        self.media_conns = [c for c in self.media_conns if not c.closed] + [conn]
                    rows = await (await conn.execute(self.media_sql, [list(c) for c in columns])).fetchall()
                    break
                except psycopg.OperationalError as exc:
                    # PostgreSQL may have restarted since the last connect: one more try on a fresh connection.
                    log.warning("media lookup connection lost; reconnecting", exc_info=True)
                    if conn is not None:
                        await conn.close()
                    if attempt:
                        rows = exc
                except Exception as exc:  # noqa: BLE001 - every request of the batch gets the error
                    rows = exc
                    break
            if isinstance(rows, BaseException):
                for _, future in batch:
                    if not future.done():
                        future.set_exception(rows)
                continue
            found = {row.pop("n"): row for row in rows}
            for n, (_, future) in enumerate(batch, start=1):
                if not future.done():  # its request may have been given up meanwhile
                    future.set_result(found.get(n))

    async def may_upload_to(self, user_id: int, job_id: int) -> bool:
        """Whether this user may send a file to this job: its requester, or staff."""
        from workers.models import User

        return await self._fetchone(self.upload_sql, (user_id, job_id, User.Role.REQUESTER)) is not None

    async def worker_state(self, worker_id: int) -> WorkerState:
        row = await self._fetchone(self.worker_sql, (worker_id,))
        if row is None:
            return WorkerState()
        state = WorkerState(skills=dict(row["skills"] or {}), blocked_jobs=set(row["blocked_jobs"]))
        if row["has_profile"]:
            state.has_profile = True
            state.blocked, state.max_leases = row["blocked"], row["max_leases"]
            state.gold_total, state.gold_correct = row["gold_total"], row["gold_correct"]
        return state

    @classmethod
    async def close_current(cls) -> None:
        """Close this loop's connections (tests; a server process simply exits)."""
        found = cls._instances.pop(id(asyncio.get_running_loop()), None)
        if found is not None:
            for runner in found.media_runners:
                runner.cancel()
            for conn in [found.conn, *found.media_conns]:
                if conn is not None:
                    await conn.close()


def session_hash_ok(user_id: int, password: str, given: str) -> bool:
    """Whether a session's password hash is the user's (their password has not changed since they signed in)."""
    from django.utils.crypto import constant_time_compare

    from workers.models import User

    user = User(pk=user_id, password=password)
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(given, h) for h in hashes)
