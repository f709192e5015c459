"""Every write to jobs and uploads: the transaction boundary, and the events sent after commit."""

import contextlib
import logging
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone
from psycopg.errors import LockNotAvailable

from quorum import events, metrics
from quorum.redis import get_redis, key
from webhooks import services as webhooks

from . import media, selectors, storage
from .intake import IntakeError, UploadTooLarge
from .intake.filenames import clean_filename, disk_suffix
from .intake.loading import IngestResult, ingest_file
from .intake.readers import count_lines
from .models import Assignment, Job, Microtask, Upload
from .scheduling import pool

log = logging.getLogger(__name__)


class JobStateError(Exception):
    """The job is not in a state that allows this change."""


def job_create(*, owner, **fields) -> Job:
    return Job.objects.create(owner=owner, **fields)


# Webhook events of status changes (job.done is recorded by tasks.results, which closes a job). A resumed job is
# not "published" again.
WEBHOOK_STATUS_EVENTS = {Job.Status.OPEN: "job.published", Job.Status.PAUSED: "job.paused"}


def job_set_status(job: Job, status: str, *, allowed_from: set[str], reason: str = "") -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status not in allowed_from:
            raise JobStateError(f"a {job.status} job cannot become {status}")
        if status == Job.Status.OPEN and job.item_count == 0:
            raise JobStateError("upload items before publishing the job")
        job.status = status
        job.status_reason = reason
        fields = ["status", "status_reason"]
        now = timezone.now()
        if status == Job.Status.OPEN and job.published_at is None:
            job.published_at = now
            fields.append("published_at")
        job.save(update_fields=fields)
        if status == Job.Status.CANCELLED:
            # Nobody answers them any more: leases in flight end, and a late answer is refused.
            job.microtasks.filter(status=Microtask.Status.OPEN).update(status=Microtask.Status.CANCELLED)
        events.job_status(job.pk, status)
        if status in WEBHOOK_STATUS_EVENTS and not (status == Job.Status.OPEN and job.published_at != now):
            webhooks.event_record(job.pk, WEBHOOK_STATUS_EVENTS[status], {"status": status, "reason": reason})
        opened = status == Job.Status.OPEN
        transaction.on_commit(
            lambda: pool.job_open_set(job.pk, opened, job.priority, job.required_skill, job.required_skill_level)
        )
    return job


def job_publish(job: Job) -> Job:
    return job_set_status(job, Job.Status.OPEN, allowed_from={Job.Status.DRAFT})


def job_pause(job: Job, reason: str = "") -> Job:
    return job_set_status(job, Job.Status.PAUSED, allowed_from={Job.Status.OPEN}, reason=reason)


def job_resume(job: Job) -> Job:
    return job_set_status(job, Job.Status.OPEN, allowed_from={Job.Status.PAUSED})


def job_cancel(job: Job) -> Job:
    return job_set_status(
        job, Job.Status.CANCELLED, allowed_from={Job.Status.DRAFT, Job.Status.OPEN, Job.Status.PAUSED}
    )


# How long a delete waits for an ingest that holds the job's row lock before it answers that the job is busy.
JOB_DELETE_WAIT_SECONDS = 5.0


def job_delete(job: Job) -> None:
    """Delete a job with everything it holds; its upload files are deleted once that commits.

    Takes the job's row lock first, as an ingest does before it writes (intake/loading.py), so the two run one
    after the other instead of deadlocking: a delete during an ingest waits for it (up to JOB_DELETE_WAIT_SECONDS,
    then JobStateError), and an ingest that finds its job deleted stores nothing and ends quietly.
    """
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)",
                    [f"{int(JOB_DELETE_WAIT_SECONDS * 1000)}ms"],
                )
                (previous, _) = cursor.fetchone()
                locked = Job.objects.select_for_update().filter(pk=job.pk).first()
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
            if locked is None:
                return  # deleted already
            paths = [p for p in locked.uploads.values_list("path", flat=True) if p]
            stored = list(locked.media_files.values_list("storage_name", flat=True))
            locked.delete()
            transaction.on_commit(lambda: upload_files_delete(paths))
            transaction.on_commit(lambda: media.stored_files_delete(stored))
    except OperationalError as exc:
        if isinstance(exc.__cause__, LockNotAvailable):
            raise JobStateError("the job is ingesting an upload; delete it again when the upload has ended") from None
        raise


# What a job's form is once work has begun: items, gold answers, answers and results name its questions, their
# types and options, and microtasks were sliced at this size. {field: the words an error uses for it}.
JOB_FIELDS_FIXED_ONCE_STARTED = {
    "question_type": "question type",
    "options": "options",
    "questions": "questions",
    "items_per_microtask": "items per microtask",
}


def job_fixed_fields(job: Job) -> dict[str, str]:
    """The fields of this job that may no longer change, each with the reason a page or an API error gives.

    The one rule for the API (JobSerializer) and the edit page: before items exist everything may change; after,
    the form's questions and the microtask size are fixed (name, instructions, priority, reward, budget, target
    confidence, answers per item, lease time and the other settings still may change)."""
    if job.pk is None or not job.item_count:
        return {}
    answered = Assignment.objects.filter(job_id=job.pk, status=Assignment.Status.SUBMITTED).exists()
    when = "once workers have answered" if answered else "once items exist"
    return {name: f"the {words} cannot change {when}" for name, words in JOB_FIELDS_FIXED_ONCE_STARTED.items()}


def job_change_problems(job: Job, changes: dict) -> dict[str, str]:
    """{field: why not} for each change the rule refuses; a value sent unchanged is no change."""
    fixed = job_fixed_fields(job)
    problems = {}
    for name, reason in fixed.items():
        if name not in changes:
            continue
        current = getattr(job, name)
        if name == "options":
            current = [str(o) for o in current or []]
        if changes[name] != current:
            problems[name] = reason
    return problems


def job_settings_saved(job: Job) -> Job:
    """After an edit: an open job's new priority or skill rule reaches the scheduler's open-job set."""
    if job.status == Job.Status.OPEN:
        transaction.on_commit(
            lambda: pool.job_open_set(job.pk, True, job.priority, job.required_skill, job.required_skill_level)
        )
    return job


def assignment_review(assignment: Assignment, accepted: bool) -> Assignment:
    """Accept (pays the reward) or reject (answers stop counting; the microtask is answered again). Final."""
    from . import quality

    if assignment.status != Assignment.Status.SUBMITTED:
        raise JobStateError(f"a {assignment.status} assignment has no answers to review")
    if not quality.assignments_review([assignment.pk], accepted):
        assignment.refresh_from_db()
        raise JobStateError(f"assignment {assignment.pk} was already {assignment.review}")
    assignment.refresh_from_db()
    return assignment


def assignments_review_bulk(job: Job, accepted: bool, pending, *, preview: bool = False) -> dict:
    """Accept or reject, in one transaction, the pending submitted assignments of ``pending`` (a queryset of this
    job's assignments: one worker's, or those of the items a results filter shows), by the single review's rules:
    accepting pays each assignment's recorded reward once; rejecting pays nothing, its answers stop counting and
    their microtasks re-open. Assignments already reviewed are left as they are.

    Returns what it moved: {decision, assignments, answers, microtasks, amount}. With ``preview`` it changes
    nothing and returns what the same call would move now."""
    from . import quality

    ids = list(
        pending.filter(job=job, status=Assignment.Status.SUBMITTED, review=Assignment.Review.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not preview and ids:
        ids = quality.assignments_review_ids(ids, accepted)
    return {"decision": "accept" if accepted else "reject", "preview": preview, **selectors.review_totals(ids)}


def upload_dir() -> Path:
    return storage.upload_dir()


def upload_create(*, job: Job, filename: str, source, in_background: bool = True) -> Upload:
    """Store an uploaded file (a file object, read in 1 MiB chunks, or a path to move) and queue its ingest.

    Raises UploadTooLarge, storing nothing, when the file is over QUORUM_MAX_UPLOAD_BYTES. With
    ``in_background=False`` the caller runs ``upload_ingest`` itself (demo set-up, management commands).
    """
    if job.status in (Job.Status.CANCELLED, Job.Status.DONE):
        raise JobStateError(f"a {job.status} job takes no more data")
    limit = settings.QUORUM_MAX_UPLOAD_BYTES
    safe_name = clean_filename(filename)
    too_large = UploadTooLarge(f"the file is larger than the limit of {limit} bytes", file=safe_name)
    # The stored file is named by a random id, never by what the requester sent.
    dest = upload_dir() / f"{uuid.uuid4().hex}{disk_suffix(safe_name)}"
    try:
        if isinstance(source, (str, Path)):
            if Path(source).stat().st_size > limit:
                raise too_large
            shutil.move(str(source), dest)
        else:
            size = 0
            with open(dest, "wb") as out:
                while chunk := source.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    out.write(chunk)
        if media.is_archive(dest, safe_name):
            # Its directory is read now, so an unsafe or oversized archive is refused while the client waits.
            media.archive_check(dest, safe_name)
        size = dest.stat().st_size
        # With a bucket the file goes there now, so any Celery worker can ingest it.
        kept = storage.upload_file_keep(dest)
        try:
            upload = Upload.objects.create(job=job, filename=safe_name, path=kept, size_bytes=size)
        except BaseException:
            storage.upload_file_remove(kept)
            raise
    except BaseException:
        # Refused, cut off while it was sent, or not recorded: no part of the file stays behind.
        dest.unlink(missing_ok=True)
        raise
    if in_background:
        from .background import ingest_upload

        transaction.on_commit(lambda: ingest_upload.delay(upload.pk))
    return upload


def upload_fail(upload: Upload, error: IntakeError) -> None:
    upload.status = Upload.Status.FAILED
    upload.error = error.as_dict()
    upload.finished_at = timezone.now()
    # An update, not a save: the upload is gone if its job was deleted meanwhile, and that is no error.
    with transaction.atomic():
        if Upload.objects.filter(pk=upload.pk).update(
            status=upload.status, error=upload.error, finished_at=upload.finished_at
        ):
            webhooks.event_record(
                upload.job_id,
                "upload.failed",
                {"upload": upload.pk, "filename": upload.filename, "error": upload.error},
            )


def upload_file_delete(upload: Upload) -> None:
    """Delete the upload's stored file; an empty ``path`` says that no file is kept."""
    if upload.path:
        storage.upload_file_remove(upload.path)
        Upload.objects.filter(pk=upload.pk).update(path="")
        upload.path = ""


def upload_files_delete(paths: list[str]) -> None:
    for path in paths:
        storage.upload_file_remove(path)


# A file in the upload folder that no upload names is a leftover (a process stopped between writing it and
# recording it); it is deleted once it is this old, long after any upload still being written.
ORPHAN_FILE_AGE = timedelta(days=1)


def upload_files_purge() -> int:
    """Delete the files of uploads whose ingest ended more than QUORUM_UPLOAD_RETENTION_HOURS ago, and leftovers.

    With retention 0 the ingest deletes its file as it ends; this pass (Celery beat) catches any that a stopped
    Celery worker left. Returns the number of files deleted."""
    cutoff = timezone.now() - timedelta(hours=settings.QUORUM_UPLOAD_RETENTION_HOURS)
    ended = Upload.objects.filter(status__in=[Upload.Status.DONE, Upload.Status.FAILED], finished_at__lte=cutoff)
    deleted = 0
    for upload in ended.exclude(path="").only("pk", "path"):
        upload_file_delete(upload)
        deleted += 1
    old = (timezone.now() - max(ORPHAN_FILE_AGE, timedelta(hours=settings.QUORUM_UPLOAD_RETENTION_HOURS))).timestamp()
    candidates = [str(p) for p in upload_dir().iterdir() if p.is_file() and p.stat().st_mtime < old]
    candidates += storage.stored_uploads_older_than(old)
    if candidates:
        known = set(Upload.objects.filter(path__in=candidates).values_list("path", flat=True))
        for path in candidates:
            if path not in known:
                storage.upload_file_remove(path)
                deleted += 1
    return deleted


def upload_ingest(upload_id: int) -> Upload | None:
    """Ingest one upload: every row becomes an item, or the upload fails with a located error and stores none.

    The file is deleted when the ingest ends (success or failure) unless QUORUM_UPLOAD_RETENTION_HOURS keeps it.
    Returns None, quietly, when the upload's job was deleted before or while it waited to be ingested."""
    # Claim it first: a redelivered Celery message, or a second caller, finds it taken and does nothing.
    claimed = Upload.objects.filter(pk=upload_id, status=Upload.Status.PENDING).update(status=Upload.Status.RUNNING)
    upload = Upload.objects.select_related("job").filter(pk=upload_id).first()
    if upload is None:
        log.info("upload %s: its job was deleted before the ingest began", upload_id)
        return None
    if not claimed:
        return upload
    try:
        with contextlib.ExitStack() as stack:
            try:
                path = stack.enter_context(storage.upload_file_local(upload.path))
            except Exception:
                return _upload_unreadable(upload)
            return _upload_ingest_claimed(upload, path)
    except Job.DoesNotExist:
        log.info("upload %s: its job was deleted during the ingest; nothing was stored", upload_id)
        upload_files_delete([upload.path])
        return None
    finally:
        if settings.QUORUM_UPLOAD_RETENTION_HOURS <= 0 and upload_finished(upload_id):
            upload_file_delete(upload)


def _upload_unreadable(upload: Upload) -> Upload | None:
    """The stored file could not be fetched for the ingest (a bucket that fails, a file gone)."""
    if not Job.objects.filter(pk=upload.job_id).exists():
        return None  # deleted with its job meanwhile
    log.exception("upload %s: its file %s could not be read from storage", upload.pk, upload.path)
    error = IntakeError("the upload's file could not be read from storage (see the server log)", file=upload.filename)
    upload_fail(upload, error)
    events.job_ingest(upload.job_id, upload.pk, "failed", 0, upload.rows_total, error.as_dict())
    return upload


def upload_finished(upload_id: int) -> bool:
    """Whether the upload's end (done or failed) is recorded. Not when PostgreSQL could not be reached: its file
    then stays, so the upload can still be ingested again rather than be left running with nothing to read."""
    try:
        return Upload.objects.filter(pk=upload_id, status__in=[Upload.Status.DONE, Upload.Status.FAILED]).exists()
    except DatabaseError:
        return False


def _upload_ingest_claimed(upload: Upload, path: Path) -> Upload:
    progress_key = key("upload", upload.pk)
    job_id = upload.job_id

    def on_progress(rows: int) -> None:
        get_redis().set(progress_key, rows, ex=3600)
        events.job_ingest(job_id, upload.pk, "running", rows, upload.rows_total)

    def on_done(result: IngestResult) -> None:
        upload.status = Upload.Status.DONE
        upload.rows_done = upload.rows_total = result.rows
        upload.items_created = result.items
        upload.microtasks_created = result.microtasks
        upload.finished_at = timezone.now()
        upload.save(
            update_fields=["status", "rows_done", "rows_total", "items_created", "microtasks_created", "finished_at"]
        )
        # Inside the ingest's transaction: the event commits with the items, or neither does.
        webhooks.event_record(
            job_id,
            "upload.done",
            {"upload": upload.pk, "filename": upload.filename, "rows": result.rows, "items": result.items},
        )

    try:
        if media.is_archive(path, upload.filename):
            # Media and data together or neither: the media are recorded in the ingest's transaction and their
            # files deleted again unless it commits.
            with media.archive_unpacked(job_id, path, upload.filename, upload_dir()) as unpacked:
                result = _ingest_rows(
                    upload, unpacked.data_path, unpacked.data_name, on_progress, on_done, unpacked.record
                )
                unpacked.keep()
        else:
            result = _ingest_rows(upload, path, upload.filename, on_progress, on_done)
    except IntakeError as exc:
        upload_fail(upload, exc)
        metrics.ingest_failed()
        events.job_ingest(job_id, upload.pk, "failed", 0, upload.rows_total, exc.as_dict())
        log.info("upload %s failed: %s", upload.pk, exc)
        return upload
    except Exception as exc:
        if not Job.objects.filter(pk=job_id).exists():
            # Deleted meanwhile, and its file with it (FileNotFoundError): nothing to report to anyone.
            raise Job.DoesNotExist from exc
        upload_fail(
            upload,
            IntakeError("the upload could not be stored (internal error; see the server log)", file=upload.filename),
        )
        metrics.ingest_failed()
        events.job_ingest(job_id, upload.pk, "failed", 0, upload.rows_total, {"message": "internal error"})
        raise
    finally:
        get_redis().delete(progress_key)
    log.info("upload %s: %s rows in %.2fs", upload.pk, result.rows, result.seconds)
    metrics.ingest_finished(result.rows)
    pool.job_microtasks_added(job_id)
    events.job_ingest(job_id, upload.pk, "done", result.rows, result.rows)
    return upload


def _ingest_rows(upload: Upload, path: Path, filename: str, on_progress, on_done, before_rows=None) -> IngestResult:
    upload.rows_total = max(0, count_lines(path) - (1 if path.suffix.lower() == ".csv" else 0))
    Upload.objects.filter(pk=upload.pk).update(rows_total=upload.rows_total)
    return ingest_file(upload.job_id, path, filename, on_progress=on_progress, on_done=on_done, before_rows=before_rows)


def upload_rows_done(upload: Upload) -> int:
    """Rows ingested so far: live from Redis while the upload runs."""
    if upload.status == Upload.Status.RUNNING:
        value = get_redis().get(key("upload", upload.pk))
        return int(value) if value else 0
    return upload.rows_done
