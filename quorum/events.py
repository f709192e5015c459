"""Realtime events: the one place that names channel-layer groups and declares event payloads.

Services send events here, after their transaction commits; consumers forward them to browsers. Event types
are dotted (``job.progress``); Channels calls the consumer method with the dot replaced (``job_progress``).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

# Event types and the fields each one carries.
EVENT_TYPES = {
    "job.progress": "job_id, counts (items, microtasks, microtasks_done, answers, workers_active), status",
    "job.ingest": "job_id, upload_id, status, rows_done, rows_total, error",
    "job.status": "job_id, status",
    "job.bucket": "job_id, direction (import or export), id, status, error: a bucket import or export moved",
    "work.available": "job_id: a job has new or returned microtasks",
    "job.details": "job_id, details (confidence histogram, agreement, cost, per-worker table): the job page",
}
# Scheduler control messages travel on Redis pub/sub, not the channel layer: every scheduler process listens.
CONTROL_TYPES = {"worker.blocked": "worker_id: end this worker's leases and live sessions now"}


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def send_to_group(group: str, event_type: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": event_type, **payload})
    except Exception:  # an event is a hint; a Redis hiccup must not fail the write that sent it
        log.warning("could not send %s to %s", event_type, group, exc_info=True)


def send_on_commit(group: str, event_type: str, payload: dict) -> None:
    transaction.on_commit(lambda: send_to_group(group, event_type, payload))


def job_ingest(job_id: int, upload_id: int, status: str, rows_done: int, rows_total: int | None, error=None) -> None:
    send_to_group(
        job_group(job_id),
        "job.ingest",
        {
            "job_id": job_id,
            "upload_id": upload_id,
            "status": status,
            "rows_done": rows_done,
            "rows_total": rows_total,
            "error": error,
        },
    )


def job_bucket(job_id: int, direction: str, record_id: int, status: str, error=None) -> None:
    send_to_group(
        job_group(job_id),
        "job.bucket",
        {"job_id": job_id, "direction": direction, "id": record_id, "status": status, "error": error},
    )


def job_status(job_id: int, status: str) -> None:
    send_on_commit(job_group(job_id), "job.status", {"job_id": job_id, "status": status})
