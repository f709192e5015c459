"""Writes to the workers' ledger beyond rewards (those are tasks/quality.py's): payout batches and bonuses.

A worker's balance is the sum of their ledger entries. A payout is an entry of minus the balance, so the balance
after a batch is exactly what accrued after it.
"""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction

from quorum.money import amount_text, currency, money

from .models import LedgerEntry, PayoutBatch

NOTE_MAX_LENGTH = LedgerEntry._meta.get_field("note").max_length
MAX_MINIMUM = Decimal("1000000")


class LedgerRefused(ValueError):
    """A payout or bonus that may not be made; the message says why, for the person who asked."""


def amount_parse(value, *, field: str = "amount") -> Decimal:
    """A positive amount of money with at most two decimals, from a form or JSON value."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise LedgerRefused(f"the {field} must be a number such as 0.50") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise LedgerRefused(f"the {field} must be a number with at most two decimals, such as 0.50")
    return amount


# Workers whose balance reached the minimum, locked in id order so two batches made at the same moment take
# turns. FOR NO KEY UPDATE, not FOR UPDATE: it does not conflict with the key-share lock a reward's INSERT takes
# on the worker's row, so accepting answers never waits for a batch (nor deadlocks with a multi-row auto-accept).
LOCK_PAYABLE_SQL = """
SELECT u.id FROM workers_user u
WHERE u.id IN (SELECT worker_id FROM workers_ledgerentry GROUP BY worker_id HAVING sum(amount) >= %s)
ORDER BY u.id FOR NO KEY UPDATE OF u
"""

# One statement, so each payout is minus the sum of exactly the entries this statement sees: a reward committed
# after it stays in the balance (paid by the next batch), one committed before it is paid now; neither is lost or
# paid twice. The unique (batch, worker) constraint pays a worker at most once per batch.
PAYOUT_SQL = """
INSERT INTO workers_ledgerentry (worker_id, job_id, assignment_id, kind, amount, note, created_at, batch_id)
SELECT worker_id, NULL, NULL, 'payout', -sum(amount), %s, now(), %s
FROM workers_ledgerentry WHERE worker_id = ANY(%s)
GROUP BY worker_id HAVING sum(amount) >= %s
"""


def _lock_payable_workers(cursor, minimum: Decimal) -> list[int]:
    cursor.execute(LOCK_PAYABLE_SQL, [minimum])
    return [row[0] for row in cursor.fetchall()]


def payout_batch_create(*, created_by, minimum, note: str = "") -> PayoutBatch:
    """Pay every worker whose balance is at least `minimum` (greater than zero) their whole balance, in one batch."""
    minimum = amount_parse(minimum, field="minimum")
    if minimum <= 0 or minimum > MAX_MINIMUM:
        raise LedgerRefused(f"the minimum must be more than 0 and at most {amount_text(MAX_MINIMUM)}")
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise LedgerRefused(f"the note may be at most {NOTE_MAX_LENGTH} characters")
    from tasks import quality

    with transaction.atomic():
        batch = PayoutBatch.objects.create(created_by=created_by, minimum=minimum, currency=currency(), note=note)
        with connection.cursor() as cursor:
            workers = _lock_payable_workers(cursor, minimum)
            if workers:
                cursor.execute(PAYOUT_SQL, [f"payout batch {batch.pk}", batch.pk, workers, minimum])
            cursor.execute(
                "SELECT count(*), coalesce(-sum(amount), 0) FROM workers_ledgerentry WHERE batch_id = %s", [batch.pk]
            )
            batch.count, batch.total = cursor.fetchone()
        batch.save(update_fields=["count", "total"])
        quality.earnings_changed(batch.payouts.values_list("worker_id", flat=True))
    return batch


def max_bonus() -> Decimal:
    return Decimal(settings.QUORUM_MAX_BONUS)


def bonus_pay(*, job, worker_id: int, amount, reason: str, paid_by) -> LedgerEntry:
    """A bonus from a job's owner to a worker who answered on that job, with the reason (shown to the worker)."""
    from tasks import quality
    from tasks.models import Assignment, Job

    if job.owner_id != paid_by.pk:
        raise PermissionError("only the job's owner can pay bonuses on it")
    reason = (reason or "").strip()
    if not reason:
        raise LedgerRefused("say why you pay this bonus (the worker sees the reason)")
    if len(reason) > NOTE_MAX_LENGTH:
        raise LedgerRefused(f"the reason may be at most {NOTE_MAX_LENGTH} characters")
    amount = amount_parse(amount)
    if amount <= 0 or amount > max_bonus():
        raise LedgerRefused(f"a bonus must be more than {money(0)} and at most {money(max_bonus())}")
    with transaction.atomic():
        # The job's row in no-key mode: bonuses on one job take turns for the budget, leases are not held up.
        job = Job.objects.select_for_update(no_key=True).get(pk=job.pk)
        worked = Assignment.objects.filter(job=job, worker_id=worker_id, status=Assignment.Status.SUBMITTED)
        if not worked.exists():
            raise LedgerRefused("this worker has not answered on this job, so they cannot get a bonus on it")
        if job.budget is not None:
            committed = quality.job_committed(job.pk)
            if committed + amount > job.budget:
                raise LedgerRefused(
                    f"the bonus would take the job past its budget ({money(committed)} of {money(job.budget)}"
                    " committed)"
                )
        entry = LedgerEntry.objects.create(
            worker_id=worker_id, job=job, kind=LedgerEntry.Kind.BONUS, amount=amount, note=reason
        )
        quality.earnings_changed([worker_id])
    return entry
