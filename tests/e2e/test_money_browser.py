"""A worker's money in the browser: earnings move live when an answer is accepted and a bonus is paid, the
statement shows every entry; staff makes a payout batch and downloads its CSV; the statement then shows it paid."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tasks import services
from tasks.models import Assignment
from tests import factories

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def open_job():
    requester = factories.make_requester("penny")
    job = factories.make_job(
        owner=requester, name="Fruit pay", redundancy=1, items_per_microtask=1, lease_seconds=120, reward="0.10"
    )
    rows = [{"id": f"p{i}", "text": f"A green apple, number {i}", "gold": ""} for i in range(3)]
    factories.ingest_now(job, factories.csv_bytes(rows))
    job.refresh_from_db()
    services.job_publish(job)
    return job


def test_earnings_move_live_the_statement_lists_them_and_staff_pays_a_batch(new_page, open_job):
    job = open_job
    worker = factories.make_worker("milo")
    staff = factories.make_requester("sasha")
    staff.is_staff = staff.is_superuser = True
    staff.save()

    page = new_page()
    sign_in(page, "milo", factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.locator("#w-total")).to_have_text("USD 0.00")
    expect(page.locator("#task .task-item")).to_have_count(1, timeout=15_000)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)
    expect(page.locator("#w-pending")).to_have_text("USD 0.10", timeout=10_000)
    page.evaluate("() => { window.__notReloaded = true; }")

    # The requester accepts the answer: the worker's open page shows the money at once (not at the 30 s re-read).
    services.assignment_review(Assignment.objects.get(worker=worker, status="submitted"), accepted=True)
    expect(page.locator("#w-total")).to_have_text("USD 0.10", timeout=10_000)
    expect(page.locator("#w-pending")).to_have_text("USD 0.00")

    # The requester pays a bonus from the job page's workers table.
    requester = new_page()
    sign_in(requester, "penny", factories.PASSWORD)
    requester.goto(f"/jobs/{job.pk}/")
    row = requester.locator("#workers-table tbody tr", has_text="milo")
    expect(row).to_have_count(1, timeout=15_000)
    row.get_by_label("Bonus amount in USD").fill("0.50")
    row.get_by_label("Reason for the bonus (the worker sees it)").fill("Clear answers")
    row.get_by_role("button", name="Pay milo a bonus").click()
    expect(requester.get_by_text("Bonus of USD 0.50 paid to milo.")).to_be_visible()
    expect(requester.locator("#s-cost")).to_have_text("USD 0.60", timeout=10_000)
    screenshot(requester, "money-bonus")

    expect(page.locator("#w-total")).to_have_text("USD 0.60", timeout=10_000)
    assert page.evaluate("() => window.__notReloaded") is True
    screenshot(page, "money-work-earnings")

    page.get_by_role("link", name="Your statement").click()
    expect(page).to_have_url(re.compile(r"/work/statement/$"))
    expect(page.locator("#st-balance")).to_have_text("USD 0.60")
    entries = page.locator("#statement-table tbody tr")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("Bonus")
    expect(entries.nth(0)).to_contain_text("Clear answers")
    expect(entries.nth(1)).to_contain_text("Reward")
    expect(entries.nth(1)).to_contain_text("USD 0.10")
    screenshot(page, "money-statement")

    # Staff makes a payout batch from the operations console and downloads its CSV.
    console = new_page()
    sign_in(console, "sasha", factories.PASSWORD)
    console.goto("/console/")
    console.get_by_role("link", name="Payouts").click()
    expect(console.locator("#p-owed")).to_have_text("USD 0.60")
    console.get_by_label("Minimum balance (USD)").fill("0.50")
    console.get_by_label("Note (optional)").fill("First week")
    console.get_by_role("button", name="Make payout batch").click()
    expect(console.get_by_text("1 worker, USD 0.60.")).to_be_visible()
    expect(console.locator("#batches-table tbody tr")).to_have_count(1)
    screenshot(console, "money-payouts")
    with console.expect_download() as info:
        console.locator("#batches-table").get_by_role("link", name="CSV").click()
    data = open(info.value.path(), "rb").read()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["worker", "email", "amount", "currency", "batch"]
    assert rows[1][0] == "milo" and rows[1][2:4] == ["0.60", "USD"]

    # The worker's statement now shows the payout as paid, and nothing owed.
    page.reload()
    expect(page.locator("#st-balance")).to_have_text("USD 0.00")
    expect(page.locator("#st-paid")).to_have_text("USD 0.60")
    expect(page.locator("#statement-table tbody tr").nth(0)).to_contain_text("Paid")
    screenshot(page, "money-statement-paid")
    # Being paid does not undo having earned.
    page.get_by_role("link", name="Back to work").click()
    expect(page.locator("#w-total")).to_have_text("USD 0.60")
