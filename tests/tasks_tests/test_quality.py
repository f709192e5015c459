"""Quality control a requester relies on: gold checks block bad workers, review pays, budgets stop leases."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from tasks import quality, services
from tasks.forms import Form
from tasks.models import Answer, Assignment, Job, JobWorker, Microtask
from tasks.scheduling import runtime
from tests import factories
from tests.scheduling import Client, run
from workers.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)


def key() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize(
    "question_type,answer,gold,right",
    [
        ("free_text", "paris.", "Paris", True),  # the vote counts these as one answer, so gold does too
        ("free_text", "  Saint\u00a0Louis ", "saint louis", True),
        ("free_text", "Lyon", "Paris", False),
        ("number", 7, 7.0, True),
        ("number", "7", 7.0, True),
        ("number", 8, 7.0, False),
        ("multiple_choice", ["banana", "apple"], ["apple", "banana"], True),
        ("multiple_choice", ["apple"], ["apple", "banana"], False),
        ("single_choice", "apple", "apple", True),
        ("single_choice", "banana", "apple", False),
    ],
)
def test_gold_answers_are_judged_by_the_rules_of_the_vote(question_type, answer, gold, right):
    job = Job(question_type=question_type, options=["apple", "banana"])
    assert quality.gold_checks_of_answer(Form.for_job(job), answer, gold) == (1, int(right))


def test_a_worker_failing_gold_is_blocked_and_their_microtasks_are_answered_again(monkeypatch):
    monkeypatch.setattr(runtime, "gold_probability", lambda total, correct: 1.0)
    # 0 of 2 right: the 95 % interval is 0-66 %, wholly below 70 %.
    job = factories.make_job(redundancy=1, block_below_accuracy=0.7, block_min_gold=2)
    factories.ingest_now(job, b"id,text,gold\ng1,known one,apple\ng2,known two,banana\no1,open one,\no2,open two,\n")
    services.job_publish(job)
    bad, good = factories.make_worker(), factories.make_worker()

    async def body():
        b = await Client.open(bad)
        for _ in range(2):
            gold = await b.recv_type("task.assigned")
            assert gold["items"][0]["text"].startswith("known")  # workers see the text column only
            assert (await b.submit(gold, "cherry", key()))["status"] == "accepted"  # wrong on purpose
        ordinary = await b.recv_type("task.assigned")
        assert (await b.submit(ordinary, "apple", key()))["status"] == "accepted"
        await b.recv_type("task.assigned")  # holds the last microtask
        assert await sync_to_async(quality.gold_checks_pending)() == 2
        revoked = await b.recv_type("task.revoked")
        assert revoked["reason"] == "blocked"
        assert (await b.recv_type("task.none"))["type"] == "task.none"
        g = await Client.open(good)
        answered = set()
        for _ in range(4):
            task = await g.recv_type("task.assigned")
            answered.add(task["items"][0]["text"])
            value = {"known one": "apple", "known two": "banana"}.get(task["items"][0]["text"], "cherry")
            assert (await g.submit(task, value, key()))["status"] == "accepted"
        assert answered == {"known one", "known two", "open one", "open two"}
        await b.close()
        await g.close()

    run(body)
    record = JobWorker.objects.get(job=job, worker=bad)
    assert record.blocked and record.gold_total == 2 and record.gold_correct == 0
    assert record.blocked_reason == "gold accuracy 0/2 (95 % interval 0-66 %) below 70 % (automatic)"
    for mt in Microtask.objects.filter(job=job, is_gold=False):
        assert mt.status == "done" and mt.answer_count == 1
        assert Answer.objects.filter(assignment__microtask=mt, counts=True).count() == 1
    assert not Answer.objects.filter(worker=bad, counts=True, item__gold__isnull=True).exists()
    bad.worker_profile.refresh_from_db()
    assert bad.worker_profile.gold_total == 2 and bad.worker_profile.gold_correct == 0


def submitted(job, worker, microtask, seconds=10.0, flag=""):
    now = timezone.now()
    assignment = Assignment.objects.create(
        microtask=microtask, job=job, worker=worker, status="submitted", leased_at=now - timedelta(hours=1),
        expires_at=now, submitted_at=now - timedelta(hours=1), seconds_taken=seconds, flag=flag,
    )  # fmt: skip
    for item in microtask.items:
        Answer.objects.create(assignment=assignment, item=item, job=job, worker=worker, value="apple")
    Microtask.objects.filter(pk=microtask.pk).update(answer_count=1, status="done")
    return assignment


def gold_record_scored(right: int, wrong: int, **rule) -> JobWorker:
    """A worker answers ``right`` gold items right and ``wrong`` ones wrong, then the gold checks run."""
    job = factories.make_job(redundancy=1, **rule)
    rows = [
        {"id": f"g{i}", "text": f"known {i}", "gold": "apple" if i < right else "banana"} for i in range(right + wrong)
    ]
    factories.ingest_now(job, factories.csv_bytes(rows))
    services.job_publish(job)
    worker = factories.make_worker()
    answered = [submitted(job, worker, microtask).pk for microtask in Microtask.objects.filter(job=job, is_gold=True)]
    assert len(answered) == right + wrong
    quality.gold_checks_record(answered)
    return JobWorker.objects.get(job=job, worker=worker)


def test_one_unlucky_gold_answer_blocks_nobody():
    record = gold_record_scored(0, 1, block_below_accuracy=0.7, block_min_gold=1)
    assert (record.gold_total, record.gold_correct) == (1, 0)
    assert not record.blocked  # 0 of 1 is 0-79 %: it may well be a 70 % worker


@pytest.mark.parametrize(
    "right,wrong,reason",
    [
        (0, 12, "gold accuracy 0/12 (95 % interval 0-24 %) below 70 % (automatic)"),
        (2, 8, "gold accuracy 2/10 (95 % interval 6-51 %) below 70 % (automatic)"),
    ],
)
def test_a_worker_surely_below_the_threshold_is_blocked_with_the_interval_as_reason(right, wrong, reason):
    record = gold_record_scored(right, wrong, block_below_accuracy=0.7, block_min_gold=1)
    assert record.blocked and record.blocked_reason == reason


def test_a_low_record_whose_interval_reaches_the_threshold_is_not_blocked():
    record = gold_record_scored(2, 3, block_below_accuracy=0.7, block_min_gold=1)  # 40 %, but 12-77 %
    assert not record.blocked


def test_review_pays_accepted_answers_and_reopens_rejected_ones():
    job = factories.make_job(redundancy=1, reward="0.25")
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(2)))
    services.job_publish(job)
    worker = factories.make_worker()
    first, second = Microtask.objects.filter(job=job).order_by("index")
    a1, a2 = submitted(job, worker, first), submitted(job, worker, second)
    assert quality.assignments_review([a1.pk], accepted=True) == 1
    assert quality.assignments_review([a1.pk], accepted=True) == 0  # reviewed once
    entry = LedgerEntry.objects.get(assignment=a1)
    assert entry.amount == Decimal("0.25") and entry.worker == worker and entry.kind == "reward"
    assert quality.assignments_review([a2.pk], accepted=False) == 1
    second.refresh_from_db()
    assert second.status == "open" and second.answer_count == 0
    assert not Answer.objects.get(assignment=a2).counts
    assert not LedgerEntry.objects.filter(assignment=a2).exists()


def test_answers_are_accepted_automatically_after_the_delay_unless_flagged():
    job = factories.make_job(redundancy=1, reward="0.10", auto_accept_hours=0.5)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(2)))
    worker = factories.make_worker()
    first, second = Microtask.objects.filter(job=job).order_by("index")
    ok, fast = submitted(job, worker, first), submitted(job, worker, second, seconds=0.1, flag="too_fast")
    assert quality.assignments_auto_accept() == 1
    assert Assignment.objects.get(pk=ok.pk).review == "accepted"
    assert Assignment.objects.get(pk=fast.pk).review == "pending"
    assert sum(e.amount for e in LedgerEntry.objects.filter(worker=worker)) == Decimal("0.10")


def test_too_fast_answers_are_flagged(worker):
    job = factories.make_job(redundancy=1, min_seconds_per_item=30)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(1)))
    services.job_publish(job)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await c.submit(task, "apple", key())
        await c.close()

    run(body)
    assert Assignment.objects.get(job=job, worker=worker).flag == "too_fast"


def test_a_spent_budget_pauses_the_job(worker):
    job = factories.make_job(redundancy=1, reward="1.00", budget="2.00")
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(5)))
    services.job_publish(job)

    async def body():
        c = await Client.open(worker)
        for _ in range(2):
            task = await c.recv_type("task.assigned")
            await c.submit(task, "apple", key())
        await c.close()

    run(body)
    assert quality.budgets_enforce() == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.PAUSED and job.status_reason == "budget spent"
