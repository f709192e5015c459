"""The Webhooks page in a browser: from a job, add an endpoint, see its secret once, see a failed delivery with its
answer, resend it."""

import time

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.servers import asgi_server
from tests.webhooks_tests.receiver import Receiver
from webhooks import services
from webhooks.models import Delivery, Endpoint

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """The platform allows loopback endpoints here: the test's receiver is on 127.0.0.1."""
    with django_db_blocker.unblock():
        with asgi_server(QUORUM_WEBHOOK_ALLOW_PRIVATE="1") as url:
            yield url


def test_a_requester_adds_an_endpoint_from_a_job_and_resends_a_failed_delivery(new_page, settings):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = True
    requester = factories.make_requester()
    job = factories.make_job(requester)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(2)))
    page = new_page()
    sign_in(page, requester.username, factories.PASSWORD)
    with Receiver(status=500) as receiver:
        page.goto(f"/jobs/{job.pk}/")
        page.locator("#job-webhooks").click()
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_role("button", name=f"Add endpoint for job {job.pk}").click()
        expect(page.get_by_label("Signing secret")).to_be_visible()  # the page after the POST, not before it
        endpoint = Endpoint.objects.get()
        assert endpoint.job_id == job.pk
        expect(page.get_by_label("Signing secret")).to_have_value(endpoint.secret)

        services.event_record(job.pk, "job.published", {"status": "open"})
        services.events_dispatch()
        services.deliveries_send(endpoint.pk, job.pk)
        # A Celery worker left running by another test of the session may have claimed the event or the delivery
        # first (its transaction maybe not yet committed): wait for the failed attempt, whoever makes it.
        deadline = time.monotonic() + 30
        while not Delivery.objects.filter(status="failed").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        page.goto(f"/webhooks/?job={job.pk}")
        row = page.locator("#delivery-list tbody tr").first
        expect(row).to_contain_text("HTTP 500: broken on purpose")
        expect(row).to_contain_text("Failed, will retry")
        expect(page.get_by_label("Signing secret")).to_have_count(0)  # shown once only
        screenshot(page, "webhooks-failed-delivery")
        row.get_by_role("button", name="Resend").click()
        expect(page.locator(".messages")).to_contain_text("queued again")
    # Queued again: pending, or already being tried again where a Celery worker of the session is running.
    assert Delivery.objects.get().status in {"pending", "delivering", "failed"}
