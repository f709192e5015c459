"""Gold scores are never lost: Redis only speeds them up. When it forgets the queue of gold answers, or a Celery
worker fails between reading the queue and committing the scores, PostgreSQL still says which gold answers were
never scored, and each is scored exactly once."""

import uuid

import pytest
from django.db import connection

from quorum.redis import get_redis
from tasks import quality, services
from tasks.models import Job, JobWorker
from tasks.scheduling import keys, runtime
from tests import factories
from tests.scheduling import Client, run
from tests.tasks_tests.test_results_repair import forget_redis

pytestmark = pytest.mark.django_db(transaction=True)

KNOWN = {"known one": "apple", "known two": "banana"}


def gold_answered(monkeypatch) -> tuple[Job, object]:
    """A worker answers both gold microtasks through the socket: the first right, the second wrong."""
    monkeypatch.setattr(runtime, "gold_probability", lambda total, correct: 1.0)
    job = factories.make_job(redundancy=1)
    factories.ingest_now(job, b"id,text,gold\ng1,known one,apple\ng2,known two,banana\no1,open one,\n")
    services.job_publish(job)
    worker = factories.make_worker()

    async def body():
        client = await Client.open(worker)
        for _ in range(2):
            task = await client.recv_type("task.assigned")
            text = task["items"][0]["text"]
            value = KNOWN[text] if text == "known one" else "cherry"
            assert (await client.submit(task, value, uuid.uuid4().hex))["status"] == "accepted"
        await client.recv_type("task.assigned")
        await client.close()

    run(body)
    return job, worker


def queued() -> int:
    return get_redis().llen(f"{keys.prefix()}:goldcheck")


def assert_scored_once(job: Job, worker) -> None:
    record = JobWorker.objects.get(job=job, worker=worker)
    assert (record.gold_total, record.gold_correct) == (2, 1)
    worker.worker_profile.refresh_from_db()
    assert (worker.worker_profile.gold_total, worker.worker_profile.gold_correct) == (2, 1)


def test_gold_answers_redis_forgot_are_scored_once_by_the_repair_pass(monkeypatch):
    job, worker = gold_answered(monkeypatch)
    assert queued() == 2
    forget_redis()
    assert quality.gold_checks_pending() == 0  # the queue went with Redis
    assert not JobWorker.objects.filter(job=job, worker=worker, gold_total__gt=0).exists()

    assert quality.gold_checks_repair(settle_seconds=60) == 0  # recent answers are left to the queue
    assert quality.gold_checks_repair(settle_seconds=0) == 2
    assert_scored_once(job, worker)
    assert quality.gold_checks_repair(settle_seconds=0) == 0
    assert_scored_once(job, worker)


def test_a_pass_that_fails_before_its_commit_leaves_the_gold_answers_queued(monkeypatch):
    job, worker = gold_answered(monkeypatch)

    def celery_worker_dies(rows):
        raise RuntimeError("the Celery worker died here")

    with monkeypatch.context() as m:
        m.setattr(quality, "gold_scores", celery_worker_dies)
        with pytest.raises(RuntimeError):
            quality.gold_checks_pending()
    assert queued() == 2
    assert not JobWorker.objects.filter(job=job, worker=worker, gold_total__gt=0).exists()

    assert quality.gold_checks_pending() == 2
    assert queued() == 0  # taken off the queue once committed
    assert_scored_once(job, worker)
    assert quality.gold_checks_repair(settle_seconds=0) == 0
    assert_scored_once(job, worker)


def test_a_pass_that_fails_after_its_commit_does_not_count_twice(monkeypatch):
    job, worker = gold_answered(monkeypatch)

    def dies(worker_id):
        raise RuntimeError("the Celery worker died after the commit")

    with monkeypatch.context() as m:
        m.setattr(quality, "worker_changed", dies)
        with pytest.raises(RuntimeError):
            quality.gold_checks_pending()
    assert queued() == 2  # still queued: the pass never got to take them off
    assert quality.gold_checks_pending() == 2
    assert queued() == 0
    assert_scored_once(job, worker)


def test_the_gold_repair_query_starts_from_the_gold_microtasks():
    """However many ordinary microtasks and answers the jobs have, the repair pass reads the gold microtasks'
    partial index (each job's copy of it), then their assignments."""
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(20, gold_every=5)))
    services.job_publish(job)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'microtask_gold_by_job'::regclass"
        )
        (job_index,) = cursor.fetchone()
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"EXPLAIN {quality.GOLD_DUE_SQL}", [[job.pk], 0, 10])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert job_index in plan, plan
    assert "assignment_one_per_worker" in plan, plan
