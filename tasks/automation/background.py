"""Celery jobs of the automated path, routed to the automation queue (CELERY_TASK_ROUTES) and its own Celery
worker: load by id, call the service."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from quorum.periodic import one_at_a_time
from quorum.redis import get_redis, key

from . import selectors

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def automation_run_job(job_id: int) -> dict:
    # One run per job at a time, even if a second Celery worker serves the queue.
    lock = get_redis().lock(key("automation", "job", job_id), timeout=3600, blocking=False)
    if not lock.acquire():
        return {"status": "busy"}
    # Imported here: a process that only queues this job (the web) never loads PyTorch.
    from .service import automation_run

    try:
        summary = automation_run(job_id)
    finally:
        lock.release()
    return {"status": summary.status, "taken": summary.taken_items, "threshold": summary.threshold}


@shared_task(acks_late=True)
@one_at_a_time("automation_sweep", ttl=600)
def automation_sweep() -> list[int]:
    """Queue a run for every job whose human results grew enough since its last run."""
    due = selectors.jobs_due()
    for job_id in due:
        automation_run_job.delay(job_id)
    return due


@worker_ready.connect
def show_device(sender, **kwargs) -> None:
    """The automation Celery worker says which device it will use, and loads the model before the first job."""
    queue = f"{settings.REDIS_PREFIX}.automation"
    consuming = {q.name for q in sender.task_consumer.queues} if getattr(sender, "task_consumer", None) else set()
    if queue not in consuming:
        return
    from .embeddings import device_label, get_model
    from .solvers import EmbeddingSolver

    print(f"automation: model work on {device_label()}", flush=True)
    if settings.QUORUM_AUTOMATION_PRELOAD and settings.QUORUM_AUTOMATION_SOLVER == EmbeddingSolver.name:
        get_model()
