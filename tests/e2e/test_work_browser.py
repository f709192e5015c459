"""Two workers answer with the keyboard while the requester watches; staff blocks one and their work stops."""

import json
import re

import pytest
from playwright.sync_api import expect

from tasks import services
from tasks.models import Answer, Assignment
from tests import factories
from workers.models import WorkerProfile

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ITEMS = 6


@pytest.fixture
def open_job():
    requester = factories.make_requester("rhea")
    job = factories.make_job(
        owner=requester,
        name="Fruit sorting",
        instructions="Pick the fruit the sentence talks about.",
        redundancy=2,
        items_per_microtask=1,
        lease_seconds=120,
        reward="0.10",
    )
    rows = [{"id": f"f{i}", "text": f"A ripe banana, number {i}", "gold": ""} for i in range(ITEMS)]
    factories.ingest_now(job, factories.csv_bytes(rows))
    job.refresh_from_db()
    services.job_publish(job)
    return job


def answer_with_keys(page, key: str, answered_before: int) -> None:
    """Pick option `key` on the microtask in view and submit with Enter; wait until the page counts it."""
    expect(page.locator("#task .task-item")).to_have_count(1, timeout=15_000)
    page.keyboard.press(key)
    expect(page.locator("#task input:checked")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text(str(answered_before + 1), timeout=15_000)


def test_two_workers_answer_by_keyboard_the_requester_sees_it_live_and_a_blocked_worker_stops(new_page, open_job):
    job = open_job
    staff = factories.make_requester("sam")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    wanda, walt = factories.make_worker("wanda"), factories.make_worker("walt")

    requester = new_page()
    sign_in(requester, "rhea", factories.PASSWORD)
    requester.goto(f"/jobs/{job.pk}/")
    expect(requester.locator("#live-state")).to_have_text("live")
    expect(requester.locator("#s-items")).to_have_text(f"0 / {ITEMS}")
    requester.evaluate("() => { window.__notReloaded = true; }")

    pages = {}
    for user, viewport in ((wanda, None), (walt, {"width": 390, "height": 844})):
        page = new_page(viewport=viewport)
        sign_in(page, user.username, factories.PASSWORD)
        expect(page).to_have_url(re.compile(r"/work/$"))
        expect(page.locator("#conn-state")).to_have_text("Connected")
        pages[user.username] = page
    wanda_page, walt_page = pages["wanda"], pages["walt"]

    # The worker's view: the item as text, numbered options with labels, the lease timer, instructions on I.
    expect(wanda_page.locator("#task .task-item")).to_have_count(1, timeout=15_000)
    expect(wanda_page.locator("#task .item-text")).to_contain_text("A ripe banana")
    expect(wanda_page.get_by_label("banana")).to_be_visible()
    expect(wanda_page.locator("#lease-timer")).to_have_text(re.compile(r"^[12]:\d\d left$"))
    wanda_page.keyboard.press("i")
    expect(wanda_page.get_by_role("dialog")).to_contain_text("Pick the fruit the sentence talks about.")
    screenshot(wanda_page, "work-instructions")
    wanda_page.get_by_role("button", name="Close").click()
    screenshot(wanda_page, "work")

    # A skip gives the lease back, and that microtask never comes back to this worker.
    expect(walt_page.locator("#task .task-item")).to_have_count(1, timeout=15_000)
    screenshot(walt_page, "work-phone")
    walt_page.keyboard.press("s")
    expect(walt_page.locator("#task")).to_contain_text("Skipped")
    for n in range(2):
        answer_with_keys(walt_page, "2", n)
    for n in range(ITEMS):
        answer_with_keys(wanda_page, "2", n)
    expect(wanda_page.locator("#task-waiting")).to_be_visible(timeout=15_000)
    expect(wanda_page.locator("#history li")).to_have_count(ITEMS)

    skipped = Assignment.objects.get(worker=walt, status="skipped")
    assert not Assignment.objects.filter(worker=walt, microtask=skipped.microtask).exclude(pk=skipped.pk).exists()
    assert Answer.objects.filter(job=job, value="banana").count() == ITEMS + 2

    # The requester's page followed along over the WebSocket, without a reload.
    expect(requester.locator("#s-answers")).to_have_text(str(ITEMS + 2), timeout=15_000)
    expect(requester.locator("#s-items")).to_have_text(f"2 / {ITEMS}")
    expect(requester.locator("#s-workers")).to_have_text("2")
    assert requester.evaluate("() => window.__notReloaded") is True
    expect(requester.locator("#workers-table tbody tr")).to_have_count(2, timeout=15_000)
    screenshot(requester, "job-working")

    # Staff looks at the console, then blocks walt in the admin.
    console = new_page()
    sign_in(console, "sam", factories.PASSWORD)
    console.goto("/console/")
    expect(console.locator("#o-online")).to_have_text("2")
    expect(console.locator("#o-db")).to_have_attribute("data-ok", "true")
    expect(console.locator("#o-waiting")).to_contain_text("Fruit sorting")
    screenshot(console, "console")
    console.goto("/admin/workers/workerprofile/")
    console.locator("tr", has_text="walt").get_by_role("checkbox").check()
    console.locator("select[name=action]").select_option(
        label="Block the selected workers on every job (staff block: they get no more work)"
    )
    console.get_by_role("button", name="Go").click()
    expect(console.get_by_text("Blocked 1 worker(s) on every job.")).to_be_visible()
    screenshot(console, "admin-block")
    assert WorkerProfile.objects.get(user=walt).blocked

    # walt's page loses the microtask in view and gets no more work from the job.
    # One notice, with the reason; the task area just stops.
    expect(walt_page.locator("#blocked-note")).to_be_visible(timeout=15_000)
    expect(walt_page.locator("#blocked-note")).to_contain_text("blocked on every job by the platform's staff")
    expect(walt_page.locator("#task-waiting")).to_have_text(re.compile("No more work"))
    expect(walt_page.get_by_text(re.compile("blocked", re.IGNORECASE))).to_have_count(1)
    expect(walt_page.locator("#task .task-item")).to_have_count(0)
    screenshot(walt_page, "work-blocked")
    walt_page.keyboard.press("Enter")
    walt_page.wait_for_timeout(1500)
    expect(walt_page.locator("#task .task-item")).to_have_count(0)
    assert not Assignment.objects.filter(worker=walt, status="leased").exists()
    assert Answer.objects.filter(worker=walt).count() == 2


def test_a_dropped_connection_recovers_and_the_unacknowledged_answer_is_sent_again(new_page, open_job):
    worker = factories.make_worker("rory")
    connections = []
    submits = []

    def route(ws):
        # The first connection swallows the first answer and then drops, as a flaky network would.
        connections.append(ws)
        server = ws.connect_to_server()
        first = len(connections) == 1

        def from_page(message):
            if '"answer.submit"' in message:
                submits.append(message)
                if first:
                    server.close()
                    ws.close(code=1011)
                    return
            server.send(message)

        ws.on_message(from_page)

    page = new_page()
    page.route_web_socket(re.compile(r"/ws/work/(\?.*)?$"), route)
    sign_in(page, "rory", factories.PASSWORD)
    expect(page.locator("#conn-state")).to_have_text("Connected")
    expect(page.locator("#task .task-item")).to_have_count(1, timeout=15_000)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    # The page shows the drop and reconnects by itself; the answer goes again under the same key.
    expect(page.locator("#conn-state")).to_have_text("Connected", timeout=15_000)
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)
    assert len(connections) >= 2
    keys = {json.loads(m)["key"] for m in submits}
    assert len(submits) >= 2 and len(keys) == 1
    assert Answer.objects.filter(worker=worker).count() == 1
    assert Assignment.objects.get(worker=worker, status="submitted").idempotency_key in keys
