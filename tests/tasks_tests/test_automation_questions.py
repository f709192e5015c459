"""What the machine does with each question of a job, said plainly: on the status, the summary and the job page."""

import pytest

from tasks.automation import selectors, service
from tasks.forms import check_display, check_questions
from tasks.models import AutomationStatus, Item

from .automation_data import answer_first, make_text_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_and_fast(settings):
    settings.QUORUM_AUTOMATION_SOLVER = "hashing"
    settings.QUORUM_AUTOMATION_MIN_LABELS = 40


def form_fields(questions: list[dict]) -> dict:
    display = check_display([{"type": "markdown", "column": "text", "label": "Review"}])
    return {"questions": check_questions(questions), "display": display, "text_field": ""}


FRUIT = {"name": "fruit", "type": "single_choice", "prompt": "Which fruit?", "options": ["apple", "banana", "cherry"]}


def test_a_form_is_left_to_people_naming_each_question_and_why():
    questions = [
        FRUIT,
        {"name": "ripe", "type": "rating", "prompt": "How ripe?", "scale": 5},
        {"name": "note", "type": "free_text", "prompt": "Why?", "show_if": {"question": "fruit", "equals": "apple"}},
    ]
    job, _ = make_text_job(count=30, **form_fields(questions))
    summary = service.automation_run(job.pk)
    job.refresh_from_db()
    assert summary.status == job.automation_status == AutomationStatus.UNSUPPORTED
    reason = job.automation_reason
    assert reason.startswith("people answer every item of this job")
    assert "question 'fruit': the model answers a job that asks one question; this form asks 3" in reason
    assert "question 'ripe': the model answers single choice questions over text only" in reason
    assert "people answer this rating scale question" in reason
    assert "question 'note'" in reason
    lines = selectors.automation_summary(job)["questions"]
    assert [(q["name"], q["handled"]) for q in lines] == [("fruit", False), ("ripe", False), ("note", False)]
    assert "over text only" in lines[2]["reason"]  # free text: its type is the first thing it lacks
    assert not Item.objects.filter(job=job).exclude(result=None).exists()


def test_a_one_question_form_is_answered_from_its_first_text_block():
    job, truth = make_text_job(count=240, automation_audit_rate=0.0, **form_fields([FRUIT]))
    assert selectors.automation_summary(job)["questions"] == [
        {"name": "fruit", "handled": True, "reason": "the model answers it from the text column 'text'"}
    ]
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    summary = service.automation_run(job.pk, seed=2)
    assert summary.status == AutomationStatus.RUNNING, summary.reason
    machine = Item.objects.filter(job=job, result_source=Item.Source.MACHINE)
    assert machine.count() > 100
    assert all(truth[pk] == result for pk, result in machine.values_list("pk", "result"))


def test_a_shorthand_job_without_text_says_which_question_it_leaves():
    job, _ = make_text_job(count=10, text_field="")
    assert service.automation_run(job.pk).status == AutomationStatus.UNSUPPORTED
    job.refresh_from_db()
    assert "question 'answer': the items have no text column" in job.automation_reason


def test_the_job_page_shows_what_the_machine_does_with_each_question():
    from django.test import Client

    questions = [FRUIT, {"name": "ripe", "type": "rating", "prompt": "How ripe?", "scale": 5}]
    job, _ = make_text_job(count=5, **form_fields(questions))
    service.automation_run(job.pk)
    job.refresh_from_db()
    client = Client()
    client.force_login(job.owner)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="automation-questions"' in page
    assert "<strong>ripe</strong>: people answer it · the model answers single choice questions" in page
    assert job.get_automation_status_display() in page and "people answer every item of this job" in page
