"""The operations page: what an operator opens when something feels slow. Staff only."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render

from tasks import selectors as task_selectors
from workers import selectors as worker_selectors

from . import health


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
