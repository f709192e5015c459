"""A job's results written to a bucket (``BucketExport``): on demand, or once the job is done.

The file is the results export of ``GET /api/jobs/<id>/export/`` (tasks/exports.py, read from a server-side cursor),
sent as a multipart upload one 8 MiB part at a time to ``<prefix><job id>-results.<csv|jsonl>``: a million rows
take flat memory, and a failure aborts the upload, so the bucket never holds half a file under that name.
"""

import logging

from django.db import transaction
from django.utils import timezone

from quorum import events

from .. import exports
from ..models import BucketExport, Job
from . import runs
from .client import BucketError, Place, client_for, multipart_write, secret_seal

log = logging.getLogger(__name__)

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def export_key(prefix: str, job_id: int, fmt: str) -> str:
    return f"{prefix}{job_id}-results.{fmt}"


def bucket_export_create(*, job: Job, fmt: str, when_done: bool, **location) -> BucketExport:
    """Record an export: queued once the caller's transaction commits, or, with ``when_done`` on a job that is not
    done yet, kept ``waiting`` until it is (``bucket_exports_release``). ``location``: endpoint_url, region, bucket,
    prefix, access_key_id, secret (kept encrypted)."""
    secret = location.pop("secret")
    waiting = when_done and job.status != Job.Status.DONE
    export = BucketExport.objects.create(
        job=job,
        format=fmt,
        status=BucketExport.Status.WAITING if waiting else BucketExport.Status.PENDING,
        secret_encrypted=secret_seal(secret),
        **location,
    )
    if not waiting:
        _queue(export.pk)
    else:
        # The job may turn done between the look above and this commit; a second look after it catches that.
        transaction.on_commit(lambda: _release_if_done(job.pk))
    return export


def _release_if_done(job_id: int) -> None:
    if Job.objects.filter(pk=job_id, status=Job.Status.DONE).exists():
        bucket_exports_release(job_id)


def _queue(export_id: int) -> None:
    from .background import run_bucket_export

    transaction.on_commit(lambda: run_bucket_export.delay(export_id))


def bucket_exports_release(job_id: int) -> int:
    """The job is done: queue the exports waiting for it. Returns how many."""
    with transaction.atomic():
        released = list(
            BucketExport.objects.filter(job_id=job_id, status=BucketExport.Status.WAITING)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        BucketExport.objects.filter(pk__in=released).update(status=BucketExport.Status.PENDING)
        for pk in released:
            _queue(pk)
    return len(released)


def bucket_export_run(export_id: int) -> BucketExport | None:
    """Write one export to its end: ``done`` with the key and size, or ``failed`` with an error naming the bucket.

    Claims the export first, so a redelivered Celery message finds it taken and does nothing."""
    export, claimed = runs.claim(BucketExport, export_id)
    if export is None:
        return None
    if not claimed:
        if runs.interrupted(export):
            return export_fail(export, runs.INTERRUPTED.format(what="export"))
        return export
    export.status = BucketExport.Status.RUNNING
    announce(export)
    try:
        place = Place.of(export)
        client = client_for(place)
        job = export.job
        chunks = exports.export_csv(job) if export.format == BucketExport.Format.CSV else exports.export_jsonl(job)
        key = export_key(place.prefix, job.pk, export.format)
        try:
            size = multipart_write(
                client,
                place,
                key,
                chunks,
                CONTENT_TYPES[export.format],
                on_part=lambda: runs.beat(BucketExport, export.pk),
            )
        finally:
            chunks.close()
    except BucketError as exc:
        return export_fail(export, exc.message)
    except Exception:
        if not Job.objects.filter(pk=export.job_id).exists():
            return None
        log.exception("bucket export %s failed", export_id)
        return export_fail(export, "the export failed (internal error; see the log)")
    export.status = BucketExport.Status.DONE
    export.key = key
    export.size_bytes = size
    export.finished_at = timezone.now()
    BucketExport.objects.filter(pk=export.pk).update(
        status=export.status, key=key, size_bytes=size, finished_at=export.finished_at, error=None
    )
    announce(export)
    return export


def export_fail(export: BucketExport, message: str) -> BucketExport:
    export.status = BucketExport.Status.FAILED
    export.error = {"message": message}
    export.finished_at = timezone.now()
    BucketExport.objects.filter(pk=export.pk).update(
        status=export.status, error=export.error, finished_at=export.finished_at
    )
    log.info("bucket export %s failed: %s", export.pk, message)
    announce(export)
    return export


def announce(export: BucketExport) -> None:
    events.job_bucket(export.job_id, "export", export.pk, export.status, export.error)
