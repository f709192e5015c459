"""A job filled from the objects under a bucket prefix (``BucketImport``), run by a Celery job.

Rows: the CSV and JSON Lines files under the prefix (``.csv``, ``.txt``, ``.jsonl``, ``.ndjson``, ``.json``; other
objects are passed over) are all downloaded first, a chunk at a time to temporary files, so an object that cannot
be read fails the import before anything is stored. Then each becomes an upload, ingested in key order as any
upload is: all or nothing per file, with the file, line and field of a bad row. A bad file stops the import there;
the files before it stay stored (each is its own upload, listed in ``upload_ids``).

Media: every object under the prefix is a media file (checked by its first bytes, as any media file is) and becomes
one item whose media column names it, ``{"id": <name>, <column>: <name>}``, where the name is the key after the
prefix. Files and items are stored together or not at all: the files go to storage first, and are recorded in the
transaction that writes the items, or deleted again.
"""

import contextlib
import json
import logging
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from quorum import events

from .. import media, services, storage
from ..forms import Form
from ..intake import IntakeError
from ..intake.loading import ingest_file
from ..models import BucketImport, Job, Upload
from ..scheduling import pool
from . import runs
from .client import BucketError, Place, client_for, object_download, objects_under, secret_seal

log = logging.getLogger(__name__)

DATA_SUFFIXES = (".csv", ".txt", ".jsonl", ".ndjson", ".json")


def bucket_import_create(*, job: Job, kind: str, column: str = "", **location) -> BucketImport:
    """Record an import and queue it once the caller's transaction commits. ``location``: endpoint_url, region,
    bucket, prefix, access_key_id, secret (kept encrypted)."""
    if job.status in (Job.Status.CANCELLED, Job.Status.DONE):
        raise services.JobStateError(f"a {job.status} job takes no more data")
    secret = location.pop("secret")
    imported = BucketImport.objects.create(
        job=job, kind=kind, column=column, secret_encrypted=secret_seal(secret), **location
    )
    from .background import run_bucket_import

    transaction.on_commit(lambda: run_bucket_import.delay(imported.pk))
    return imported


def bucket_import_run(import_id: int) -> BucketImport | None:
    """Run one import to its end: ``done``, or ``failed`` with an error naming the bucket, key, line or field.

    Claims the import first, so a redelivered Celery message finds it taken and does nothing."""
    imported, claimed = runs.claim(BucketImport, import_id)
    if imported is None:
        return None
    if not claimed:
        if runs.interrupted(imported):
            return import_fail(imported, _error(runs.INTERRUPTED.format(what="import")))
        return imported
    announce(imported)
    try:
        place = Place.of(imported)
        client = client_for(place)
        if imported.kind == BucketImport.Kind.MEDIA:
            import_media(imported, client, place)
        else:
            import_rows(imported, client, place)
    except (BucketError, IntakeError) as exc:
        return import_fail(imported, exc.as_dict())
    except services.JobStateError as exc:
        return import_fail(imported, _error(str(exc)))
    except Exception:
        if not Job.objects.filter(pk=imported.job_id).exists():
            return None  # deleted with its job meanwhile
        log.exception("bucket import %s failed", import_id)
        return import_fail(imported, _error("the import failed (internal error; see the log)"))
    imported.status = BucketImport.Status.DONE
    imported.finished_at = timezone.now()
    BucketImport.objects.filter(pk=imported.pk).update(
        status=imported.status,
        finished_at=imported.finished_at,
        files_done=imported.files_done,
        items_created=imported.items_created,
        upload_ids=imported.upload_ids,
    )
    announce(imported)
    return imported


def import_fail(imported: BucketImport, error: dict) -> BucketImport:
    imported.status = BucketImport.Status.FAILED
    imported.error = error
    imported.finished_at = timezone.now()
    # An update, not a save: the import is gone if its job was deleted meanwhile, and that is no error.
    BucketImport.objects.filter(pk=imported.pk).update(
        status=imported.status,
        error=error,
        finished_at=imported.finished_at,
        files_total=imported.files_total,
        files_done=imported.files_done,
        items_created=imported.items_created,
        upload_ids=imported.upload_ids,
    )
    log.info("bucket import %s failed: %s", imported.pk, error.get("message"))
    announce(imported)
    return imported


def announce(imported: BucketImport) -> None:
    events.job_bucket(imported.job_id, "import", imported.pk, imported.status, imported.error)


def _error(message: str) -> dict:
    return {"file": "", "line": None, "field": None, "message": message}


def _progress(imported: BucketImport, **fields) -> None:
    for name, value in fields.items():
        setattr(imported, name, value)
    runs.beat(BucketImport, imported.pk, **fields)


# --- rows -----------------------------------------------------------------------------------------------------------


def import_rows(imported: BucketImport, client, place: Place) -> None:
    listed = [o for o in objects_under(client, place, settings.QUORUM_BUCKET_MAX_FILES) if is_data_key(o.key)]
    if not listed:
        raise BucketError(f"no files under {place.url} (CSV or JSON Lines: {', '.join(DATA_SUFFIXES)})")
    limit = settings.QUORUM_MAX_UPLOAD_BYTES
    for obj in listed:
        if obj.size > limit:
            raise BucketError(
                f"s3://{place.bucket}/{obj.key} is {obj.size} bytes, more than the upload limit of {limit} bytes",
                key=obj.key,
            )
    _progress(imported, files_total=len(listed))
    downloaded: list[Path] = []
    try:
        for obj in listed:
            fd, tmp = tempfile.mkstemp(dir=storage.upload_dir(), prefix="bucket-", suffix=Path(obj.key).suffix)
            downloaded.append(Path(tmp))
            with open(fd, "wb") as out:
                object_download(client, place, obj.key, out)
        for obj, path in zip(listed, downloaded, strict=True):
            name = obj.relative(place.prefix) or Path(obj.key).name
            upload = services.upload_create(job=imported.job, filename=name, source=path, in_background=False)
            _progress(imported, upload_ids=[*imported.upload_ids, upload.pk])
            upload = services.upload_ingest(upload.pk)
            if upload is None:
                raise services.JobStateError("the job was deleted")
            if upload.status != Upload.Status.DONE:
                error = dict(upload.error or {})
                error["file"] = f"s3://{place.bucket}/{obj.key}"
                raise IntakeError(
                    error.get("message", "the file was not stored"),
                    file=error["file"],
                    line=error.get("line"),
                    field=error.get("field"),
                )
            _progress(
                imported,
                files_done=imported.files_done + 1,
                items_created=imported.items_created + upload.items_created,
            )
    finally:
        for path in downloaded:
            path.unlink(missing_ok=True)  # upload_create moved those it took


def is_data_key(key: str) -> bool:
    return key.lower().endswith(DATA_SUFFIXES) and not media.junk_entry(key)


# --- media ----------------------------------------------------------------------------------------------------------


def media_column(job: Job, column: str) -> str:
    columns = media.media_columns_of(Form.for_job(job))
    if column:
        if column not in columns:
            raise BucketError(f"'{column}' is not a media column of the job (its media columns: {sorted(columns)})")
        return column
    if len(columns) != 1:
        raise BucketError(
            "name the column that shows the files (column): the job has "
            + (f"the media columns {sorted(columns)}" if columns else "no image, audio or video column")
        )
    return next(iter(columns))


def import_media(imported: BucketImport, client, place: Place) -> None:
    job = imported.job
    column = media_column(job, imported.column)
    listed = [o for o in objects_under(client, place, settings.QUORUM_BUCKET_MAX_FILES) if not media.junk_entry(o.key)]
    if not listed:
        raise BucketError(f"no files under {place.url}")
    _progress(imported, files_total=len(listed))
    limit = settings.QUORUM_MAX_MEDIA_FILE_BYTES
    from .client import ObjectBody

    unpacked = None
    fd, data_file = tempfile.mkstemp(dir=storage.upload_dir(), prefix="bucket-", suffix=".jsonl")
    unpacked = media.Unpacked(job_id=job.pk, data_path=Path(data_file), data_name=f"{place.url} (media)")
    try:
        with open(fd, "w", encoding="utf-8") as rows:
            for obj in listed:
                where = f"s3://{place.bucket}/{obj.key}"
                name = media.normal_name(obj.relative(place.prefix) or Path(obj.key).name)
                if problem := media.name_problem(name):
                    raise IntakeError(problem, file=where)
                if obj.size > limit:
                    raise IntakeError(
                        f"the file is larger than the limit of {limit} bytes (QUORUM_MAX_MEDIA_FILE_BYTES)", file=where
                    )
                body = ObjectBody(client, place, obj.key)
                try:
                    unpacked.stored.append(media.store_bytes(job.pk, name, body, limit, where))
                finally:
                    body.close()
                rows.write(json.dumps({job.id_field or "id": name, column: name}, ensure_ascii=False) + "\n")
                _progress(imported, files_done=len(unpacked.stored))
        result = ingest_file(job.pk, unpacked.data_path, unpacked.data_name, before_rows=unpacked.record)
        unpacked.keep()
    finally:
        unpacked.data_path.unlink(missing_ok=True)
        if unpacked.kept:
            media.stored_files_delete(d.storage_name for d in unpacked.duplicates)
        else:
            with contextlib.suppress(Exception):
                media.stored_files_delete(s.storage_name for s in unpacked.stored)
    _progress(imported, items_created=result.items)
    pool.job_microtasks_added(job.pk)
