"""The job page's reliability picture: stated confidence against observed accuracy on gold items."""

import pytest
from rest_framework.test import APIClient

from tasks.aggregation.reliability import MINIMUM_GOLD, gold_reliability, gold_reliability_compute
from tasks.aggregation.service import job_results_refresh
from tasks.models import Item
from tests import factories
from tests.tasks_tests.test_aggregation_service import answer

pytestmark = pytest.mark.django_db

FRUITS = ["apple", "banana", "cherry"]


def gold_job(gold_items: int, wrong: int, owner=None):
    """``gold_items`` gold items answered by three workers, unanimously right except the last ``wrong`` ones
    (unanimously wrong), one gold item nobody answered and one ordinary answered item."""
    job = factories.make_job(owner=owner)
    rows = [{"id": f"g{i}", "text": f"gold {i}", "gold": FRUITS[i % 3]} for i in range(gold_items + 1)]
    rows.append({"id": "plain", "text": "no gold", "gold": ""})
    upload = factories.ingest_now(job, factories.csv_bytes(rows))
    assert upload.status == "done", upload.error
    items = list(Item.objects.filter(job=job).order_by("position"))
    workers = [factories.make_worker() for _ in range(3)]
    for n, item in enumerate(items[:gold_items]):
        value = FRUITS[n % 3] if n < gold_items - wrong else FRUITS[(n + 1) % 3]
        for worker in workers:
            answer(job, worker, item, value)
    for worker in workers:
        answer(job, worker, items[-1], "apple")
    return job


def test_bins_count_every_answered_gold_item_and_how_many_were_right():
    job = gold_job(30, wrong=6)
    picture = gold_reliability_compute(job)

    (question,) = picture["questions"]
    assert question["gold_items"] == 30 and question["enough_gold"]  # the unanswered gold item is not counted
    bins = question["bins"]
    assert sum(b["count"] for b in bins) == 30
    assert sum(b["count"] * b["accuracy"] for b in bins) == pytest.approx(24)
    for b in bins:
        assert b["low"] <= b["mean_confidence"] <= b["high"]
        assert b["text"].startswith(f"Among results stated at {b['low']:.1f}-{b['high']:.1f}, ")
    assert 0 <= question["ece"] <= 1
    # Gold items still get no stored crowd result.
    job_results_refresh(job.pk)
    assert not Item.objects.filter(job=job, gold__isnull=False, result__isnull=False).exists()


def test_few_gold_items_are_not_enough_yet():
    job = gold_job(5, wrong=0)
    (question,) = gold_reliability_compute(job)["questions"]
    assert question["gold_items"] == 5 and not question["enough_gold"]
    assert question["bins"][-1]["accuracy"] == 1.0


def test_the_picture_is_cached_for_a_minute():
    job = gold_job(MINIMUM_GOLD, wrong=0)
    first = gold_reliability(job)
    # A new wrong answer moves nothing until the cached picture expires.
    answer(job, factories.make_worker(), Item.objects.get(job=job, external_id="g0"), "cherry")
    assert gold_reliability(job) == first


def test_job_page_and_endpoint_show_it_to_the_owner_only():
    owner = factories.make_requester()
    job = gold_job(30, wrong=6, owner=owner)
    client = APIClient()
    client.force_login(owner)

    body = client.get(f"/api/jobs/{job.pk}/reliability/").json()
    (question,) = body["questions"]
    assert question["gold_items"] == 30 and body["minimum_gold"] == MINIMUM_GOLD
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Reliability on gold items" in page
    assert question["bins"][-1]["text"] in page
    assert question["calibration"] in page

    stranger = APIClient()
    stranger.force_login(factories.make_requester())
    assert stranger.get(f"/api/jobs/{job.pk}/reliability/").status_code == 404
    assert stranger.get(f"/jobs/{job.pk}/").status_code == 404


def test_job_page_says_when_gold_is_too_few():
    owner = factories.make_requester()
    job = gold_job(3, wrong=0, owner=owner)
    client = APIClient()
    client.force_login(owner)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f"Not enough gold yet: 3 of {MINIMUM_GOLD} answered gold items." in page


@pytest.mark.django_db
def test_a_large_job_s_page_leaves_the_picture_to_a_celery_job(monkeypatch):
    from tasks import background
    from tasks.aggregation import reliability

    job = factories.make_job()
    job.item_count = reliability.COMPUTE_NOW_ITEMS + 1
    queued = []
    monkeypatch.setattr(background.refresh_gold_reliability, "delay", queued.append)
    assert reliability.gold_reliability(job, wait=False) is None and queued == [job.pk]
    background.refresh_gold_reliability(job.pk)  # what the Celery job does
    assert reliability.gold_reliability(job, wait=False)["questions"][0]["gold_items"] == 0


def test_the_picture_says_how_confidence_is_calibrated_and_gold_lowers_a_crowd_s_ceiling():
    job = gold_job(30, wrong=6)
    (before,) = gold_reliability_compute(job)["questions"]
    assert before["calibration"] == "Confidence is calibrated at the next results pass."
    job_results_refresh(job.pk)
    (question,) = gold_reliability_compute(job)["questions"]
    assert "chose" in question["calibration"] and "gold items show the crowd wrong on" in question["calibration"]
    # A fifth of the gold items were unanimously wrong: the plain item's unanimous result is far from certain,
    # and the gold items, judged without their own gold, are stated about as right as they were.
    plain = Item.objects.get(job=job, external_id="plain")
    assert 0.7 < plain.confidence < 0.9
    assert abs(sum(b["count"] * b["mean_confidence"] for b in question["bins"]) / 30 - 24 / 30) < 0.1
