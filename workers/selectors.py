"""Reads about workers: the worker page's earnings and history, the console's who-is-online.

Earnings are the worker's ledger (a reward per accepted assignment); submitted assignments not yet reviewed
are shown as pending.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, Sum, Window
from django.utils import timezone

from quorum.money import amount_text, exact_amount_text
from quorum.redis import get_redis
from tasks.exports import UTF8_BOM, csv_cell
from tasks.models import Answer, Assignment
from tasks.scheduling import keys
from tasks.selectors import accuracy_shown

from .models import LedgerEntry, PayoutBatch, WorkerProfile

ONLINE_WINDOW = timedelta(minutes=2)


def worker_stats(user) -> dict:
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    # Earned: everything but payouts (being paid does not undo having earned); the balance is the statement's.
    paid = (
        LedgerEntry.objects.filter(worker=user)
        .exclude(kind=LedgerEntry.Kind.PAYOUT)
        .aggregate(total=Sum("amount"), today=Sum("amount", filter=Q(created_at__gte=today)))
    )
    # Queried through assignments (indexed by worker); answers have no worker index, to keep submits cheap.
    submitted = Assignment.objects.filter(worker=user, status=Assignment.Status.SUBMITTED)
    sums = submitted.aggregate(
        pending=Sum("reward", filter=Q(review=Assignment.Review.PENDING)), microtasks=Count("id")
    )
    # One answer row per item of a submitted microtask, found by assignment (the (assignment, item) key). Not through
    # the microtasks' item counts: a query over microtasks of many jobs locks every job's table, and past some
    # 1,500 jobs PostgreSQL runs out of locks (docs/DEPLOYMENT.md).
    sums["answers"] = Answer.objects.filter(assignment_id__in=submitted.values("id")).count()
    profile = WorkerProfile.objects.filter(user=user).first()
    return {
        "earnings_today": amount_text(paid["today"]),
        "earnings_total": amount_text(paid["total"]),
        "earnings_pending": amount_text(sums["pending"]),
        "microtasks": sums["microtasks"],
        "answers": sums["answers"] or 0,
        # accuracy, accuracy_low, accuracy_high, accuracy_text: on gold, with its interval.
        **accuracy_shown(profile.gold_correct if profile else None, profile.gold_total if profile else 0),
        "blocked": bool(profile and profile.blocked),
    }


def worker_history(user, limit: int = 20) -> list[dict]:
    rows = (
        Assignment.objects.filter(worker=user)
        .exclude(status=Assignment.Status.LEASED)
        .select_related("job")
        .order_by("-leased_at")[:limit]
    )
    return [
        {
            "assignment_id": a.pk,
            "job": a.job.name,
            "status": a.status,
            "status_label": a.get_status_display(),
            "review": a.review,
            "review_label": a.get_review_display(),
            "reward": str(a.reward.quantize(Decimal("0.01"))) if a.status == Assignment.Status.SUBMITTED else "",
            "when": a.submitted_at or a.leased_at,
        }
        for a in rows
    ]


def workers_online() -> dict:
    """Workers with an open WebSocket (the scheduler's presence set in Redis), and how many are blocked.

    Without Redis, workers holding a lease or who answered in the last two minutes stand in.
    """
    try:
        online = get_redis().zcard(keys.online())
    except Exception:
        since = timezone.now() - ONLINE_WINDOW
        online = (
            Assignment.objects.filter(Q(status=Assignment.Status.LEASED) | Q(submitted_at__gte=since))
            .values("worker_id")
            .distinct()
            .count()
        )
    return {
        "online": online,
        "blocked": WorkerProfile.objects.filter(blocked=True).count(),
        "registered": WorkerProfile.objects.count(),
    }


STATEMENT_PAGE_SIZE = 50
AWAITING_LIMIT = 100


def worker_balance(user) -> dict:
    """Balance (what is owed now), paid so far, and the rewards of answers awaiting review, as Decimals."""
    sums = LedgerEntry.objects.filter(worker=user).aggregate(
        balance=Sum("amount"), paid=Sum("amount", filter=Q(kind=LedgerEntry.Kind.PAYOUT))
    )
    awaiting = Assignment.objects.filter(
        worker=user, status=Assignment.Status.SUBMITTED, review=Assignment.Review.PENDING, reward__gt=0
    ).aggregate(total=Sum("reward"), count=Count("id"))
    return {
        "balance": sums["balance"] or Decimal("0"),
        "paid": -(sums["paid"] or Decimal("0")),
        "awaiting": awaiting["total"] or Decimal("0"),
        "awaiting_count": awaiting["count"],
    }


def worker_awaiting_review(user, limit: int = AWAITING_LIMIT) -> list[dict]:
    """Submitted answers not yet reviewed, oldest first, each with when it is accepted automatically (None for
    a flagged one: a person reviews it)."""
    rows = (
        Assignment.objects.filter(
            worker=user, status=Assignment.Status.SUBMITTED, review=Assignment.Review.PENDING, reward__gt=0
        )
        .select_related("job")
        .order_by("submitted_at", "id")[:limit]
    )
    return [
        {
            "assignment_id": a.pk,
            "job": a.job.name,
            "job_id": a.job_id,
            "amount": a.reward,
            "submitted_at": a.submitted_at,
            "auto_accept_at": (
                a.submitted_at + timedelta(hours=a.job.auto_accept_hours) if a.submitted_at and not a.flag else None
            ),
        }
        for a in rows
    ]


def worker_statement_page(user, page: int = 1, per_page: int = STATEMENT_PAGE_SIZE) -> dict:
    """One page of the worker's ledger, newest first, each entry with the balance right after it."""
    entries = LedgerEntry.objects.filter(worker=user)
    count = entries.count()
    pages = max(1, -(-count // per_page))
    page = min(max(1, page), pages)
    rows = (
        entries.annotate(
            running=Window(Sum("amount"), order_by=[F("created_at").asc(), F("id").asc()]),
        )
        .select_related("job")
        .order_by("-created_at", "-id")[(page - 1) * per_page : page * per_page]
    )
    return {
        "entries": [
            {
                "id": e.pk,
                "created_at": e.created_at,
                "kind": e.kind,
                "kind_label": e.get_kind_display(),
                "job": e.job.name if e.job else "",
                "job_id": e.job_id,
                "note": e.note,
                "amount": e.amount,
                "balance": e.running,
                "batch_id": e.batch_id,
            }
            for e in rows
        ],
        "page": page,
        "pages": pages,
        "count": count,
    }


PAYOUT_CSV_HEADER = ["worker", "email", "amount", "currency", "batch"]


def payout_batch_csv(batch) -> bytes:
    """A batch's payouts for a spreadsheet or a payment provider: UTF-8 with a BOM, cells that a spreadsheet would
    run as formulas guarded (tasks/exports.py), amounts positive (what to pay) and exact."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(PAYOUT_CSV_HEADER)
    rows = batch.payouts.select_related("worker").order_by("worker__username", "id")
    for entry in rows:
        writer.writerow(
            [
                csv_cell(entry.worker.username, spreadsheet=True),
                csv_cell(entry.worker.email, spreadsheet=True),
                exact_amount_text(-entry.amount),
                csv_cell(batch.currency, spreadsheet=True),
                batch.pk,
            ]
        )
    return (UTF8_BOM + buf.getvalue()).encode()


def payout_batches(limit: int = 50) -> list:
    return list(PayoutBatch.objects.select_related("created_by")[:limit])


def balances_owed() -> dict:
    """What the platform owes all workers now: the total and how many workers have a positive balance."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(b), 0) FROM (SELECT sum(amount) AS b FROM workers_ledgerentry"
            " GROUP BY worker_id HAVING sum(amount) > 0) owed"
        )
        workers, total = cursor.fetchone()
    return {"workers": workers, "total": total}
