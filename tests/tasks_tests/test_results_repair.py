"""Results are never lost: Redis only speeds them up. When it forgets the queue of finished microtasks, or a Celery
worker fails between taking work and committing it, PostgreSQL still says what is missing and the next pass
writes it."""

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from quorum.redis import get_redis
from tasks import results, services
from tasks.models import Item, Job, JobWorker, Microtask
from tests import factories
from tests.tasks_tests.test_results_pipeline import answer_all

pytestmark = pytest.mark.django_db(transaction=True)


def forget_redis() -> None:
    """What a FLUSHALL does to this deployment: every key under its prefix is gone."""
    r = get_redis()
    # Plain keys and those under a Redis Cluster hash tag ({<prefix>:...}).
    found = [*r.scan_iter(f"{settings.REDIS_PREFIX}:*", count=1000), *r.scan_iter(f"{{{settings.REDIS_PREFIX}:*")]
    if found:
        r.delete(*found)


def answered_job(items: int = 3, **fields) -> tuple[Job, list]:
    job = factories.make_job(redundancy=2, **fields)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(items)))
    services.job_publish(job)
    workers = [factories.make_worker(), factories.make_worker()]
    answer_all(workers, {w.pk: "banana" for w in workers})
    return job, workers


def assert_every_item_has_its_result(job: Job, answers: int = 2) -> None:
    for item in Item.objects.filter(job=job):
        assert (item.result, item.result_source, item.answer_count) == ("banana", "human", answers), item
    job.refresh_from_db()
    assert job.status == Job.Status.DONE


def test_the_repair_pass_writes_results_and_finishes_the_job_after_redis_lost_everything():
    job, _ = answered_job()
    forget_redis()
    assert results.results_pending() == 0  # the queue went with Redis
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN and not Item.objects.filter(job=job, result__isnull=False).exists()

    repaired = results.results_repair(settle_seconds=0)
    assert repaired.microtasks == 3 and repaired.jobs_done == [job.pk]
    assert_every_item_has_its_result(job)
    # Nothing is left to find, and the final whole-job pass (worker records) was asked for again.
    assert results.results_repair(settle_seconds=0) == results.Repair(0, [])
    assert results.results_refresh_dirty() == [job.pk]
    assert JobWorker.objects.filter(job=job).count() == 2


def test_the_repair_pass_leaves_recent_microtasks_to_the_queue():
    job, _ = answered_job()
    assert results.results_repair(settle_seconds=60) == results.Repair(0, [])
    assert results.results_pending() == 3
    assert_every_item_has_its_result(job)
    assert results.results_repair(settle_seconds=0) == results.Repair(0, [])


def test_a_result_older_than_the_last_counted_answer_is_rewritten():
    job = factories.make_job(redundancy=2, max_answers=3, target_confidence=0.99)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(1)))
    services.job_publish(job)
    w1, w2, w3 = (factories.make_worker() for _ in range(3))
    answer_all([w1, w2], {w1.pk: "banana", w2.pk: "cherry"})
    results.results_pending()  # people disagree: the microtask asks for a third answer
    assert Microtask.objects.get(job=job).status == "open"
    answer_all([w3], {w3.pk: "banana"})
    forget_redis()

    results.results_repair(settle_seconds=0)
    item = Item.objects.get(job=job)
    assert (item.result, item.answer_count) == ("banana", 3)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE


def test_a_pass_that_fails_before_its_commit_leaves_the_work_on_the_queue(monkeypatch):
    job, _ = answered_job()

    def celery_worker_dies(*args, **kwargs):
        raise RuntimeError("the Celery worker died here")

    monkeypatch.setattr(results, "items_results_refresh", celery_worker_dies)
    with pytest.raises(RuntimeError):
        results.results_pending()
    monkeypatch.undo()

    assert results.results_pending() == 3
    assert_every_item_has_its_result(job)
    assert results.results_pending() == 0  # taken off the queue once committed


def test_a_pass_that_fails_before_finishing_the_job_is_finished_by_the_repair_pass(monkeypatch):
    job, _ = answered_job()
    monkeypatch.setattr(results, "job_complete_if_finished", lambda job: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        results.results_pending()
    monkeypatch.undo()
    forget_redis()

    assert results.results_repair(settle_seconds=0).jobs_done == [job.pk]
    assert_every_item_has_its_result(job)


def test_a_whole_job_pass_that_fails_is_tried_again(monkeypatch):
    job, _ = answered_job()
    results.results_pending()

    def fails(job_id):
        raise RuntimeError("PostgreSQL went away")

    monkeypatch.setattr(results, "job_results_refresh", fails)
    with pytest.raises(RuntimeError):
        results.results_refresh_dirty()
    monkeypatch.undo()
    assert results.results_refresh_dirty() == [job.pk]
    assert JobWorker.objects.filter(job=job).count() == 2


def test_the_repair_query_reads_only_the_partial_index():
    """However many microtasks the jobs have, the repair pass reads an index of the ones awaiting results (each
    job's copy of it)."""
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(20)))
    sql, params = results.results_due_query([job.pk], timezone.now()).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'microtask_results_due'::regclass"
        )
        (job_index,) = cursor.fetchone()
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert job_index in plan, plan
