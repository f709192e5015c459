"""Results while a job runs: items get results as microtasks complete, disagreement asks for more answers."""

import uuid

import pytest

from tasks import results, services
from tasks.models import Item, Job, JobWorker, Microtask
from tests import factories
from tests.scheduling import Client, run

pytestmark = pytest.mark.django_db(transaction=True)


def answer_all(workers, values_by_worker, rounds=10):
    """Each worker answers what it is given with its fixed value until it gets no more work."""

    async def body():
        for worker in workers:
            c = await Client.open(worker)
            for _ in range(rounds):
                msg = await c.recv_type("task.assigned", "task.none")
                if msg["type"] == "task.none":
                    break
                await c.submit(msg, values_by_worker[worker.pk], uuid.uuid4().hex)
            await c.close()

    run(body)


def test_results_appear_when_microtasks_complete_and_the_job_finishes():
    job = factories.make_job(redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
    services.job_publish(job)
    w1, w2 = factories.make_worker(), factories.make_worker()
    answer_all([w1, w2], {w1.pk: "banana", w2.pk: "banana"})
    assert results.results_pending() == 3
    for item in Item.objects.filter(job=job):
        assert item.result == "banana" and item.result_source == "human" and item.answer_count == 2
        assert 0.5 < item.confidence <= 1 and item.agreement == 1.0
    job.refresh_from_db()
    assert job.status == Job.Status.DONE
    # A done job's results are final: the whole-job pass ran before "done", and the one after it changes nothing
    # (no new result version for a webhook or an export to pick up after job.done).
    versions = dict(Item.objects.filter(job=job).values_list("id", "result_version"))
    assert results.results_refresh_dirty() == [job.pk]
    assert dict(Item.objects.filter(job=job).values_list("id", "result_version")) == versions
    record = JobWorker.objects.get(job=job, worker=w1)
    assert record.answers == 3 and record.trust is not None


def test_disagreement_gets_more_answers_up_to_the_maximum():
    job = factories.make_job(redundancy=2, max_answers=3, target_confidence=0.99)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(1)))
    services.job_publish(job)
    w1, w2, w3, w4 = (factories.make_worker() for _ in range(4))
    answer_all([w1, w2], {w1.pk: "apple", w2.pk: "cherry"})
    mt = Microtask.objects.get(job=job)
    assert mt.status == "done" and mt.answer_count == 2
    results.results_pending()
    mt.refresh_from_db()
    assert mt.status == "open" and mt.answers_wanted == 3  # people disagree: one more answer
    answer_all([w3, w4], {w3.pk: "apple", w4.pk: "apple"})
    mt.refresh_from_db()
    assert mt.answer_count == 3  # the fourth worker got nothing: the maximum is 3
    results.results_pending()
    mt.refresh_from_db()
    assert mt.status == "done" and mt.answers_wanted == 3
    assert Item.objects.get(job=job).result == "apple"
