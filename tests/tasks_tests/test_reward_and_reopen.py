"""What an assignment pays is fixed when its lease is granted; a finished job whose answers stop counting is
worked on again. Real sockets on the ASGI app, PostgreSQL and Redis."""

import uuid
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from quorum.redis import get_redis
from tasks import quality, results, selectors, services
from tasks.models import Answer, Assignment, Job, Microtask
from tasks.scheduling import keys
from tests import factories
from tests.scheduling import Client, run
from workers.models import LedgerEntry
from workers.selectors import worker_stats
from workers.services import worker_block

pytestmark = pytest.mark.django_db(transaction=True)


def open_job(items: int, **fields) -> Job:
    job = factories.make_job(**fields)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(items)))
    services.job_publish(job)
    job.refresh_from_db()
    return job


def key() -> str:
    return uuid.uuid4().hex


def test_cutting_the_reward_after_a_lease_does_not_cut_that_leases_pay(worker):
    job = open_job(items=3, redundancy=1, reward="0.50")

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        # The requester sets the reward to 0 while the worker answers.
        await sync_to_async(Job.objects.filter(pk=job.pk).update)(reward=Decimal("0"))
        assert (await c.submit(task, "apple", key()))["status"] == "accepted"
        following = await c.recv_type("task.assigned")  # leased after the change
        await c.close()
        return task["assignment"]["id"], following["assignment"]["id"]

    answered, leased_later = run(body)
    assert worker_stats(worker)["earnings_pending"] == "0.50"
    assert selectors.job_costs([job])[job.pk] == Decimal("0.50")
    services.assignment_review(Assignment.objects.get(pk=answered), accepted=True)
    assert LedgerEntry.objects.get(assignment_id=answered).amount == Decimal("0.50")
    assert worker_stats(worker)["earnings_total"] == "0.50"
    assert Assignment.objects.get(pk=leased_later).reward == Decimal("0")


def answer_every_microtask(job: Job, worker) -> list[int]:
    """One worker answers every microtask of the job over a real socket; the assignments they answered."""

    async def body():
        c = await Client.open(worker)
        answered = []
        for _ in range(job.microtask_count):
            task = await c.recv_type("task.assigned")
            assert (await c.submit(task, "apple", key()))["status"] == "accepted"
            answered.append(task["assignment"]["id"])
        await c.close()
        return answered

    return run(body)


def finish_job(job: Job, worker) -> list[int]:
    answered = answer_every_microtask(job, worker)
    results.results_pending()  # the results are written, and with the last of them the job is done
    job.refresh_from_db()
    assert job.status == Job.Status.DONE
    return answered


def test_a_staff_block_on_a_finished_job_reopens_it_and_others_replace_the_answers(db):
    job = open_job(items=2, redundancy=1)
    blocked, replacement = factories.make_worker(), factories.make_worker()
    finish_job(job, blocked)

    worker_block(blocked)
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    assert get_redis().hexists(keys.jobs(), job.pk)

    async def body():
        c = await Client.open(replacement)
        for _ in range(2):
            task = await c.recv_type("task.assigned")
            assert (await c.submit(task, "banana", key()))["status"] == "accepted"
        await c.close()

    run(body)
    assert Microtask.objects.filter(job=job, status="done").count() == 2
    assert set(Answer.objects.filter(job=job, counts=True).values_list("worker_id", flat=True)) == {replacement.pk}


def test_rejecting_answers_on_a_finished_job_reopens_it(worker):
    job = open_job(items=2, redundancy=1)
    answered = finish_job(job, worker)
    assert quality.assignments_review(answered[:1], accepted=False) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    assert get_redis().hexists(keys.jobs(), job.pk)
    assert Microtask.objects.filter(job=job, status="open").count() == 1


def answered_but_unfinished(job: Job, worker) -> list[int]:
    """Every microtask answered and its results written, the job still open (as just before a results pass
    marks it done)."""
    answered = answer_every_microtask(job, worker)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PAUSED)  # no pass may finish it yet
    results.results_pending()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.OPEN)
    return answered


def test_a_job_is_not_marked_done_while_answers_are_being_taken_back(worker):
    """A results pass that looks while a reject is re-opening a microtask waits for it, and leaves the job open."""
    import threading

    from django.db import connection, transaction

    job = open_job(items=2, redundancy=1)
    answered = answered_but_unfinished(job, worker)
    reopened, release, outcome = threading.Event(), threading.Event(), {}

    def reject_slowly():
        try:
            with transaction.atomic():
                outcome["reopened"] = quality.answers_stop_counting(answered[:1])
                reopened.set()
                release.wait(10)
        finally:
            connection.close()

    def finish():
        try:
            outcome["done"] = results.job_complete_if_finished(Job.objects.get(pk=job.pk))
        finally:
            connection.close()

    rejecting = threading.Thread(target=reject_slowly)
    rejecting.start()
    assert reopened.wait(10)
    finishing = threading.Thread(target=finish)
    finishing.start()
    finishing.join(1)
    assert finishing.is_alive()  # it waits for the job's row, which the reject holds
    release.set()
    rejecting.join(10)
    finishing.join(10)
    assert outcome["reopened"] and outcome["done"] is False
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    assert Microtask.objects.filter(job=job, status="open").count() == 1


def test_a_done_job_with_an_open_microtask_is_reopened_by_the_repair_pass(worker):
    job = open_job(items=2, redundancy=1)
    finish_job(job, worker)
    Microtask.objects.filter(job=job).filter(pk=Microtask.objects.filter(job=job).order_by("pk")[0].pk).update(
        status="open", answer_count=0, completed_at=None
    )  # what a lost re-opening leaves
    results.results_repair()
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    assert get_redis().hexists(keys.jobs(), job.pk)
