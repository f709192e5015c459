"""The operations page: what an operator opens when something feels slow. Staff only."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from tasks import selectors as task_selectors
from workers import ledger
from workers import selectors as worker_selectors
from workers.models import PayoutBatch

from . import health
from .money import currency, money


def staff_required(view):
    """Signed in and staff; anyone else signed in gets 403."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Staff only.")
        return view(request, *args, **kwargs)

    return wrapped


def operations_snapshot() -> dict:
    return {
        "workers": worker_selectors.workers_online(),
        "leases": task_selectors.leases_summary(),
        "answers_per_second": task_selectors.answers_per_second(),
        "waiting": task_selectors.microtasks_waiting_by_job(),
        "queues": health.celery_queue_lengths(),
        "errors": health.background_errors(),
        "failed_uploads": [
            {"job_id": u.job_id, "job": u.job.name, "file": u.filename, "error": (u.error or {}).get("message", "")}
            for u in task_selectors.uploads_failed_recent()
        ],
        "database": health.database_health(),
        "redis": health.redis_health(),
    }


@staff_required
def operations(request):
    return render(request, "console/operations.html", {"ops": operations_snapshot()})


@staff_required
def operations_json(request):
    return JsonResponse(operations_snapshot())


@staff_required
@require_http_methods(["GET", "POST"])
def payouts(request):
    """Payout batches: make one (every worker whose balance reached the minimum is paid it), list, download."""
    if request.method == "POST":
        try:
            batch = ledger.payout_batch_create(
                created_by=request.user,
                minimum=request.POST.get("minimum", "")[:32],
                note=request.POST.get("note", "")[: ledger.NOTE_MAX_LENGTH + 1],
            )
        except ledger.LedgerRefused as exc:
            messages.error(request, f"No batch made: {exc}.")
        else:
            messages.success(
                request,
                f"Payout batch {batch.pk}: {batch.count} worker{'s' if batch.count != 1 else ''}, {money(batch.total)}.",
            )
        return redirect("console-payouts")
    return render(
        request,
        "console/payouts.html",
        {
            "batches": worker_selectors.payout_batches(),
            "owed": worker_selectors.balances_owed(),
            "currency": currency(),
        },
    )


@staff_required
def payout_csv(request, batch_id: int):
    batch = get_object_or_404(PayoutBatch, pk=batch_id)
    response = HttpResponse(worker_selectors.payout_batch_csv(batch), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="payout-batch-{batch.pk}.csv"'
    return response
