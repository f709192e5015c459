"""Items and microtasks are stored in a table per job: a partition of ``tasks_item`` / ``tasks_microtask``, listed
by ``job_id`` (migration tasks.0020).

- A job's partitions are made by its first ingest (intake/loading.py): the rows are COPYed into a new table that
  has no index yet, and attaching it to the parent builds the indexes in bulk, in the ingest's transaction. An
  upload that fails leaves no table behind. Attaching takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so
  reads and writes of other jobs go on meanwhile. A job with no rows has no partition: its queries find nothing.
- Deleting a job drops its partitions, whatever their size, after the delete commits (DETACH ... CONCURRENTLY,
  which does not block other jobs' queries). A process that dies in between leaves orphans that
  ``orphans_drop`` (a periodic pass, and after migrate) drops.
- Queries name the job (``job_id = ...``) so that PostgreSQL reads only its partition; past 200 jobs the
  scheduler's PL/pgSQL functions run those statements through EXECUTE on the job's own table, since a cached
  generic plan locks every partition (commit.sql). A query over several jobs names them, ``JOBS_PER_QUERY`` at a time (``job_chunks``): one over
  every job's tables locks them all, and past about 1,500 jobs stored PostgreSQL's lock table (64 locks a
  connection by default, max_locks_per_transaction) runs out: "out of shared memory".

Unique constraints hold within a partition and include ``job_id``; ids come from one sequence per table, so they
are unique across jobs too.
"""

import logging
import re
from collections.abc import Callable, Iterable, Iterator

from django.db import connection, transaction

log = logging.getLogger(__name__)

PARENTS = ("tasks_item", "tasks_microtask")
# How long dropping a deleted job's partitions waits for transactions that still see them; the orphan pass
# tries again later.
DROP_LOCK_TIMEOUT = "10s"


# A query over the items or microtasks of several jobs names at most this many (``job_id IN (...)``), each in a
# transaction of its own (locks last until the transaction ends): a hundred jobs' tables and indexes.
JOBS_PER_QUERY = 100


def name(parent: str, job_id: int) -> str:
    return f"{parent}_p{int(job_id)}"


def job_chunks(job_ids: Iterable[int]) -> Iterator[list[int]]:
    """The job ids in order, JOBS_PER_QUERY at a time."""
    ids = sorted(set(job_ids))
    for at in range(0, len(ids), JOBS_PER_QUERY):
        yield ids[at : at + JOBS_PER_QUERY]


def rows_over_jobs(job_ids: Iterable[int], rows_of: Callable[[list[int], int | None], Iterable], limit=None) -> list:
    """``rows_of(chunk, room)`` for the jobs JOBS_PER_QUERY at a time, each a query of its own (outside a
    transaction, a transaction of its own too); their rows together, at most ``limit`` of them. ``room``: how many
    more rows are wanted (None: all)."""
    rows: list = []
    for chunk in job_chunks(job_ids):
        rows += rows_of(chunk, None if limit is None else limit - len(rows))
        if limit is not None and len(rows) >= limit:
            break
    return rows


def job_partitioned(cursor, job_id: int) -> bool:
    """Whether the job's rows have their tables (made by its first ingest)."""
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name("tasks_item", job_id)])
    return cursor.fetchone()[0]


def tables_create(cursor, job_id: int) -> None:
    """New, unattached, index-free tables for the job's items and microtasks, to COPY into. The CHECK constraint
    proves every row belongs to the job, so attaching them reads nothing back."""
    job_id = int(job_id)
    for parent in PARENTS:
        table = name(parent, job_id)
        cursor.execute(f"CREATE TABLE {table} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_job CHECK (job_id IS NOT NULL AND job_id = {job_id})"
        )


def tables_attach(cursor, job_id: int) -> None:
    """Attach the job's loaded tables: PostgreSQL builds each of the parent's indexes on them, in bulk."""
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for parent in PARENTS:
        cursor.execute(f"ALTER TABLE {parent} ATTACH PARTITION {name(parent, job_id)} FOR VALUES IN ({int(job_id)})")


def job_partitions_drop(job_id: int) -> None:
    """Drop a deleted job's tables. Outside a transaction the detach is CONCURRENTLY: it waits for the queries that
    can still see them instead of locking every job's items meanwhile."""
    try:
        with connection.cursor() as cursor:
            for parent in PARENTS:
                table_drop(cursor, parent, name(parent, job_id))
    except Exception:
        if connection.in_atomic_block:
            raise
        log.warning("could not drop the tables of deleted job %s; the orphan pass tries again", job_id, exc_info=True)


def table_drop(cursor, parent: str, table: str) -> None:
    cursor.execute(
        "SELECT i.inhdetachpending FROM pg_inherits i WHERE i.inhrelid = to_regclass(%s) AND i.inhparent = %s::regclass",
        [table, parent],
    )
    row = cursor.fetchone()
    cursor.execute("SELECT current_setting('lock_timeout')")
    previous = cursor.fetchone()[0]
    cursor.execute(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}'")
    try:
        if row is not None:
            if row[0]:
                cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {table} FINALIZE")
            elif connection.in_atomic_block:
                cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {table}")
            else:
                cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {table} CONCURRENTLY")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])


ORPHANS_SQL = r"""
SELECT c.relname
FROM pg_class c
WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace AND c.relname ~ %s
  AND NOT EXISTS (SELECT 1 FROM tasks_job j WHERE j.id = substring(c.relname FROM '_p([0-9]+)$')::bigint)
"""


def orphans_drop() -> int:
    """Drop the tables of jobs that no longer exist (a delete whose drop did not run, a test database flushed).
    Returns how many tables were dropped; one that cannot be dropped now is left for the next pass."""
    dropped = 0
    with connection.cursor() as cursor:
        for parent in PARENTS:
            cursor.execute(ORPHANS_SQL, [f"^{re.escape(parent)}_p[0-9]+$"])
            for (table,) in cursor.fetchall():
                try:
                    table_drop(cursor, parent, table)
                    dropped += 1
                except Exception:
                    log.warning("could not drop %s; the next pass tries again", table, exc_info=True)
    return dropped


def on_job_deleted(sender, instance, **kwargs) -> None:
    """However a job goes (the API, the admin, a cascade), its items and microtasks go once the delete commits."""
    job_id = instance.pk
    transaction.on_commit(lambda: job_partitions_drop(job_id))


def on_migrated(sender, **kwargs) -> None:
    """After migrate, and after a test database is flushed (which empties tasks_job but drops no table)."""
    orphans_drop()
