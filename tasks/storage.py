"""Where upload files are kept between the request that brings them and the ingest that reads them.

With local storage (``QUORUM_STORAGE=local``) an upload's ``path`` is its file under ``MEDIA_ROOT/uploads``, as it
always was. With a bucket (``QUORUM_STORAGE=s3``) the web process and the Celery workers may run on different
machines, so the file goes to the bucket (``uploads/<random>``, through Django's default storage) and ``path`` is
``storage:<name>``; the ingest copies it back to a temporary file a chunk at a time, since the readers and COPY
stream from a local file, and deletes that copy when it ends. Media files always go through the default storage
(tasks/media.py); bucket clients for requesters' own buckets are in tasks/buckets/.
"""

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

STORED_PREFIX = "storage:"
COPY_CHUNK = 1 << 20


def upload_dir() -> Path:
    """The local folder of upload files: where they stay with local storage, and where they pass through with a
    bucket (written as they arrive, checked, then sent on)."""
    path = Path(settings.MEDIA_ROOT) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def uses_bucket() -> bool:
    return settings.QUORUM_STORAGE != "local"


def is_stored(path: str) -> bool:
    """Whether an upload's ``path`` names a file in the storage (a bucket) rather than on this machine."""
    return path.startswith(STORED_PREFIX)


def upload_file_keep(local: Path) -> str:
    """Where the upload's file is kept from now on: ``local`` itself with local storage; else the file is sent to
    the bucket (in parts, never whole in memory), the local one deleted, and ``storage:<name>`` returned."""
    if not uses_bucket():
        return str(local)
    name = f"uploads/{local.name}"
    with open(local, "rb") as f:
        saved = default_storage.save(name, f)
    local.unlink(missing_ok=True)
    return STORED_PREFIX + saved


def upload_file_remove(path: str) -> None:
    if not path:
        return
    if is_stored(path):
        with contextlib.suppress(Exception):  # gone already; the purge tries again for files it still lists
            default_storage.delete(path[len(STORED_PREFIX) :])
    else:
        Path(path).unlink(missing_ok=True)


def copy_to_file(source, dest) -> int:
    """Copy a readable stream to a writable one a chunk at a time; returns the bytes copied."""
    size = 0
    while chunk := source.read(COPY_CHUNK):
        dest.write(chunk)
        size += len(chunk)
    return size


@contextlib.contextmanager
def upload_file_local(path: str) -> Iterator[Path]:
    """The upload's file as a local path for the ingest: the file itself, or a temporary copy of the stored one
    (deleted when the block ends). A stored file that is gone raises FileNotFoundError."""
    if not is_stored(path):
        yield Path(path)
        return
    name = path[len(STORED_PREFIX) :]
    fd, tmp = tempfile.mkstemp(dir=upload_dir(), prefix="ingest-", suffix=Path(name).suffix)
    local = Path(tmp)
    try:
        with open(fd, "wb") as out:
            object_download(default_storage, name, out)
        yield local
    finally:
        local.unlink(missing_ok=True)


def object_key(store, name: str) -> str | None:
    """The bucket key of a storage name when the storage is an S3 bucket, else None."""
    if not hasattr(store, "bucket_name"):
        return None
    from storages.utils import clean_name

    return store._normalize_name(clean_name(name))


def object_download(store, name: str, out) -> None:
    """Write a stored file to ``out``: from a bucket straight into it in ranged parts (boto3's transfer), else
    through the storage API a chunk at a time."""
    key = object_key(store, name)
    if key is None:
        with store.open(name, "rb") as stored:
            shutil.copyfileobj(stored, out, COPY_CHUNK)
        return
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError

    try:
        # Four 8 MiB parts at a time: about 40 MiB in flight whatever the file's size (bench/buckets.py).
        store.connection.meta.client.download_fileobj(
            store.bucket_name, key, out, Config=TransferConfig(max_concurrency=4)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise FileNotFoundError(name) from exc
        raise


def stored_uploads_older_than(cutoff_ts: float) -> list[str]:
    """``storage:<name>`` of the files under ``uploads/`` in the bucket last written before ``cutoff_ts``."""
    if not uses_bucket():
        return []
    _, files = default_storage.listdir("uploads")
    found = []
    for name in files:
        full = f"uploads/{name}"
        with contextlib.suppress(Exception):
            if default_storage.get_modified_time(full).timestamp() < cutoff_ts:
                found.append(STORED_PREFIX + full)
    return found


def random_upload_name(suffix: str) -> str:
    return f"{uuid.uuid4().hex}{suffix}"
