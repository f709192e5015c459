"""A requester in headless Chromium edits a job's instructions on its page and accepts one worker's pending answers
in bulk after the confirmation shows how many answers and how much money."""

import re

import pytest
from playwright.sync_api import expect

from tasks import services
from tasks.models import Assignment, Microtask
from tests import factories
from workers.models import LedgerEntry

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


submitted = factories.submitted_assignment


def test_requester_edits_instructions_and_accepts_one_workers_answers_in_bulk(new_page):
    owner = factories.make_requester("rhea")
    job = factories.make_job(owner=owner, name="Fruit check", redundancy=1, reward="0.25")
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(5)))
    services.job_publish(job)
    alice, bob = factories.make_worker("alice"), factories.make_worker("bob")
    microtasks = list(job.microtasks.order_by("index"))
    for microtask in microtasks[:3]:
        submitted(job, alice, microtask)
    submitted(job, bob, microtasks[3])

    page = new_page()
    sign_in(page, "rhea", factories.PASSWORD)
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("link", name="Edit").click()
    page.wait_for_url(re.compile(rf"/jobs/{job.pk}/edit/$"))
    # Workers have answered: the questions are shown, fixed, with the reason.
    expect(page.locator("#questions-fixed")).to_contain_text("the questions cannot change once workers have answered")
    expect(page.get_by_label("Items per microtask")).to_be_disabled()
    page.get_by_label("Instructions for workers").fill("Name the fruit. Bananas count even when green.")
    screenshot(page, "job-edit")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/jobs/{job.pk}/$"))
    expect(page.locator("#job-instructions")).to_have_text("Name the fruit. Bananas count even when green.")
    expect(page.locator("#job-form .question-prompt")).to_have_text(["Which fruit is it?"])
    expect(page.locator("#job-form .question-options")).to_contain_text("apple, banana, cherry")

    page.get_by_role("button", name="Accept all pending answers of alice").click()
    summary = page.locator("#review-summary")
    expect(summary).to_have_text("Accept 3 answers on 3 microtasks of alice: this pays USD 0.75 in rewards.")
    # The confirmation is a preview: nothing changed yet.
    assert not LedgerEntry.objects.exists()
    assert Assignment.objects.filter(job=job, review="pending").count() == 4
    screenshot(page, "bulk-review-confirm")
    page.get_by_role("button", name="Accept and pay USD 0.75").click()
    expect(page.locator("#review-result")).to_have_text("Accepted 3 answers on 3 microtasks of alice; USD 0.75 paid.")
    screenshot(page, "bulk-review-done")
    assert LedgerEntry.objects.filter(worker=alice).count() == 3
    assert Assignment.objects.get(job=job, worker=bob).review == "pending"
    # The requester's block says what it does: this job only.
    expect(page.get_by_role("button", name="Block bob on this job")).to_be_visible()
    expect(page.get_by_text("every job")).to_have_count(0)

    # The results page reviews what its filter shows: bob's one answer, on the item the search finds.
    text = microtasks[3].items.first().data["text"]
    page.goto(f"/jobs/{job.pk}/results/")
    page.get_by_label("Search").fill(text)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name="Reject all pending").click()
    expect(summary).to_have_text(
        "Reject 1 answer on 1 microtask on the items this filter shows: nothing is paid (USD 0.25 withheld)."
    )
    screenshot(page, "bulk-review-filter")
    page.get_by_role("button", name="Reject", exact=True).click()
    expect(page.locator("#review-result")).to_contain_text("Rejected 1 answer on 1 microtask")
    assert Microtask.objects.get(pk=microtasks[3].pk).status == "open"
