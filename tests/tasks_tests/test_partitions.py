"""Items and microtasks are stored in a table per job (tasks/partitions.py): made by the job's first upload, read
alone by the job's queries, dropped with the job, and never left behind by an upload that fails."""

import re

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tasks import partitions, quality, results, selectors, services
from tasks.models import Item, Job, Microtask
from tasks.scheduling import pace
from tests import factories
from workers import selectors as workers_selectors


def partitions_of(parent: str) -> dict[str, str]:
    """{partition: its bound} of a partitioned table."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c"
            " ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [parent],
        )
        return dict(cur.fetchall())


def table_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cur.fetchone()[0]


def indexes_of(table: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cur.fetchall()]


def plan(sql: str, params: list) -> str:
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cur.fetchall())


@pytest.mark.django_db
def test_a_jobs_first_upload_makes_its_tables_with_every_index_and_later_uploads_append():
    job = factories.make_job(items_per_microtask=2)
    other = factories.make_job()
    assert not table_exists(partitions.name("tasks_item", job.pk))
    assert Item.objects.filter(job=job).count() == 0  # a job without rows has no table, and no items

    upload = factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(5)))
    assert upload.status == "done", upload.error
    factories.ingest_now(other, factories.csv_bytes(factories.fruit_rows(3)))
    for parent in ("tasks_item", "tasks_microtask"):
        table = partitions.name(parent, job.pk)
        assert partitions_of(parent)[table] == f"FOR VALUES IN ('{job.pk}')"
        # The parent's indexes were built on the loaded table when it was attached.
        assert len(indexes_of(table)) == len(indexes_of(parent)) >= 3

    upload = factories.ingest_now(job, b"id,text\nx,sixth\ny,seventh\n")
    assert upload.status == "done", upload.error
    assert list(Item.objects.filter(job=job).order_by("position").values_list("position", flat=True)) == list(range(7))
    assert Microtask.objects.filter(job=job).count() == 4
    assert Item.objects.filter(job=other).count() == 3

    # One job's queries read its own table only.
    explained = plan("SELECT * FROM tasks_item WHERE job_id = %s AND microtask_index = 1", [job.pk])
    assert partitions.name("tasks_item", job.pk) in explained
    assert partitions.name("tasks_item", other.pk) not in explained


@pytest.mark.django_db
def test_a_failed_first_upload_leaves_no_table():
    job = factories.make_job()
    upload = factories.ingest_now(job, b"id,text\na,first\nb,second,extra\n")
    assert upload.status == "failed"
    assert upload.error["line"] == 3
    assert not table_exists(partitions.name("tasks_item", job.pk))
    assert not table_exists(partitions.name("tasks_microtask", job.pk))
    upload = factories.ingest_now(job, b"id,text\na,first\n")
    assert upload.status == "done", upload.error
    assert Item.objects.filter(job=job).count() >= 1


@pytest.mark.django_db(transaction=True)
def test_deleting_a_job_drops_its_tables_and_nothing_of_other_jobs(requester_api):
    job = factories.make_job(owner=requester_api.user)
    kept = factories.make_job(owner=requester_api.user)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(50)))
    factories.ingest_now(kept, factories.csv_bytes(factories.fruit_rows(20)))

    response = requester_api.delete(f"/api/jobs/{job.pk}/")
    assert response.status_code == 204, response.content
    for parent in ("tasks_item", "tasks_microtask"):
        assert not table_exists(partitions.name(parent, job.pk))
        assert partitions.name(parent, kept.pk) in partitions_of(parent)
    assert Item.objects.filter(job=kept).count() == 20


@pytest.mark.django_db(transaction=True)
def test_tables_of_jobs_gone_without_their_drop_are_dropped_by_the_orphan_pass():
    job = factories.make_job()
    kept = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(10)))
    factories.ingest_now(kept, factories.csv_bytes(factories.fruit_rows(10)))
    with connection.cursor() as cur:
        # As if the process died between the delete's commit and the drop.
        cur.execute("DELETE FROM tasks_upload WHERE job_id = %s", [job.pk])
        cur.execute("DELETE FROM tasks_job WHERE id = %s", [job.pk])
    assert table_exists(partitions.name("tasks_item", job.pk))

    assert partitions.orphans_drop() == 2
    assert not table_exists(partitions.name("tasks_item", job.pk))
    assert not table_exists(partitions.name("tasks_microtask", job.pk))
    assert Item.objects.filter(job=kept).count() == 10
    assert Job.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_drop_left_half_done_is_finished_by_the_orphan_pass():
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(10)))
    table = partitions.name("tasks_item", job.pk)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM tasks_upload WHERE job_id = %s", [job.pk])
        cur.execute("DELETE FROM tasks_job WHERE id = %s", [job.pk])
        cur.execute(f"ALTER TABLE tasks_item DETACH PARTITION {table}")  # detached, not dropped
    assert partitions.orphans_drop() == 2
    assert not table_exists(table)


@pytest.mark.django_db
def test_every_unique_constraint_of_the_partitioned_tables_holds_the_partition_key():
    """What PostgreSQL needs to enforce them across partitions, and what Citus needs to distribute by job."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
            " JOIN pg_class c ON c.oid = k.conrelid"
            " WHERE c.relname IN ('tasks_item', 'tasks_microtask') AND k.contype IN ('p', 'u')"
        )
        constraints = cur.fetchall()
        cur.execute("SELECT relname, relkind FROM pg_class WHERE relname IN ('tasks_item', 'tasks_microtask')")
        kinds = dict(cur.fetchall())
    assert kinds == {"tasks_item": "p", "tasks_microtask": "p"}
    assert len(constraints) == 4
    for table, name, definition in constraints:
        assert "job_id" in definition, (table, name, definition)


def job_tables_locked() -> set[int]:
    """The jobs whose tables (or their indexes) this transaction holds a lock on."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'"
        )
        names = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT id FROM tasks_job")
        jobs = [row[0] for row in cur.fetchall()]
    return {job for job in jobs if any(re.search(rf"_p{job}(_|$)", name) for name in names)}


@pytest.mark.django_db(transaction=True)
def test_answering_and_the_passes_lock_only_the_tables_of_the_jobs_they_read():
    """A query over every job's tables locks them all, and past some 1,500 jobs PostgreSQL runs out of locks: the
    answer path, the worker's page and the repair passes must name the jobs they read."""
    live, done, other = (factories.make_job(redundancy=1) for _ in range(3))
    for job in (live, done, other):
        factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(5, gold_every=2)))
    services.job_publish(live)
    Job.objects.filter(pk=done.pk).update(status=Job.Status.DONE)
    worker = factories.make_worker()
    mt = Microtask.objects.filter(job=live, is_gold=False).first()
    lease = {"op": "l", "j": live.pk, "mt": mt.pk, "w": worker.pk, "secs": 60}

    def locks_of(action) -> set[int]:
        with transaction.atomic():
            # The batch's statements on each job's own table, as with more than 200 jobs stored (commit.sql).
            with connection.cursor() as cur:
                cur.execute("SET LOCAL quorum.job_tables_on_cached_plans = 0")
            action()
            return job_tables_locked()

    assert locks_of(lambda: factories.commit_op(lease)) == {live.pk}
    (item,) = Item.objects.filter(job=live, microtask_index=mt.index)
    answer = {"op": "s", "j": live.pk, "mt": mt.pk, "w": worker.pk, "key": "k", "secs": 3.0,
              "answers": [{"item": item.pk, "value": "apple"}]}  # fmt: skip
    assert locks_of(lambda: factories.commit_op(answer)) == {live.pk}
    assert locks_of(lambda: workers_selectors.worker_stats(worker)) == set()
    assert workers_selectors.worker_stats(worker)["answers"] == 1
    assert locks_of(lambda: results.jobs_with_open_work([done.pk])) == {done.pk}
    assert locks_of(lambda: list(results.results_due_query([live.pk], timezone.now()))) == {live.pk}
    with connection.cursor() as cur:
        assert locks_of(lambda: cur.execute(quality.GOLD_DUE_SQL, [[live.pk], 0, 10])) == {live.pk}
    assert locks_of(lambda: selectors.microtasks_waiting_by_job()) == {live.pk}  # the only open or paused job
    assert locks_of(lambda: pace.pace_refresh()) == set()
    # With few jobs stored the batch runs on cached plans over the parent tables, which lock every job's table.
    second = Microtask.objects.filter(job=live, is_gold=False).exclude(pk=mt.pk).first()
    with transaction.atomic():
        leased = factories.commit_op({**lease, "mt": second.pk})
        assert leased["a"] and [i["data"] for i in leased["items"]] == [{"text": "item number 3"}]
        assert job_tables_locked() >= {live.pk, done.pk, other.pk}
