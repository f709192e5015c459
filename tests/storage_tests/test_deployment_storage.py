"""QUORUM_STORAGE=s3: upload files and media live in the deployment's bucket, the ingest streams them back, and
media are served from the bucket a range at a time; what fails leaves nothing behind, in the bucket or on disk."""

import asyncio
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from quorum import media_serving
from tasks import media, services
from tasks.models import Item, MediaFile, Upload
from tests import factories

from .helpers import keys

pytestmark = pytest.mark.django_db

PNG = factories.png_bytes(64, 64, seed=7)
DISPLAY = [{"type": "image", "column": "photo", "label": "Photo"}, {"type": "text", "column": "text", "label": ""}]


def local_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_an_upload_is_kept_in_the_bucket_and_ingested_from_it(requester_api, s3_storage, s3_server):
    job = factories.make_job(owner=requester_api.user)
    data = factories.csv_bytes(factories.fruit_rows(5))
    response = requester_api.post(f"/api/jobs/{job.pk}/uploads/?filename=items.csv", data=data, content_type="text/csv")
    assert response.status_code == 202, response.content
    upload = Upload.objects.get(pk=response.json()["id"])
    # In the bucket, not on this machine: any Celery worker can ingest it.
    assert upload.path.startswith("storage:uploads/")
    [key] = keys(s3_server, s3_storage, "uploads/")
    assert s3_server.client().get_object(Bucket=s3_storage, Key=key)["Body"].read() == data
    assert local_files() == []

    upload = services.upload_ingest(upload.pk)
    assert upload.status == Upload.Status.DONE and upload.items_created == 5
    assert sorted(Item.objects.filter(job=job).values_list("external_id", flat=True)) == [f"i{i}" for i in range(5)]
    # The file goes once the ingest ends (retention 0), and the temporary copy with it.
    assert keys(s3_server, s3_storage, "uploads/") == [] and local_files() == []
    assert Upload.objects.get(pk=upload.pk).path == ""


def test_a_bad_upload_from_the_bucket_stores_nothing_and_names_the_line(requester, s3_storage, s3_server):
    job = factories.make_job(owner=requester)
    bad = b"id,text\n1,fine\n2,b,extra\n"
    upload = services.upload_create(job=job, filename="bad.csv", source=io.BytesIO(bad), in_background=False)
    upload = services.upload_ingest(upload.pk)
    assert upload.status == Upload.Status.FAILED
    assert upload.error["line"] == 3 and "expected 2 fields" in upload.error["message"]
    assert not Item.objects.filter(job=job).exists()
    assert keys(s3_server, s3_storage) == [] and local_files() == []


def test_an_upload_whose_stored_file_is_gone_fails_with_a_clear_error(requester, s3_storage, s3_server):
    job = factories.make_job(owner=requester)
    upload = services.upload_create(
        job=job, filename="items.csv", source=io.BytesIO(b"id,text\n1,a\n"), in_background=False
    )
    s3_server.client().delete_object(Bucket=s3_storage, Key=upload.path.removeprefix("storage:"))
    upload = services.upload_ingest(upload.pk)
    assert upload.status == Upload.Status.FAILED
    assert upload.error["message"] == "the upload's file could not be read from storage (see the server log)"


def test_media_and_an_archive_go_to_the_bucket_and_are_served_from_it_by_range(requester_api, s3_storage, s3_server):
    job = factories.make_job(owner=requester_api.user, display=DISPLAY)
    sent = requester_api.post(
        f"/api/jobs/{job.pk}/media/?name=cat.png", data=PNG, content_type="application/octet-stream"
    )
    assert sent.status_code == 201, sent.content
    archive = media.zip_bytes(
        {
            "photos/dog.png": factories.png_bytes(seed=8),
            "items.csv": factories.csv_bytes(
                [{"id": "1", "text": "a", "photo": "cat.png"}, {"id": "2", "text": "b", "photo": "photos/dog.png"}]
            ),
        }
    )
    upload = factories.ingest_now(job, archive, filename="batch.zip")
    assert upload.status == Upload.Status.DONE, upload.error
    assert Item.objects.filter(job=job).count() == 2
    records = {m.name: m for m in MediaFile.objects.filter(job=job)}
    assert set(records) == {"cat.png", "photos/dog.png"}
    assert keys(s3_server, s3_storage, f"media/{job.pk}/") == sorted(m.storage_name for m in records.values())
    assert local_files() == []  # nothing of it on this machine

    cat = records["cat.png"]
    found = {"storage_name": cat.storage_name, "content_type": cat.content_type, "size_bytes": cat.size_bytes}
    status, headers, body = serve(found, range_header=b"bytes=100-299")
    assert status == 206 and body == PNG[100:300]
    assert headers[b"content-range"] == f"bytes 100-299/{len(PNG)}".encode()
    status, headers, body = serve(found)
    assert status == 200 and body == PNG and headers[b"content-type"] == b"image/png"
    gone = dict(found, storage_name=f"media/{job.pk}/missing.png")
    assert serve(gone)[0] == 404


def test_a_refused_archive_leaves_no_media_in_the_bucket(requester, s3_storage, s3_server):
    job = factories.make_job(owner=requester, display=DISPLAY)
    archive = media.zip_bytes(
        {
            "a.png": PNG,
            "items.csv": factories.csv_bytes([{"id": "1", "text": "a", "photo": "missing.png"}]),
        }
    )
    upload = factories.ingest_now(job, archive, filename="batch.zip")
    assert upload.status == Upload.Status.FAILED and "missing.png" in upload.error["message"]
    assert not MediaFile.objects.filter(job=job).exists()
    assert keys(s3_server, s3_storage) == [] and local_files() == []


def serve(found: dict, range_header: bytes | None = None) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"method": "GET", "headers": [(b"range", range_header)] if range_header else []}
    asyncio.run(media_serving.stream(send, scope, found, 60))
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_a_kept_upload_file_stays_in_the_bucket_until_the_purge(requester, s3_storage, s3_server, settings):
    settings.QUORUM_UPLOAD_RETENTION_HOURS = 1
    job = factories.make_job(owner=requester)
    upload = factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(2)))
    assert upload.status == Upload.Status.DONE
    assert len(keys(s3_server, s3_storage, "uploads/")) == 1  # kept for inspection
    assert services.upload_files_purge() == 0
    Upload.objects.filter(pk=upload.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    assert services.upload_files_purge() == 1
    assert keys(s3_server, s3_storage, "uploads/") == [] and Upload.objects.get(pk=upload.pk).path == ""


def test_deleting_a_job_deletes_its_files_from_the_bucket(
    requester, s3_storage, s3_server, settings, django_capture_on_commit_callbacks
):
    settings.QUORUM_UPLOAD_RETENTION_HOURS = 1
    job = factories.make_job(owner=requester, display=DISPLAY)
    archive = media.zip_bytes(
        {"a.png": PNG, "items.csv": factories.csv_bytes([{"id": "1", "text": "a", "photo": "a.png"}])}
    )
    assert factories.ingest_now(job, archive, filename="batch.zip").status == Upload.Status.DONE
    assert len(keys(s3_server, s3_storage)) == 2  # the kept archive and its image
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job)
    assert keys(s3_server, s3_storage) == []


def test_the_environment_alone_switches_storage_to_the_bucket(s3_server, bucket, tmp_path):
    """What a deployment sets (docker/compose.yaml): QUORUM_STORAGE=s3 and the AWS_* variables, no code."""
    script = (
        "import django; django.setup()\n"
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage, storages\n"
        "from tasks import storage\n"
        "print(type(storages['default']).__name__)\n"
        "default_storage.save('media/check.txt', ContentFile(b'stored'))\n"
        "print(storage.uses_bucket())\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "quorum.settings",
        "QUORUM_VAR_DIR": str(tmp_path),
        "QUORUM_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_server.url,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["S3Storage", "True"]
    assert keys(s3_server, bucket) == ["media/check.txt"]
