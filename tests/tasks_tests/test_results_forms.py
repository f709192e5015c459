"""Adaptive redundancy for a form: an item needs more answers until every question that applies is sure enough."""

import pytest

from tasks import results, services
from tasks.models import Item, Microtask
from tests import factories
from tests.tasks_tests.test_results_pipeline import answer_all

pytestmark = pytest.mark.django_db(transaction=True)

FORM = [
    {"name": "quality", "type": "single_choice", "prompt": "Damaged?", "options": ["ok", "damaged"]},
    {"name": "sharp", "type": "rating", "prompt": "How sharp?", "scale": 5},
]


def form_job(**fields):
    job = factories.make_form_job(FORM, redundancy=2, max_answers=3, target_confidence=0.8, **fields)
    rows = [{"id": "p1", "text": "a part", "gold_quality": "", "gold_sharp": ""}]
    assert factories.ingest_now(job, factories.csv_bytes(rows)).status == "done"
    services.job_publish(job)
    return job


def test_a_form_whose_second_question_splits_gets_one_more_answer():
    job = form_job()
    w1, w2, w3 = (factories.make_worker() for _ in range(3))
    # Everyone agrees on the first question; the rating splits.
    answer_all([w1, w2], {w1.pk: {"quality": "ok", "sharp": 2}, w2.pk: {"quality": "ok", "sharp": 5}})
    results.results_pending()
    item, microtask = Item.objects.get(job=job), Microtask.objects.get(job=job)
    assert item.result["quality"] == "ok" and item.results["quality"]["agreement"] == 1.0
    assert item.results["sharp"]["agreement"] == 0.5
    assert item.confidence == pytest.approx(item.results["sharp"]["confidence"], abs=1e-4)
    assert item.confidence < 0.8 < item.results["quality"]["confidence"]
    assert microtask.status == "open" and microtask.answers_wanted == 3  # asked again for the split question

    answer_all([w3], {w3.pk: {"quality": "ok", "sharp": 5}})
    results.results_pending()
    item.refresh_from_db()
    microtask.refresh_from_db()
    assert item.result == {"quality": "ok", "sharp": 5} and item.answer_count == 3
    assert microtask.status == "done" and microtask.answers_wanted == 3  # the maximum


def test_a_form_sure_of_every_question_gets_no_more_answers():
    job = form_job()
    w1, w2 = factories.make_worker(), factories.make_worker()
    same = {"quality": "damaged", "sharp": 4}
    answer_all([w1, w2], {w1.pk: same, w2.pk: same})
    results.results_pending()
    microtask = Microtask.objects.get(job=job)
    item = Item.objects.get(job=job)
    assert item.result == same and item.confidence >= 0.8, item.results
    assert microtask.status == "done" and microtask.answers_wanted == 2
