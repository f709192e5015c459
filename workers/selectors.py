"""Reads about workers: the worker page's earnings and history, the console's who-is-online.

Earnings are the worker's ledger (a reward per accepted assignment); submitted assignments not yet reviewed
are shown as pending.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from quorum.redis import get_redis
from tasks.models import Assignment
from tasks.scheduling import keys
from tasks.selectors import accuracy_shown

from .models import LedgerEntry, WorkerProfile

ONLINE_WINDOW = timedelta(minutes=2)


def _money(value) -> str:
    return str((value or Decimal("0")).quantize(Decimal("0.01")))


def worker_stats(user) -> dict:
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    paid = LedgerEntry.objects.filter(worker=user).aggregate(
        total=Sum("amount"), today=Sum("amount", filter=Q(created_at__gte=today))
    )
    # Queried through assignments (indexed by worker); answers have no worker index, to keep submits cheap.
    sums = Assignment.objects.filter(worker=user, status=Assignment.Status.SUBMITTED).aggregate(
        pending=Sum("reward", filter=Q(review=Assignment.Review.PENDING)),
        microtasks=Count("id"),
        answers=Sum("microtask__item_count"),
    )
    profile = WorkerProfile.objects.filter(user=user).first()
    return {
        "earnings_today": _money(paid["today"]),
        "earnings_total": _money(paid["total"]),
        "earnings_pending": _money(sums["pending"]),
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
            "review": a.review,
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
