"""A new worker finds a job on the board, works on that job only, and can go back to any job."""

import pytest
from playwright.sync_api import expect

from tasks import services
from tests import factories

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def published(name: str, text: str, **fields):
    job = factories.make_job(owner=factories.make_requester(), name=name, redundancy=1, **fields)
    rows = [{"id": f"{name[:3]}{i}", "text": f"{text} {i}", "gold": ""} for i in range(3)]
    factories.ingest_now(job, factories.csv_bytes(rows))
    job.refresh_from_db()
    services.job_publish(job)
    return job


def test_a_worker_chooses_a_job_on_the_board_and_gets_only_its_microtasks(new_page):
    published("Busy other job", "Something else entirely", priority=100, reward="0.01")
    chosen = published("Apples and pears", "A crisp apple", priority=1, reward="0.08")
    factories.make_worker("nina")

    page = new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Quorum")).to_be_visible()
    screenshot(page, "landing")
    sign_in(page, "nina", factories.PASSWORD)
    page.goto("/work/jobs/")
    board = page.locator("#job-board")
    expect(board.locator("tbody tr")).to_have_count(2)
    row = board.locator(f'tr[data-job-id="{chosen.pk}"]')
    expect(row).to_contain_text("0.08")
    expect(row).to_contain_text("not measured yet")
    screenshot(page, "job-board")
    row.get_by_role("link", name="Work on Apples and pears").click()

    expect(page.locator("#working-on")).to_contain_text("Working on Apples and pears only")
    # The job's first microtask shows its instructions open above it; the next ones do not.
    for n in range(3):
        expect(page.locator("#task .task-item")).to_have_count(1, timeout=15_000)
        expect(page.locator("#task")).to_contain_text("A crisp apple")
        if n == 0:
            expect(page.locator("#first-instructions")).to_contain_text("Pick the right label.")
            screenshot(page, "work-first-instructions")
        else:
            expect(page.locator("#first-instructions")).to_have_count(0)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        expect(page.locator("#w-answers")).to_have_text(str(n + 1), timeout=15_000)
    expect(page.locator("#task-waiting")).to_contain_text("No microtask of this job for you right now", timeout=15_000)
    screenshot(page, "work-chosen-job-done")

    page.get_by_role("link", name="work on any job").click()
    expect(page.locator("#working-on")).to_contain_text("Working on any job")
    expect(page.locator("#task")).to_contain_text("Something else entirely", timeout=15_000)
