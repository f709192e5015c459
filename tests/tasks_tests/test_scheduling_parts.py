"""Scheduling pieces a worker never sees directly: the cost model, pace measurement, pool repair."""

from datetime import timedelta

import pytest
from django.utils import timezone

from quorum.redis import get_redis
from tasks import services
from tasks.models import Answer, Assignment, Item, Microtask
from tasks.scheduling import keys, pace, pool
from tasks.scheduling.runtime import JobInfo, lease_seconds_for
from tests import factories


def job_info(lease_seconds=300, median=None) -> JobInfo:
    return JobInfo(1, "j", "", "", "single_choice", ["a", "b"], "", 5, "", 0, lease_seconds, median)


def test_lease_fits_the_worker_when_pace_is_known():
    assert lease_seconds_for(job_info(), 1, None) == 300  # nothing measured: the job's lease time
    assert lease_seconds_for(job_info(median=10), 1, 1.0) == 40  # 4 x 10 s
    assert lease_seconds_for(job_info(median=10), 1, 2.0) == 30  # fast worker, floor of 30 s
    assert lease_seconds_for(job_info(median=10), 3, 0.5) == 240  # slow worker, 3 items
    assert lease_seconds_for(job_info(median=100), 5, 0.5) == 300  # never past the job's lease time


def test_pool_scores_order_by_rank_then_index():
    assert keys.pool_score(0, 5) < keys.pool_score(0, 6) < keys.pool_score(0.001, 0)
    assert keys.rank_index_from_score(keys.pool_score(0.25, 1234)) == (0.25, 1234)


@pytest.mark.django_db(transaction=True)
def test_pace_refresh_measures_job_medians_and_worker_speed():
    job = factories.make_job(redundancy=3)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(30)))
    fast, slow = factories.make_worker(), factories.make_worker()
    now = timezone.now()
    for mt in Microtask.objects.filter(job=job)[:15]:
        item = Item.objects.get(job=job, microtask_index=mt.index)
        for worker, seconds in ((fast, 5.0), (slow, 20.0)):
            a = Assignment.objects.create(
                microtask=mt, job=job, worker=worker, status="submitted", leased_at=now, expires_at=now,
                submitted_at=now, seconds_taken=seconds,
            )  # fmt: skip
            Answer.objects.create(assignment=a, item=item, job=job, worker=worker, value="apple")
    result = pace.pace_refresh(min_job_answers=20, min_worker_answers=10)
    job.refresh_from_db()
    assert result == {"jobs": 1, "workers": 2}
    assert job.median_seconds_per_item == pytest.approx(12.5)
    speeds = get_redis().hgetall(f"{keys.prefix()}:speed")
    assert float(speeds[str(fast.pk)]) == pytest.approx(2.5)
    assert float(speeds[str(slow.pk)]) == pytest.approx(0.625)


@pytest.mark.django_db(transaction=True)
def test_reconcile_restores_a_slot_lost_between_pick_and_commit():
    job = factories.make_job(redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
    services.job_publish(job)
    pool.jobs_sync()
    assert pool.pool_fill(job.pk)
    mt = Microtask.objects.filter(job=job).order_by("index").first()
    r = get_redis()
    # A process picked (slot taken in Redis) and died before its lease reached PostgreSQL.
    r.hincrby(keys.slots(job.pk), mt.pk, -1)
    assert pool.slot_differences(job.pk) == {mt.pk: (keys.pool_score(0, mt.index), 1)}
    assert pool.pool_reconcile(job.pk, settle=0.01) == 1
    assert int(r.hget(keys.slots(job.pk), mt.pk)) == 2
    # A live lease is not a gap.
    Assignment.objects.create(
        microtask=mt, job=job, worker=factories.make_worker(), leased_at=timezone.now(),
        expires_at=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip
    r.hincrby(keys.slots(job.pk), mt.pk, -1)
    assert pool.pool_reconcile(job.pk, settle=0.01) == 0


@pytest.mark.django_db(transaction=True)
def test_reconcile_takes_away_slots_redis_holds_beyond_postgresql():
    """Writes lost in a Redis failover can leave the pool offering microtasks PostgreSQL has done: their answers
    would be refused as no longer needed. The reconcile takes those slots away."""
    job = factories.make_job(redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
    services.job_publish(job)
    pool.jobs_sync()
    assert pool.pool_fill(job.pk)
    first, second = Microtask.objects.filter(job=job).order_by("index")[:2]
    Microtask.objects.filter(pk=first.pk).update(answer_count=2, status="done")  # done while Redis forgot
    Microtask.objects.filter(pk=second.pk).update(answer_count=1)  # one answer Redis did not hear of
    r = get_redis()
    assert pool.slot_differences(job.pk) == {first.pk: (None, -2), second.pk: (keys.pool_score(0, second.index), -1)}
    assert pool.pool_reconcile(job.pk, settle=0.01) == 3
    assert r.hget(keys.slots(job.pk), first.pk) is None
    assert str(first.pk) not in r.zrange(keys.pool(job.pk), 0, -1)
    assert int(r.hget(keys.slots(job.pk), second.pk)) == 1
    assert pool.slot_differences(job.pk) == {}
