"""The database-facing result refresh, against real PostgreSQL and Redis."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks.aggregation.calibration import CONSENSUS_ERROR_PRIOR
from tasks.aggregation.service import items_results_refresh, job_results_refresh
from tasks.models import Answer, Assignment, Item, Microtask
from tests import factories

pytestmark = pytest.mark.django_db


def job_with_items(count: int, gold_every: int = 0, **fields):
    job = factories.make_job(**fields)
    if fields.get("question_type") in ("number", "free_text"):
        rows = [{"id": f"i{i}", "text": f"item {i}"} for i in range(count)]
    else:
        rows = factories.fruit_rows(count, gold_every=gold_every)
    upload = factories.ingest_now(job, factories.csv_bytes(rows))
    assert upload.status == "done", upload.error
    return job, list(Item.objects.filter(job=job).order_by("position"))


def answer(job, worker, item, value, counts=True):
    microtask = Microtask.objects.get(job=job, index=item.microtask_index)
    now = timezone.now()
    assignment, _ = Assignment.objects.get_or_create(
        microtask=microtask,
        worker=worker,
        defaults={
            "job": job,
            "status": "submitted",
            "leased_at": now,
            "expires_at": now + timedelta(minutes=5),
            "submitted_at": now,
        },
    )
    return Answer.objects.create(assignment=assignment, item=item, job=job, worker=worker, value=value, counts=counts)


def test_job_refresh_writes_every_answered_item_and_skips_gold():
    job, items = job_with_items(4, gold_every=3)  # items 0 and 3 are gold
    workers = [factories.make_worker() for _ in range(3)]
    for w in workers:
        answer(job, w, items[0], "apple")  # gold item: teaches, is not overwritten
        answer(job, w, items[1], "banana")
    answer(job, workers[0], items[2], "cherry")
    answer(job, workers[1], items[2], "cherry")
    answer(job, workers[2], items[2], "apple")

    summary = job_results_refresh(job.pk)

    assert summary.items_updated == 2 and summary.answers == 9 and summary.method == "auto"
    one, two = Item.objects.get(pk=items[1].pk), Item.objects.get(pk=items[2].pk)
    assert one.result == "banana" and one.result_source == "human" and one.result_method == "auto"
    assert one.answer_count == 3 and one.agreement == pytest.approx(1.0) and one.confidence > 0.9
    assert one.result_updated_at is not None
    assert two.result == "cherry" and two.agreement == pytest.approx(2 / 3) and 0.5 < two.confidence < 1
    gold = Item.objects.get(pk=items[0].pk)
    assert gold.result is None and gold.result_source == ""

    # Nothing new: the next periodic refresh leaves the stored results alone instead of rewriting them.
    again = job_results_refresh(job.pk)
    assert again.items_updated == 0
    assert Item.objects.get(pk=items[1].pk).result_updated_at == one.result_updated_at
    assert Item.objects.get(pk=items[3].pk).result is None  # no answers yet
    assert set(summary.worker_accuracy) == {w.pk for w in workers}


def test_answers_that_no_longer_count_are_left_out():
    job, items = job_with_items(1)
    good, blocked = factories.make_worker(), factories.make_worker()
    answer(job, good, items[0], "cherry")
    answer(job, blocked, items[0], "apple", counts=False)
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=items[0].pk)
    assert item.result == "cherry" and item.answer_count == 1


def test_an_item_whose_answers_all_stop_counting_loses_its_result():
    job, items = job_with_items(2)
    good, bad = factories.make_worker(), factories.make_worker()
    only = answer(job, bad, items[0], "cherry")
    answer(job, good, items[1], "apple")
    job_results_refresh(job.pk)
    assert Item.objects.get(pk=items[0].pk).result == "cherry"
    Answer.objects.filter(pk=only.pk).update(counts=False)  # as blocking the worker does
    job_results_refresh(job.pk)
    cleared, kept = Item.objects.get(pk=items[0].pk), Item.objects.get(pk=items[1].pk)
    assert cleared.result is None and cleared.confidence is None and cleared.answer_count == 0
    assert cleared.result_source == ""
    assert kept.result == "apple" and kept.result_source == "human"
    Answer.objects.filter(job=job).update(counts=False)  # the last counting answer of the job goes too
    job_results_refresh(job.pk)
    assert Item.objects.get(pk=items[1].pk).result is None


def test_a_tie_gets_the_same_result_from_both_passes_and_no_label_is_favoured():
    job, items = job_with_items(12, redundancy=2)
    first, second = factories.make_worker(), factories.make_worker()
    for item in items:
        answer(job, first, item, "banana")
        answer(job, second, item, "cherry")
    job_results_refresh(job.pk)
    whole = dict(Item.objects.filter(job=job).values_list("id", "result"))
    items_results_refresh(job.pk, [item.pk for item in items[:5]])
    items_results_refresh(job.pk, [item.pk for item in items[5:]])
    assert dict(Item.objects.filter(job=job).values_list("id", "result")) == whole
    assert set(whole.values()) == {"banana", "cherry"}
    job_results_refresh(job.pk)
    assert dict(Item.objects.filter(job=job).values_list("id", "result")) == whole


def test_the_job_method_is_used():
    job, items = job_with_items(2, aggregation_method="mv")
    for w in [factories.make_worker() for _ in range(2)]:
        answer(job, w, items[0], "banana")
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=items[0].pk)
    # As sure as a crowd can be without gold: unanimous, short of the consensus error (calibration.py).
    assert item.result_method == "mv" and item.confidence == pytest.approx(1 - CONSENSUS_ERROR_PRIOR, abs=1e-3)


def test_numbers_take_a_robust_mean():
    job, items = job_with_items(1, question_type="number", options=[])
    for value in (10, 11, 1000):
        answer(job, factories.make_worker(), items[0], value)
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=items[0].pk)
    assert item.result == pytest.approx(11) and item.answer_count == 3


def test_free_text_votes_over_normalised_answers():
    job, items = job_with_items(1, question_type="free_text", options=[])
    for value in ("Paris", " paris.", "Lyon"):
        answer(job, factories.make_worker(), items[0], value)
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=items[0].pk)
    assert item.result in ("Paris", "paris.") and item.agreement == pytest.approx(2 / 3)


def test_multiple_choice_treats_the_chosen_set_as_one_answer():
    job, items = job_with_items(1, question_type="multiple_choice")
    answer(job, factories.make_worker(), items[0], ["cherry", "apple"])
    answer(job, factories.make_worker(), items[0], ["apple", "cherry"])
    answer(job, factories.make_worker(), items[0], ["banana"])
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=items[0].pk)
    assert item.result == ["apple", "cherry"] and item.agreement == pytest.approx(2 / 3)


def test_items_refresh_writes_only_the_given_items_with_cached_worker_estimates():
    job, items = job_with_items(3)
    workers = [factories.make_worker() for _ in range(3)]
    for w in workers:
        answer(job, w, items[0], "apple")
    job_results_refresh(job.pk)
    for w in workers[:2]:
        answer(job, w, items[1], "banana")
        answer(job, w, items[2], "banana")
    answer(job, workers[2], items[1], "cherry")

    assert items_results_refresh(job.pk, [items[1].pk]) == 1

    one = Item.objects.get(pk=items[1].pk)
    assert one.result == "banana" and one.answer_count == 3 and 0.5 < one.confidence < 1
    assert Item.objects.get(pk=items[2].pk).result is None


def test_gold_items_set_how_sure_a_result_can_be_and_where_redundancy_stops():
    from tasks.aggregation.calibration import reachable_target
    from tasks.aggregation.service import stop_confidence

    job, items = job_with_items(40, gold_every=2, aggregation_method="mv")
    gold_items = [i for i in items if i.gold is not None]
    others = [i for i in items if i.gold is None]
    # Before any pass: the prior consensus error.
    assert stop_confidence(job) == pytest.approx(reachable_target(job.target_confidence, CONSENSUS_ERROR_PRIOR, 3))
    workers = [factories.make_worker() for _ in range(3)]
    for n, item in enumerate(gold_items):
        # Three workers agree on every gold item, and are wrong on every fourth one.
        value = item.gold if n % 4 else ("apple" if item.gold != "apple" else "banana")
        for w in workers:
            answer(job, w, item, value)
    for item in others:
        for w in workers:
            answer(job, w, item, "banana")
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=others[0].pk)
    # Unanimous answers, but gold shows this crowd's unanimity wrong about a quarter of the time.
    assert 0.6 < item.confidence < 0.9
    assert stop_confidence(job) < reachable_target(job.target_confidence, CONSENSUS_ERROR_PRIOR, 3)


def test_a_worker_s_answer_count_over_every_job_is_kept_on_their_profile():
    from tasks.results import job_worker_records_refresh

    first, first_items = job_with_items(3)
    second, second_items = job_with_items(2)
    worker = factories.make_worker()
    for item in first_items:
        answer(first, worker, item, "apple")
    answer(second, worker, second_items[0], "banana")
    job_worker_records_refresh(first.pk)
    job_worker_records_refresh(second.pk)
    worker.worker_profile.refresh_from_db()
    assert worker.worker_profile.answers_count == 4
