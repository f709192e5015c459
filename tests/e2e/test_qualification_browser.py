"""A new worker takes a job's qualification test from the board: fails, reads the feedback, passes, has the skill."""

import pytest
from playwright.sync_api import expect

from tests import factories
from workers import qualifications

from .conftest import screenshot, sign_in
from .test_job_board_browser import published

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_worker_fails_then_passes_the_test_and_has_the_qualification(new_page):
    job = published("French fruit", "Une pomme", required_skill="french", required_skill_level=2)
    qualifications.qualification_create(
        job.owner,
        {
            "name": "French fruit words",
            "skill": "french",
            "level": 2,
            "pass_mark": 1,
            "retry_hours": 0,
            "questions": [
                {"prompt": "Pomme means", "options": ["apple", "pear"], "answer": 0, "explanation": "Pomme: apple."},
                {"prompt": "Poire means", "options": ["apple", "pear"], "answer": 1, "explanation": "Poire: pear."},
            ],
        },
    )
    factories.make_worker("odile")

    page = new_page()
    sign_in(page, "odile", factories.PASSWORD)
    page.goto("/work/jobs/")
    row = page.locator(f'#job-board tr[data-job-id="{job.pk}"]')
    expect(row).to_contain_text("you have none")
    row.get_by_role("link", name="Take the test for french").click()

    test = page.locator("#qualification-test")
    test.get_by_role("group", name="1. Pomme means").get_by_label("apple").check()
    test.get_by_role("group", name="2. Poire means").get_by_label("apple").check()
    screenshot(page, "qualification-test")
    test.get_by_role("button", name="Submit answers").click()
    result = page.locator("#attempt-result")
    expect(result).to_contain_text("Not passed: 50% right")
    expect(result.locator("li.wrong")).to_contain_text("Poire: pear.")
    screenshot(page, "qualification-failed")

    test.get_by_role("group", name="1. Pomme means").get_by_label("apple").check()
    test.get_by_role("group", name="2. Poire means").get_by_label("pear").check()
    test.get_by_role("button", name="Submit answers").click()
    expect(page.locator("#attempt-result")).to_contain_text("Passed: 100% right")
    expect(page.locator("#test-status")).to_contain_text("You passed this test")
    screenshot(page, "qualification-passed")

    page.goto("/work/jobs/")
    row = page.locator(f'#job-board tr[data-job-id="{job.pk}"]')
    expect(row).to_contain_text("you have it")
    expect(row.get_by_role("link", name="Work on French fruit")).to_be_visible()
    screenshot(page, "job-board-qualified")
