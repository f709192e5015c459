"""Results written to a bucket: on demand, and by a real Celery worker once the job is done; in parts, and never
half a file under the export's name."""

import time
import uuid

import pytest

from tasks import exports, results, services
from tasks.buckets.client import PART_BYTES, Place, client_for, multipart_write
from tasks.buckets.exports import bucket_export_run
from tasks.models import BucketExport, Job
from tests import factories
from tests.scheduling import Client, run

from .helpers import keys, location


def start_export(requester_api, job, body: dict) -> BucketExport:
    response = requester_api.post(f"/api/jobs/{job.pk}/exports/", body, format="json")
    assert response.status_code == 202, response.content
    assert "secret" not in response.json() and body["secret"] not in response.content.decode()
    return BucketExport.objects.get(pk=response.json()["id"])


def read(s3_server, bucket: str, key: str) -> bytes:
    return s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.mark.django_db
def test_an_export_on_demand_writes_the_same_file_as_the_download(requester_api, s3_server, bucket):
    job = factories.make_job(owner=requester_api.user)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(20)))
    job.refresh_from_db()
    for fmt in ("csv", "jsonl"):
        export = start_export(requester_api, job, {**location(s3_server, bucket, "out/"), "format": fmt})
        assert export.status == BucketExport.Status.PENDING
        export = bucket_export_run(export.pk)
        assert export.status == BucketExport.Status.DONE, export.error
        assert export.key == f"out/{job.pk}-results.{fmt}"
        local = b"".join(exports.export_csv(job) if fmt == "csv" else exports.export_jsonl(job))
        assert read(s3_server, bucket, export.key) == local and export.size_bytes == len(local)
    listed = requester_api.get(f"/api/jobs/{job.pk}/exports/").json()["results"]
    assert [e["status"] for e in listed] == ["done", "done"] and all("secret" not in e for e in listed)


@pytest.mark.django_db
def test_an_export_with_wrong_keys_fails_clearly_and_writes_nothing(requester_api, s3_server, bucket):
    job = factories.make_job(owner=requester_api.user)
    body = {**location(s3_server, bucket, "out/"), "secret": "wrong"}
    export = bucket_export_run(start_export(requester_api, job, body).pk)
    assert export.status == BucketExport.Status.FAILED
    assert export.error["message"] == (
        f"access denied for s3://{bucket}/out/: check the access key and secret (SignatureDoesNotMatch)"
    )
    assert keys(s3_server, bucket) == []


@pytest.mark.django_db
def test_a_large_export_goes_in_parts_and_a_failure_leaves_no_object_and_no_parts(s3_server, bucket):
    place = Place(s3_server.url, "us-east-1", bucket, "big/", s3_server.access_key_id, s3_server.secret)
    client = client_for(place)
    block = bytes(range(256)) * 4096  # 1 MiB
    size = multipart_write(client, place, "big/all", (block for _ in range(20)), "application/octet-stream")
    assert size == 20 * len(block)
    head = s3_server.client().head_object(Bucket=bucket, Key="big/all", PartNumber=1)
    assert head["PartsCount"] == -(-size // PART_BYTES)  # 3 parts of at most 8 MiB
    assert read(s3_server, bucket, "big/all") == block * 20

    def breaks():
        for _ in range(10):
            yield block
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        multipart_write(client, place, "big/broken", breaks(), "application/octet-stream")
    assert keys(s3_server, bucket, "big/") == ["big/all"]
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def answer_all(workers, value: str, rounds: int = 10) -> None:
    async def body():
        for worker in workers:
            c = await Client.open(worker)
            for _ in range(rounds):
                msg = await c.recv_type("task.assigned", "task.none")
                if msg["type"] == "task.none":
                    break
                await c.submit(msg, value, uuid.uuid4().hex)
            await c.close()

    run(body)


@pytest.mark.django_db(transaction=True)
def test_the_results_reach_the_bucket_once_the_job_is_done(requester_api, s3_server, bucket, celery_worker_process):
    job = factories.make_job(owner=requester_api.user, redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
    services.job_publish(job)
    export = start_export(requester_api, job, {**location(s3_server, bucket, "done/"), "when": "done"})
    assert export.status == BucketExport.Status.WAITING
    time.sleep(0.5)
    assert BucketExport.objects.get(pk=export.pk).status == BucketExport.Status.WAITING  # not before it is done

    answer_all([factories.make_worker(), factories.make_worker()], "banana")
    results.results_pending()  # writes the results; the job is done, which releases the export
    assert Job.objects.get(pk=job.pk).status == Job.Status.DONE
    deadline = time.monotonic() + 30
    while (export := BucketExport.objects.get(pk=export.pk)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, f"the export is still {export.status}"
        time.sleep(0.1)
    assert export.status == BucketExport.Status.DONE, export.error
    written = read(s3_server, bucket, f"done/{job.pk}-results.csv")
    assert written == b"".join(exports.export_csv(Job.objects.get(pk=job.pk)))
    assert written.count(b",banana,") == 3  # the results are in it

    # A job that is done already is exported at once.
    again = start_export(requester_api, job, {**location(s3_server, bucket, "again/"), "when": "done"})
    assert again.status == BucketExport.Status.PENDING
