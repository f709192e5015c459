"""Lease lifecycle outside the hot path: expiry, the reconnect grace period, resuming leases on reconnect.

Plain sync functions: Celery beat runs ``leases_expire`` every few seconds, the WebSocket runtime calls the
others through ``database_sync_to_async``, and tests call them directly.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from . import pool

# Rows locked now are being submitted, resumed or held: the next sweep (2 s later) takes them. So expiry never
# waits on, or deadlocks with, the scheduler's commits.
EXPIRE_SQL = """
UPDATE tasks_assignment a SET status = 'expired'
WHERE a.id IN (SELECT id FROM tasks_assignment WHERE status = 'leased' AND expires_at < now()
               ORDER BY id FOR UPDATE SKIP LOCKED)
  AND a.status = 'leased'
RETURNING a.id, a.worker_id, a.job_id, a.microtask_id
"""

# The expired leases' microtasks, read in their job's table (a join would plan over every job's, every 2 s).
EXPIRED_MICROTASKS_SQL = (
    "SELECT id, rank, index, is_gold, status FROM tasks_microtask WHERE job_id = %s AND id = ANY(%s)"
)


def leases_expire() -> int:
    """End every lease past its expiry, give the slots back to the pool, and tell the workers' sessions."""
    by_job: dict[int, list[int]] = {}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(EXPIRE_SQL)
        rows = cur.fetchall()
        for _, _, job_id, microtask_id in rows:
            by_job.setdefault(job_id, []).append(microtask_id)
        microtasks = {}
        for job_id, ids in by_job.items():
            cur.execute(EXPIRED_MICROTASKS_SQL, [job_id, ids])
            microtasks.update({row[0]: row[1:] for row in cur.fetchall()})
    for assignment_id, worker_id, job_id, microtask_id in rows:
        rank, index, is_gold, status = microtasks.get(microtask_id, (0.0, 0, True, "gone"))
        if not is_gold and status == "open":
            pool.return_slot(job_id, microtask_id, rank, index)
        pool.publish({"type": "lease.expired", "worker_id": worker_id, "assignment_id": assignment_id})
    for job_id in by_job:
        pool.publish({"type": "work.available", "job_id": job_id})
    return len(rows)


def reconnect_grace_seconds() -> int:
    return int(getattr(settings, "QUORUM_RECONNECT_GRACE_SECONDS", 30))


WORKER_LOCK_SQL = "SELECT pg_advisory_xact_lock(quorum_worker_lock_space(), quorum_worker_lock_key(%s))"


def worker_lock(cur, worker_id: int) -> None:
    """Take the worker's scheduling lock (commit.sql) until the transaction ends: their leases are granted,
    counted, resumed and held one at a time, whatever the number of sockets and processes."""
    cur.execute(WORKER_LOCK_SQL, [worker_id])


def leases_hold_for_reconnect(worker_id: int) -> int:
    """The worker's last socket closed: keep their leases for the grace period only."""
    with transaction.atomic(), connection.cursor() as cur:
        worker_lock(cur, worker_id)
        cur.execute(
            "UPDATE tasks_assignment SET expires_at = LEAST(expires_at, now() + make_interval(secs => %s))"
            " WHERE worker_id = %s AND status = 'leased'",
            [reconnect_grace_seconds(), worker_id],
        )
        return cur.rowcount


@dataclass
class ActiveLease:
    assignment_id: int
    microtask_id: int
    job_id: int
    leased_at: datetime
    expires_at: datetime
    items: list
    # The worker is blocked on the job, or everywhere: the lease was revoked and takes no answer.
    blocked: bool = False


RESUME_SQL = """
UPDATE tasks_assignment a
SET expires_at = GREATEST(a.expires_at, a.leased_at + make_interval(secs => j.lease_seconds))
FROM tasks_job j
WHERE a.worker_id = %s AND a.status = 'leased' AND a.expires_at > now() AND j.id = a.job_id
RETURNING a.id, a.microtask_id, a.job_id, a.leased_at, a.expires_at
"""

# Only the columns the job shows workers (quorum_shown in commit.sql, as for a new lease).
ITEMS_SQL = """
SELECT i.id, quorum_shown(i.data, j.text_field, j.shown_fields, j.id_field, j.gold_field)
FROM tasks_item i JOIN tasks_microtask m ON m.job_id = i.job_id AND m.index = i.microtask_index
JOIN tasks_job j ON j.id = m.job_id
WHERE m.job_id = %s AND i.job_id = %s AND m.id = %s ORDER BY i.position
"""


def leases_resume(worker_id: int) -> list[ActiveLease]:
    """A worker (re)connected: their live leases get their full time back and are sent again.

    Under the worker's lock: sockets of one worker that open together resume one after another instead of
    locking the same assignment rows in different orders (a deadlock).
    """
    leases = []
    with transaction.atomic(), connection.cursor() as cur:
        worker_lock(cur, worker_id)
        cur.execute(RESUME_SQL, [worker_id])
        rows = cur.fetchall()
        for assignment_id, microtask_id, job_id, leased_at, expires_at in sorted(rows):
            cur.execute(ITEMS_SQL, [job_id, job_id, microtask_id])
            items = [{"id": item_id, "data": as_json(data)} for item_id, data in cur.fetchall()]
            leases.append(ActiveLease(assignment_id, microtask_id, job_id, leased_at, expires_at, items))
    return leases


def lease_lookup(worker_id: int, assignment_id: int) -> ActiveLease | None:
    """An assignment of this worker that can still take an answer (leased, or expired/released: a late answer);
    ``blocked`` says the worker was blocked since, and the answer must not count."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT a.id, a.microtask_id, a.job_id, a.leased_at, a.expires_at,
                   EXISTS (SELECT 1 FROM tasks_jobworker jw
                           WHERE jw.job_id = a.job_id AND jw.worker_id = a.worker_id AND jw.blocked)
                   OR EXISTS (SELECT 1 FROM workers_workerprofile p WHERE p.user_id = a.worker_id AND p.blocked)
            FROM tasks_assignment a
            WHERE a.id = %s AND a.worker_id = %s AND a.status IN ('leased', 'expired', 'released', 'submitted')
            """,
            [assignment_id, worker_id],
        )
        row = cur.fetchone()
        if row is None:
            return None
        *lease, blocked = row
        cur.execute(ITEMS_SQL, [lease[2], lease[2], lease[1]])
        items = [{"id": item_id, "data": as_json(data)} for item_id, data in cur.fetchall()]
    return ActiveLease(*lease, items, blocked=blocked)


def as_json(value):
    """Django's cursor hands jsonb over as text."""
    return json.loads(value) if isinstance(value, str) else value
