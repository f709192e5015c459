"""A worker's money: the statement and its running balance, answers awaiting review, payout batches (exact,
idempotent, safe against rewards written meanwhile), their CSV, and requesters' bonuses."""

import csv
import io
import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from quorum.redis import get_redis
from tasks import quality, selectors, services
from tasks.models import Answer, Assignment, Microtask
from tasks.scheduling import keys
from tests import factories
from workers import ledger
from workers.models import LedgerEntry, PayoutBatch
from workers.selectors import (
    payout_batch_csv,
    worker_awaiting_review,
    worker_balance,
    worker_statement_page,
    worker_stats,
)
from workers.tokens import token_for_signin

pytestmark = pytest.mark.django_db(transaction=True)


def job_with_microtasks(items: int = 4, **fields):
    job = factories.make_job(redundancy=1, **fields)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(items)))
    services.job_publish(job)
    job.refresh_from_db()
    return job, list(Microtask.objects.filter(job=job).order_by("index"))


def submitted(job, worker, microtask, *, hours_ago: float = 1.0, flag: str = "") -> Assignment:
    now = timezone.now()
    assignment = Assignment.objects.create(
        microtask=microtask, job=job, worker=worker, status="submitted", leased_at=now - timedelta(hours=hours_ago),
        expires_at=now, submitted_at=now - timedelta(hours=hours_ago), seconds_taken=10, flag=flag,
    )  # fmt: skip
    for item in microtask.items:
        Answer.objects.create(assignment=assignment, item=item, job=job, worker=worker, value="apple")
    Microtask.objects.filter(pk=microtask.pk).update(answer_count=1, status="done")
    return assignment


def credit(worker, amount: str, kind: str = "adjustment", note: str = "") -> LedgerEntry:
    return LedgerEntry.objects.create(worker=worker, kind=kind, amount=Decimal(amount), note=note)


def balance_of(worker) -> Decimal:
    return sum((e.amount for e in LedgerEntry.objects.filter(worker=worker)), Decimal("0"))


# --- statement -------------------------------------------------------------------------------------------------


def test_the_statement_lists_entries_newest_first_with_the_balance_after_each():
    worker = factories.make_worker()
    job, (m1, m2, m3, _) = job_with_microtasks(reward="0.25")
    a1, a2 = submitted(job, worker, m1), submitted(job, worker, m2)
    services.assignment_review(a1, accepted=True)
    services.assignment_review(a2, accepted=True)
    credit(worker, "-0.10", note="correction")
    submitted(job, worker, m3)  # awaiting review: not in the balance

    page = worker_statement_page(worker, per_page=2)
    assert page["count"] == 3 and page["pages"] == 2 and page["page"] == 1
    assert [(e["kind"], e["amount"], e["balance"]) for e in page["entries"]] == [
        ("adjustment", Decimal("-0.10"), Decimal("0.40")),
        ("reward", Decimal("0.25"), Decimal("0.50")),
    ]
    older = worker_statement_page(worker, page=2, per_page=2)
    assert [(e["kind"], e["balance"], e["job"]) for e in older["entries"]] == [("reward", Decimal("0.25"), job.name)]
    summary = worker_balance(worker)
    assert summary["balance"] == Decimal("0.40") and summary["paid"] == 0
    assert summary["awaiting"] == Decimal("0.25") and summary["awaiting_count"] == 1


def test_awaiting_review_says_when_each_answer_is_accepted_automatically():
    worker = factories.make_worker()
    job, (m1, m2, *_) = job_with_microtasks(reward="0.10", auto_accept_hours=5)
    ok = submitted(job, worker, m1, hours_ago=2)
    submitted(job, worker, m2, hours_ago=1, flag="too_fast")
    rows = worker_awaiting_review(worker)
    assert [r["assignment_id"] for r in rows][0] == ok.pk
    assert rows[0]["auto_accept_at"] == ok.submitted_at + timedelta(hours=5)
    assert rows[1]["auto_accept_at"] is None  # flagged: a person reviews it


def test_the_statement_api_is_the_workers_own_and_says_the_currency(settings):
    settings.QUORUM_CURRENCY = "EUR"
    worker, other = factories.make_worker(), factories.make_worker()
    job, (m1, m2, *_) = job_with_microtasks(reward="0.30", auto_accept_hours=1)
    services.assignment_review(submitted(job, worker, m1), accepted=True)
    submitted(job, worker, m2, hours_ago=0.5)
    credit(other, "9.00")
    api = APIClient()
    assert api.get("/api/me/statement/").status_code in (401, 403)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for_signin(worker).key}")
    body = api.get("/api/me/statement/").json()
    assert body["currency"] == "EUR" and body["balance"] == "0.30" and body["awaiting"] == "0.30"
    assert body["text"]["earnings_total"] == "EUR 0.30"
    assert [(e["kind"], e["amount"], e["balance"]) for e in body["entries"]] == [("reward", "0.30", "0.30")]
    assert body["awaiting_review"][0]["auto_accept_at"] is not None
    summary = api.get("/api/me/statement/?summary=1").json()
    assert "entries" not in summary and summary["text"]["balance"] == "EUR 0.30"
    requester_api = APIClient()
    requester_api.force_authenticate(factories.make_requester())
    assert requester_api.get("/api/me/statement/").status_code == 403


def test_the_statement_page_is_for_workers_and_the_work_page_links_it(settings):
    settings.QUORUM_CURRENCY = "EUR"
    worker = factories.make_worker()
    credit(worker, "1.25", kind="bonus", note="Thanks for the <careful> work")
    page = Client()
    page.force_login(worker)
    work = page.get("/work/").content.decode()
    assert 'id="w-total">EUR 1.25<' in work and 'href="/work/statement/"' in work
    body = page.get("/work/statement/").content.decode()
    assert "EUR 1.25" in body and "Thanks for the &lt;careful&gt; work" in body
    requester = Client()
    requester.force_login(factories.make_requester())
    assert requester.get("/work/statement/").status_code == 403


# --- payout batches --------------------------------------------------------------------------------------------


def test_a_payout_batch_pays_exactly_the_balances_at_the_minimum_and_leaves_the_rest():
    staff = factories.make_requester()
    ana, ben, cy = factories.make_worker("ana"), factories.make_worker("ben"), factories.make_worker("cy")
    credit(ana, "1.00"), credit(ana, "0.50")
    credit(ben, "0.40")
    credit(cy, "2.00")
    batch = ledger.payout_batch_create(created_by=staff, minimum="1.00", note="March")
    assert (batch.count, batch.total, batch.currency) == (2, Decimal("1.50") + Decimal("2.00"), "USD")
    assert balance_of(ana) == 0 and balance_of(cy) == 0 and balance_of(ben) == Decimal("0.40")
    payout = LedgerEntry.objects.get(worker=ana, kind="payout")
    assert payout.amount == Decimal("-1.50") and payout.batch == batch
    assert worker_balance(ana)["paid"] == Decimal("1.50")
    assert worker_stats(ana)["earnings_total"] == "1.50"  # being paid does not undo having earned
    assert worker_statement_page(ana)["entries"][0]["kind_label"] == "Paid"
    # Again at once: nobody is owed the minimum, so nobody is paid twice.
    again = ledger.payout_batch_create(created_by=staff, minimum="1.00")
    assert again.count == 0 and again.total == 0
    # One payout per worker per batch, whatever writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(worker=ana, kind="payout", amount=Decimal("-1"), batch=batch)


@pytest.mark.parametrize("minimum", ["0", "-1", "abc", "0.001", "99999999"])
def test_a_payout_batch_needs_a_sensible_minimum(minimum):
    with pytest.raises(ledger.LedgerRefused):
        ledger.payout_batch_create(created_by=factories.make_requester(), minimum=minimum)
    assert not PayoutBatch.objects.exists()


def in_thread(fn):
    """Run fn on its own thread (its own database connection) and wait for it."""
    errors = []

    def target():
        try:
            fn()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


def test_a_reward_written_while_the_batch_runs_is_neither_lost_nor_paid():
    staff, worker = factories.make_requester(), factories.make_worker()
    credit(worker, "2.00")
    inserted, batch_done = threading.Event(), threading.Event()

    def accept_meanwhile():
        with transaction.atomic():
            credit(worker, "0.30", kind="reward")
            inserted.set()
            assert batch_done.wait(20)  # commits only after the batch did

    thread, errors = in_thread(accept_meanwhile)
    assert inserted.wait(20)
    batch = ledger.payout_batch_create(created_by=staff, minimum="1.00")  # never waits for the accept
    batch_done.set()
    thread.join(20)
    assert not errors
    assert batch.total == Decimal("2.00")
    assert balance_of(worker) == Decimal("0.30")  # exactly what accrued after the batch: paid by the next one
    assert ledger.payout_batch_create(created_by=staff, minimum="0.10").total == Decimal("0.30")
    assert balance_of(worker) == 0


def test_a_reward_committed_after_the_lock_is_paid_once(monkeypatch):
    staff, worker = factories.make_requester(), factories.make_worker()
    credit(worker, "2.00")
    locked = ledger._lock_payable_workers

    def lock_then_accept(cursor, minimum):
        workers = locked(cursor, minimum)
        thread, errors = in_thread(lambda: credit(worker, "0.30", kind="reward"))
        thread.join(20)
        assert not errors
        return workers

    monkeypatch.setattr(ledger, "_lock_payable_workers", lock_then_accept)
    batch = ledger.payout_batch_create(created_by=staff, minimum="1.00")
    assert batch.total == Decimal("2.30") and balance_of(worker) == 0


def test_two_batches_at_once_pay_a_worker_once(monkeypatch):
    staff, worker = factories.make_requester(), factories.make_worker()
    credit(worker, "5.00")
    locked, first_holds, release = ledger._lock_payable_workers, threading.Event(), threading.Event()

    def lock_and_hold(cursor, minimum):
        workers = locked(cursor, minimum)
        if threading.current_thread().name == "first":
            first_holds.set()
            assert release.wait(20)
        return workers

    monkeypatch.setattr(ledger, "_lock_payable_workers", lock_and_hold)
    totals = {}

    def run(name):
        def body():
            totals[name] = ledger.payout_batch_create(created_by=staff, minimum="1.00").total

        thread, errors = in_thread(body)
        thread.name = name
        return thread, errors

    first, first_errors = run("first")
    assert first_holds.wait(20)
    second, second_errors = run("second")  # waits on the first one's lock on the worker
    second.join(1)
    assert second.is_alive()
    release.set()
    first.join(20), second.join(20)
    assert not first_errors and not second_errors
    assert sorted(totals.values()) == [Decimal("0"), Decimal("5.00")]
    assert balance_of(worker) == 0


def test_the_payout_csv_is_for_spreadsheets_and_says_the_currency(settings):
    settings.QUORUM_CURRENCY = "EUR"
    staff, worker = factories.make_requester(), factories.make_worker("zoë")
    type(worker).objects.filter(pk=worker.pk).update(email='=HYPERLINK("http://x")@example.com')
    credit(worker, "1.50")
    credit(factories.make_worker("ada"), "1.0250")  # sub-cent rewards: the CSV pays exactly what was taken
    batch = ledger.payout_batch_create(created_by=staff, minimum="1.00")
    data = payout_batch_csv(batch)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [
        ["worker", "email", "amount", "currency", "batch"],
        ["ada", "", "1.0250", "EUR", str(batch.pk)],
        ["zoë", '\'=HYPERLINK("http://x")@example.com', "1.50", "EUR", str(batch.pk)],
    ]


def test_the_console_makes_a_batch_and_serves_its_csv_to_staff_only():
    staff = factories.make_requester("staffer")
    staff.is_staff = True
    staff.save()
    credit(factories.make_worker("wyn"), "3.00")
    page = Client()
    page.force_login(staff)
    response = page.post("/console/payouts/", {"minimum": "1.00", "note": "weekly"}, follow=True)
    assert "Payout batch" in response.content.decode() and "USD 3.00" in response.content.decode()
    batch = PayoutBatch.objects.get()
    download = page.get(f"/console/payouts/{batch.pk}.csv")
    assert download["Content-Disposition"] == f'attachment; filename="payout-batch-{batch.pk}.csv"'
    assert b"wyn" in download.content
    outsider = Client()
    outsider.force_login(factories.make_requester())
    assert outsider.get(f"/console/payouts/{batch.pk}.csv").status_code == 403
    assert outsider.post("/console/payouts/", {"minimum": "1.00"}).status_code == 403
    assert PayoutBatch.objects.count() == 1


# --- bonuses ---------------------------------------------------------------------------------------------------


@pytest.fixture
def bonus_setup():
    owner = factories.make_requester("owner")
    job, (m1, *_) = job_with_microtasks(owner=owner, reward="0.20", budget="5.00")
    worker = factories.make_worker("worked")
    submitted(job, worker, m1)
    api = APIClient()
    api.force_authenticate(owner)
    return owner, job, worker, api


def test_the_owner_pays_a_bonus_that_counts_in_the_job_cost(bonus_setup):
    owner, job, worker, api = bonus_setup
    response = api.post(f"/api/jobs/{job.pk}/workers/{worker.pk}/bonus/", {"amount": "1.50", "reason": "Great notes"})
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "1.50" and response.json()["currency"] == "USD"
    entry = LedgerEntry.objects.get(worker=worker, kind="bonus")
    assert entry.job == job and entry.note == "Great notes" and entry.amount == Decimal("1.50")
    assert selectors.job_costs([job])[job.pk] == Decimal("1.70")  # the answer's 0.20 and the bonus
    assert selectors.job_details(job)["cost_text"] == "USD 1.70"


@pytest.mark.parametrize(
    "amount,reason,message",
    [
        ("0", "ok", "more than"),
        ("-1", "ok", "more than"),
        ("100.01", "ok", "at most USD 100.00"),
        ("1", "", "say why"),
        ("1", "   ", "say why"),
        ("1", "x" * 201, "no more than 200 characters"),
        ("4.81", "over budget", "past its budget"),
    ],
)
def test_a_bonus_is_bounded_and_needs_a_reason(bonus_setup, amount, reason, message):
    owner, job, worker, api = bonus_setup
    if amount == "100.01":
        job.budget = None
        job.save()
    response = api.post(f"/api/jobs/{job.pk}/workers/{worker.pk}/bonus/", {"amount": amount, "reason": reason})
    assert response.status_code == 400
    assert message in str(response.json())
    assert not LedgerEntry.objects.filter(kind="bonus").exists()


def test_a_bonus_goes_only_to_someone_who_worked_on_the_owners_job(bonus_setup):
    owner, job, worker, api = bonus_setup
    stranger = factories.make_worker("stranger")
    response = api.post(f"/api/jobs/{job.pk}/workers/{stranger.pk}/bonus/", {"amount": "1", "reason": "hi"})
    assert response.status_code == 400 and "has not answered on this job" in response.json()["detail"]
    other = APIClient()
    other.force_authenticate(factories.make_requester("other"))
    response = other.post(f"/api/jobs/{job.pk}/workers/{worker.pk}/bonus/", {"amount": "1", "reason": "hi"})
    assert response.status_code == 404
    staff = factories.make_requester("staffy")
    staff.is_staff = True
    staff.save()
    staff_api = APIClient()
    staff_api.force_authenticate(staff)
    response = staff_api.post(f"/api/jobs/{job.pk}/workers/{worker.pk}/bonus/", {"amount": "1", "reason": "hi"})
    assert response.status_code == 403
    assert not LedgerEntry.objects.filter(kind="bonus").exists()


def test_the_job_pages_bonus_form_pays_and_says_so(bonus_setup):
    owner, job, worker, _ = bonus_setup
    page = Client()
    page.force_login(owner)
    assert 'id="bonus-form-template"' in page.get(f"/jobs/{job.pk}/").content.decode()
    response = page.post(
        f"/jobs/{job.pk}/workers/{worker.pk}/bonus/",
        {"amount": "0.75", "reason": "Careful", "next": f"/jobs/{job.pk}/"},
        follow=True,
    )
    assert "Bonus of USD 0.75 paid to worked." in response.content.decode()
    response = page.post(f"/jobs/{job.pk}/workers/{worker.pk}/bonus/", {"amount": "0.75", "reason": ""}, follow=True)
    assert "No bonus paid: say why" in response.content.decode()
    assert LedgerEntry.objects.filter(kind="bonus").count() == 1


def test_bonuses_count_against_the_budget():
    owner = factories.make_requester()
    job, (m1, *_) = job_with_microtasks(owner=owner, reward="0.20", budget="1.00")
    worker = factories.make_worker()
    submitted(job, worker, m1)
    ledger.bonus_pay(job=job, worker_id=worker.pk, amount="0.80", reason="good", paid_by=owner)
    assert quality.budgets_enforce() == [job.pk]


# --- admin and the live nudge ----------------------------------------------------------------------------------


def test_staff_see_batches_read_only_and_add_adjustments_in_the_admin():
    staff = factories.make_requester("boss")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    worker = factories.make_worker("wren")
    credit(worker, "2.00")
    batch = ledger.payout_batch_create(created_by=staff, minimum="1.00", note="admin check")
    page = Client()
    page.force_login(staff)
    assert "admin check" in page.get("/admin/workers/payoutbatch/").content.decode()
    assert page.get("/admin/workers/payoutbatch/add/").status_code == 403
    assert page.post(f"/admin/workers/payoutbatch/{batch.pk}/delete/", {"post": "yes"}).status_code == 403
    response = page.post(
        "/admin/workers/ledgerentry/add/", {"worker": worker.pk, "amount": "0.40", "note": "missed reward"}
    )
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(note="missed reward")
    assert entry.kind == "adjustment" and balance_of(worker) == Decimal("0.40")


def test_accepting_answers_automatically_nudges_the_workers_pages():
    worker = factories.make_worker()
    job, (m1, *_) = job_with_microtasks(reward="0.10", auto_accept_hours=0.5)
    submitted(job, worker, m1)
    listener = get_redis().pubsub()
    listener.subscribe(keys.control_channel())
    listener.get_message(timeout=1)  # the subscription's confirmation
    assert quality.assignments_auto_accept() == 1
    message = listener.get_message(timeout=5)
    listener.close()
    assert message is not None
    assert json.loads(message["data"]) == {"type": "earnings.changed", "worker_ids": [worker.pk]}
