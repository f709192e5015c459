"""A requester on the job page fills a job from a bucket prefix and has its results written back, in headless
Chromium against a real server, a real Celery worker and a local S3-compatible server."""

import uuid

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.servers import asgi_server

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, s3_server):
    # The web process may send requesters' imports to the local S3-compatible server.
    with django_db_blocker.unblock(), asgi_server(QUORUM_BUCKET_ENDPOINTS=s3_server.url) as url:
        yield url


@pytest.fixture(autouse=True)
def _endpoints(settings, s3_server, tmp_path):
    settings.QUORUM_BUCKET_ENDPOINTS = [s3_server.url]  # the Celery worker in this process runs the imports
    settings.MEDIA_ROOT = tmp_path


def fill_location(page, s3_server, bucket: str, prefix: str, secret: str) -> None:
    page.get_by_label("Endpoint (empty for AWS S3)").fill(s3_server.url)
    page.get_by_label("Region").fill("us-east-1")
    page.get_by_label("Bucket name").fill(bucket)
    page.get_by_label("Prefix").fill(prefix)
    page.get_by_label("Access key").fill(s3_server.access_key_id)
    page.get_by_label("Secret key").fill(secret)


def test_a_requester_imports_from_a_bucket_and_sees_what_went_wrong(new_page, s3_server, celery_worker_process):
    bucket = f"quorum-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="in/a.csv", Body=b"id,text\n1,one\n2,two\n")
    requester = factories.make_requester()
    job = factories.make_job(owner=requester)
    page = new_page()
    sign_in(page, requester.username, factories.PASSWORD)
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_text("Import items from an S3-compatible bucket").click()

    fill_location(page, s3_server, bucket, "in/", "not-the-secret")
    page.get_by_role("button", name="Start").click()
    runs = page.locator("#bucket-runs li")
    expect(runs.first).to_contain_text("failed")
    expect(runs.first.locator(".error")).to_have_text(
        f"access denied for s3://{bucket}/in/: check the access key and secret (SignatureDoesNotMatch)"
    )
    # The secret is cleared once sent, and never comes back from the server.
    expect(page.get_by_label("Secret key")).to_have_value("")
    assert "not-the-secret" not in page.content()

    page.get_by_label("Secret key").fill(s3_server.secret)
    page.get_by_role("button", name="Start").click()
    expect(runs.first).to_contain_text("done, 2 items")
    screenshot(page, "job-bucket-import")

    page.get_by_label("What to do").select_option("export-now")
    page.get_by_label("Results as").select_option("jsonl")
    page.get_by_label("Prefix").fill("out/")
    page.get_by_label("Secret key").fill(s3_server.secret)
    page.get_by_role("button", name="Start").click()
    expect(runs.first).to_contain_text(f"(s3://{bucket}/out/{job.pk}-results.jsonl)")
    body = client.get_object(Bucket=bucket, Key=f"out/{job.pk}-results.jsonl")["Body"].read()
    assert body.count(b"\n") == 2
