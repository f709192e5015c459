"""A job filled from a bucket prefix: data files as uploads in key order, media files listed into items; and each
way it can go wrong ends the import ``failed`` with an error naming the bucket or key, with nothing half stored."""

import json
import time

import pytest
from django.utils import timezone

from tasks.buckets.imports import bucket_import_run
from tasks.models import BucketImport, Item, MediaFile, Upload
from tests import factories

from .helpers import keys, location

pytestmark = pytest.mark.django_db

DISPLAY = [{"type": "image", "column": "photo", "label": "Photo"}]


def start_import(requester_api, job, body: dict) -> BucketImport:
    response = requester_api.post(f"/api/jobs/{job.pk}/imports/", body, format="json")
    assert response.status_code == 202, response.content
    assert "secret" not in response.json() and body["secret"] not in response.content.decode()
    return BucketImport.objects.get(pk=response.json()["id"])


def put(s3_server, bucket: str, key: str, body: bytes, **extra) -> None:
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=body, **extra)


def test_rows_are_imported_from_every_data_file_under_the_prefix_in_key_order(requester_api, s3_server, bucket):
    put(s3_server, bucket, "batch/b.jsonl", b'{"id": "b1", "text": "three"}\n{"id": "b2", "text": "four"}\n')
    put(s3_server, bucket, "batch/a.csv", b"id,text\na1,one\na2,two\n")
    put(s3_server, bucket, "batch/README.md", b"# not data")  # passed over
    put(s3_server, bucket, "other/c.csv", b"id,text\nc1,elsewhere\n")  # another prefix
    job = factories.make_job(owner=requester_api.user)
    imported = start_import(requester_api, job, location(s3_server, bucket, "batch/"))
    assert imported.status == BucketImport.Status.PENDING
    assert imported.secret_encrypted and s3_server.secret not in imported.secret_encrypted

    imported = bucket_import_run(imported.pk)
    assert imported.status == BucketImport.Status.DONE, imported.error
    assert (imported.files_total, imported.files_done, imported.items_created) == (2, 2, 4)
    ids = list(Item.objects.filter(job=job).order_by("position").values_list("external_id", flat=True))
    assert ids == ["a1", "a2", "b1", "b2"]
    uploads = [Upload.objects.get(pk=pk) for pk in imported.upload_ids]
    assert [u.filename for u in uploads] == ["a.csv", "b.jsonl"]

    detail = requester_api.get(f"/api/jobs/{job.pk}/imports/{imported.pk}/").json()
    assert detail["status"] == "done" and detail["items_created"] == 4 and "secret" not in detail
    listed = requester_api.get(f"/api/jobs/{job.pk}/imports/").json()["results"]
    assert [i["id"] for i in listed] == [imported.pk]
    # The bucket is only read.
    assert keys(s3_server, bucket) == ["batch/README.md", "batch/a.csv", "batch/b.jsonl", "other/c.csv"]


def test_media_under_a_prefix_become_one_item_each(requester_api, s3_server, bucket):
    pictures = {f"shots/{n}.png": factories.png_bytes(seed=n) for n in range(3)}
    for key, body in pictures.items():
        put(s3_server, bucket, key, body)
    put(s3_server, bucket, "shots/.DS_Store", b"junk")  # skipped as in archives
    job = factories.make_job(owner=requester_api.user, display=DISPLAY, text_field="")
    imported = start_import(requester_api, job, {**location(s3_server, bucket, "shots/"), "kind": "media"})
    imported = bucket_import_run(imported.pk)
    assert imported.status == BucketImport.Status.DONE, imported.error
    assert imported.items_created == 3
    items = list(Item.objects.filter(job=job).order_by("position").values_list("data", flat=True))
    assert items == [{"id": f"{n}.png", "photo": f"{n}.png"} for n in range(3)]
    records = {m.name: m for m in MediaFile.objects.filter(job=job)}
    assert set(records) == {"0.png", "1.png", "2.png"} and {m.kind for m in records.values()} == {"image"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"secret": "not-the-secret"},
            "access denied for s3://{bucket}/in/: check the access key and secret (SignatureDoesNotMatch)",
        ),
        (
            {"access_key_id": "AKIAUNKNOWN000000000"},
            "access denied for s3://{bucket}/in/: check the access key and secret (InvalidAccessKeyId)",
        ),
        ({"bucket": "quorum-no-such-bucket"}, "no bucket named 'quorum-no-such-bucket' at {url}"),
        ({"prefix": "empty/"}, "no files under s3://{bucket}/empty/ (CSV or JSON Lines: .csv, .txt, .jsonl, "),
    ],
)
def test_wrong_keys_a_missing_bucket_or_an_empty_prefix_fail_the_import_clearly(
    requester_api, s3_server, bucket, changes, message
):
    put(s3_server, bucket, "in/a.csv", b"id,text\n1,a\n")
    job = factories.make_job(owner=requester_api.user)
    imported = start_import(requester_api, job, {**location(s3_server, bucket, "in/"), **changes})
    imported = bucket_import_run(imported.pk)
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error["message"].startswith(message.format(bucket=bucket, url=s3_server.url))
    assert not Item.objects.filter(job=job).exists() and not Upload.objects.filter(job=job).exists()
    detail = requester_api.get(f"/api/jobs/{job.pk}/imports/{imported.pk}/").json()
    assert detail["status"] == "failed" and detail["error"]["message"] == imported.error["message"]


def test_an_unreadable_object_fails_the_import_naming_its_key_and_nothing_is_stored(
    requester_api, s3_server, bucket, settings
):
    put(s3_server, bucket, "in/a.csv", b"id,text\n1,a\n")
    # An object in an archive storage class cannot be read until it is restored: a real "cannot read".
    put(s3_server, bucket, "in/b.csv", b"id,text\n2,b\n", StorageClass="GLACIER")
    job = factories.make_job(owner=requester_api.user)
    imported = bucket_import_run(start_import(requester_api, job, location(s3_server, bucket, "in/")).pk)
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error["file"] == "in/b.csv"
    assert imported.error["message"].startswith(f"cannot read s3://{bucket}/in/b.csv: ")
    assert "InvalidObjectState" in imported.error["message"]
    # Every file is fetched before any is ingested: the readable one was not stored either.
    assert not Item.objects.filter(job=job).exists() and not Upload.objects.filter(job=job).exists()
    assert not any(settings.MEDIA_ROOT.rglob("*.csv"))  # no temporary copy left

    # Media: the files read before it are deleted from storage again, and no record or item is kept.
    media_job = factories.make_job(owner=requester_api.user, display=DISPLAY, text_field="")
    put(s3_server, bucket, "pics/a.png", factories.png_bytes(seed=1))
    put(s3_server, bucket, "pics/b.png", factories.png_bytes(seed=2), StorageClass="GLACIER")
    body = {**location(s3_server, bucket, "pics/"), "kind": "media"}
    imported = bucket_import_run(start_import(requester_api, media_job, body).pk)
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error["message"].startswith(f"cannot read s3://{bucket}/pics/b.png: ")
    assert not MediaFile.objects.filter(job=media_job).exists() and not Item.objects.filter(job=media_job).exists()
    assert not any(p.is_file() for p in settings.MEDIA_ROOT.rglob("*"))


def test_a_bad_row_names_the_object_line_and_field_and_keeps_the_files_before_it(requester_api, s3_server, bucket):
    put(s3_server, bucket, "in/1.csv", b"id,text\n1,a\n")
    put(s3_server, bucket, "in/2.jsonl", b'{"id": "2", "text": "b"}\n{"id": "3", "body": "no text"}\n')
    put(s3_server, bucket, "in/3.csv", b"id,text\n4,c\n")
    job = factories.make_job(owner=requester_api.user)
    imported = bucket_import_run(start_import(requester_api, job, location(s3_server, bucket, "in/")).pk)
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error == {
        "file": f"s3://{bucket}/in/2.jsonl",
        "line": 2,
        "field": "text",
        "message": "the text column 'text' is missing",
    }
    # All or nothing per file: the first file stays, the bad one stored nothing, the third was not begun.
    assert list(Item.objects.filter(job=job).values_list("external_id", flat=True)) == ["1"]
    assert (imported.files_done, imported.items_created, len(imported.upload_ids)) == (1, 1, 2)


def test_a_media_object_that_is_not_media_is_refused_naming_it(requester_api, s3_server, bucket):
    put(s3_server, bucket, "pics/a.png", factories.png_bytes(seed=1))
    put(s3_server, bucket, "pics/b.svg", factories.SVG_BYTES)
    job = factories.make_job(owner=requester_api.user, display=DISPLAY, text_field="")
    body = {**location(s3_server, bucket, "pics/"), "kind": "media"}
    imported = bucket_import_run(start_import(requester_api, job, body).pk)
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error["file"] == f"s3://{bucket}/pics/b.svg"
    assert "not an image, audio or video file" in imported.error["message"]
    assert not MediaFile.objects.filter(job=job).exists()


def test_an_endpoint_that_does_not_answer_ends_the_import_within_its_timeouts(requester_api, settings, bucket):
    from tests.s3 import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    settings.QUORUM_BUCKET_ENDPOINTS = [dead]
    job = factories.make_job(owner=requester_api.user)
    body = {
        "endpoint_url": dead,
        "bucket": bucket,
        "prefix": "in/",
        "access_key_id": "AKIAEXAMPLE",
        "secret": "secret",
    }
    started = time.monotonic()
    imported = bucket_import_run(start_import(requester_api, job, body).pk)
    assert time.monotonic() - started < 30
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error["message"].startswith(f"cannot reach {dead} for s3://{bucket}/in/")


def test_the_api_refuses_endpoints_others_jobs_and_bad_fields(requester_api, api, s3_server, bucket):
    job = factories.make_job(owner=requester_api.user)
    url = f"/api/jobs/{job.pk}/imports/"
    inside = requester_api.post(
        url, location(s3_server, bucket, "", endpoint_url="http://10.0.0.5:9000"), format="json"
    )
    assert inside.status_code == 400
    assert "QUORUM_BUCKET_ENDPOINTS" in json.dumps(inside.json()["endpoint_url"])
    bad_name = requester_api.post(url, location(s3_server, "Not_A_Bucket", ""), format="json")
    assert bad_name.status_code == 400 and "bucket" in bad_name.json()
    no_secret = {k: v for k, v in location(s3_server, bucket, "").items() if k != "secret"}
    assert requester_api.post(url, no_secret, format="json").status_code == 400
    assert api.post(url, location(s3_server, bucket, ""), format="json").status_code in (401, 403)
    other = factories.make_requester()
    api.force_authenticate(other)
    assert api.post(url, location(s3_server, bucket, ""), format="json").status_code == 404
    assert api.get(url).status_code == 404
    assert not BucketImport.objects.exists()


def wait_import(import_id: int, timeout: float = 30) -> BucketImport:
    deadline = time.monotonic() + timeout
    while (imported := BucketImport.objects.get(pk=import_id)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, f"the import is still {imported.status}"
        time.sleep(0.1)
    return imported


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_runs_imports_and_a_failed_one_does_not_hold_it(
    requester_api, s3_server, bucket, celery_worker_process
):
    put(s3_server, bucket, "in/a.csv", b"id,text\n1,a\n2,b\n")
    job = factories.make_job(owner=requester_api.user)
    refused = start_import(requester_api, job, {**location(s3_server, bucket, "in/"), "secret": "wrong"})
    assert wait_import(refused.pk).status == BucketImport.Status.FAILED
    imported = wait_import(start_import(requester_api, job, location(s3_server, bucket, "in/")).pk)
    assert imported.status == BucketImport.Status.DONE, imported.error
    assert Item.objects.filter(job=job).count() == 2


def test_an_import_left_running_by_a_dead_celery_worker_ends_failed_when_its_message_returns(
    requester_api, s3_server, bucket, settings
):
    job = factories.make_job(owner=requester_api.user)
    imported = start_import(requester_api, job, location(s3_server, bucket, "in/"))
    # A Celery worker claimed it and died; a fresh claim is left alone (another worker may be running it).
    BucketImport.objects.filter(pk=imported.pk).update(status="running", heartbeat_at=timezone.now())
    assert bucket_import_run(imported.pk).status == BucketImport.Status.RUNNING
    settings.QUORUM_BUCKET_STALE_SECONDS = 0
    imported = bucket_import_run(imported.pk)
    assert imported.status == BucketImport.Status.FAILED
    assert imported.error["message"] == "the import stopped midway (its Celery worker ended); start it again"
