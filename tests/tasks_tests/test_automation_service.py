"""The automated path on the database: what the machine answers, what it leaves to people, and when it stops."""

import pytest

from tasks.automation import selectors, service
from tasks.models import AutomationAudit, AutomationStatus, Item, Job, Microtask

from .automation_data import answer_first, make_text_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_and_fast(settings):
    settings.QUORUM_AUTOMATION_SOLVER = "hashing"
    settings.QUORUM_AUTOMATION_MIN_LABELS = 40


def test_first_run_waits_for_a_random_human_sample():
    job, _ = make_text_job(count=90)
    summary = service.automation_run(job.pk, seed=1)
    job.refresh_from_db()
    assert summary.status == job.automation_status == AutomationStatus.WAITING
    assert "0 of 40 human results" in job.automation_reason
    ranks = list(Microtask.objects.filter(job=job).order_by("index").values_list("rank", flat=True))
    assert len(set(ranks)) == len(ranks)  # shuffled, not the file's order
    assert ranks != sorted(ranks)


def test_machine_answers_confident_items_and_ranks_the_rest():
    job, truth = make_text_job(count=240, gold_every=10, automation_audit_rate=0.0)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    summary = service.automation_run(job.pk, seed=2)
    job.refresh_from_db()
    assert summary.status == AutomationStatus.RUNNING, summary.reason
    machine = Item.objects.filter(job=job, result_source=Item.Source.MACHINE)
    assert machine.count() == job.automation_items_taken == summary.taken_items > 100
    assert all(truth[pk] == result for pk, result in machine.values_list("pk", "result"))
    assert all(0 < c <= 1 for c in machine.values_list("confidence", flat=True))
    assert set(machine.values_list("result_method", flat=True)) == {"automation:hashing"}
    # Their microtasks are closed, so the scheduler never leases them.
    indexes = machine.values_list("microtask_index", flat=True)
    assert set(Microtask.objects.filter(job=job, index__in=indexes).values_list("status", flat=True)) == {"done"}
    assert job.automation_answers_saved == summary.taken_items * job.redundancy
    # What is left open is ranked by the model's confidence, least confident first.
    open_ranks = Microtask.objects.filter(job=job, status="open", is_gold=False).values_list("rank", flat=True)
    assert all(0 <= r < 1 for r in open_ranks)


def test_gold_items_are_never_answered_by_the_machine():
    job, truth = make_text_job(count=240, gold_every=4)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    service.automation_run(job.pk, seed=2)
    gold = Item.objects.filter(job=job, gold__isnull=False)
    assert gold.count() == 60
    assert not gold.filter(result_source=Item.Source.MACHINE).exists()
    assert set(Microtask.objects.filter(job=job, is_gold=True).values_list("status", "rank")) == {("open", 0.0)}
    assert Item.objects.filter(job=job, result_source=Item.Source.MACHINE).exists()


def test_audit_sample_stays_open_for_people():
    job, truth = make_text_job(count=240, automation_audit_rate=0.2)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    summary = service.automation_run(job.pk, seed=2)
    audits = AutomationAudit.objects.filter(job=job)
    assert audits.count() == summary.audited_items > 0
    assert 0.08 < summary.audited_items / (summary.audited_items + summary.taken_items) < 0.35
    audited = Item.objects.filter(pk__in=audits.values("item_id"))
    assert not audited.exclude(result=None).exists()  # people answer them; the machine's answer waits
    indexes = audited.values_list("microtask_index", flat=True)
    assert set(Microtask.objects.filter(job=job, index__in=indexes).values_list("status", "rank")) == {("open", -1.0)}
    # People answer the audits (served first); the next run measures the machine against them.
    answer_first(job, truth, audits.count())
    service.automation_run(job.pk, seed=3)
    job.refresh_from_db()
    assert job.automation_audits_judged == audits.count()
    assert job.automation_audit_accuracy == 1.0


def test_automation_stops_when_audits_fall_below_target():
    job, truth = make_text_job(count=240, automation_audit_rate=0.2)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    service.automation_run(job.pk, seed=2)
    audits = list(AutomationAudit.objects.filter(job=job).select_related("item"))
    assert len(audits) >= 10
    # People disagree with the machine on most audited items.
    wrong = {a.item_id: ("cherry" if a.label != "cherry" else "apple", 1.0) for a in audits}
    service.human_results_write(job, wrong)
    taken_before = Item.objects.filter(job=job, result_source=Item.Source.MACHINE).count()
    summary = service.automation_run(job.pk, seed=3)
    job.refresh_from_db()
    assert summary.status == job.automation_status == AutomationStatus.STOPPED
    assert job.automation_audit_accuracy == 0.0
    assert "below the target of 95%" in job.automation_reason
    answer_first(job, truth, 30)
    service.automation_run(job.pk, seed=4)
    assert Item.objects.filter(job=job, result_source=Item.Source.MACHINE).count() == taken_before


def test_job_without_text_is_left_to_people():
    job, _ = make_text_job(count=30, text_field="")
    summary = service.automation_run(job.pk)
    job.refresh_from_db()
    assert job.automation_status == summary.status == AutomationStatus.UNSUPPORTED
    assert "no text column" in job.automation_reason
    assert not Item.objects.filter(job=job).exclude(result=None).exists()


def test_opted_out_job_is_untouched():
    job, truth = make_text_job(count=120, automation_enabled=False)
    answer_first(job, truth, 60)
    summary = service.automation_run(job.pk)
    assert summary.status == AutomationStatus.OFF
    assert not Item.objects.filter(job=job, result_source=Item.Source.MACHINE).exists()
    assert selectors.jobs_due() == []


def test_summary_reports_savings(requester_api):
    job, truth = make_text_job(count=240, automation_audit_rate=0.0, owner=requester_api.user, reward="0.05")
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    service.automation_run(job.pk, seed=2)
    body = requester_api.get(f"/api/jobs/{job.pk}/automation/").json()
    assert body["status"] == "running"
    assert body["items_taken"] > 100
    assert body["human_answers_saved"] == body["items_taken"] * job.redundancy
    assert float(body["reward_saved"]) == pytest.approx(0.05 * body["human_answers_saved"])
    assert body["target_accuracy"] == 0.95
    job_body = requester_api.get(f"/api/jobs/{job.pk}/").json()
    assert job_body["automation_enabled"] is True
    assert job_body["automation"]["items_taken"] == body["items_taken"]


def test_a_seed_draws_the_same_first_sample_whatever_order_rows_are_stored_in():
    job, _ = make_text_job(count=60)
    service.automation_run(job.pk, seed=7)
    drawn = dict(Microtask.objects.filter(job=job).values_list("index", "rank"))
    # Rewriting rows moves them in the table: PostgreSQL stores the new version elsewhere.
    for microtask in Microtask.objects.filter(job=job).order_by("-index"):
        microtask.save(update_fields=["rank"])
    Job.objects.filter(pk=job.pk).update(automation_status=AutomationStatus.OFF)
    service.automation_run(job.pk, seed=7)
    assert dict(Microtask.objects.filter(job=job).values_list("index", "rank")) == drawn


def open_ranks_against_confidence(job: Job, seed: int) -> float:
    """Spearman correlation, over the open ordinary microtasks, between their rank and the confidence of the
    run's models (trained as ``automation_run(seed=seed)`` trains them) on their item."""
    import numpy as np

    from tasks.automation.solvers import get_solver

    solver = get_solver()
    options = [str(o) for o in job.options]
    ids, labels, _ = service.labelled_items(job, options)
    vectors = service.embeddings_load(job, solver)
    folds = int(service.setting("FOLDS", 5))
    x = np.stack([vectors[pk] for pk in ids])
    _, models = service.cross_fit(solver, x, np.asarray(labels), len(options), folds, seed)
    # Open ordinary microtasks other than audits (rank -1), and their items.
    open_indexes = Microtask.objects.filter(job=job, status="open", is_gold=False, rank__gte=0).values("index")
    open_items = list(
        Item.objects.filter(
            job=job, result__isnull=True, gold__isnull=True, microtask_index__in=open_indexes
        ).values_list("pk", "microtask_index")
    )
    ranks = dict(Microtask.objects.filter(job=job).values_list("index", "rank"))
    confidence = service.ensemble_predict(models, np.stack([vectors[pk] for pk, _ in open_items])).max(axis=1)
    by_rank = np.argsort(np.argsort([ranks[index] for _, index in open_items]))
    by_confidence = np.argsort(np.argsort(confidence))
    return float(np.corrcoef(by_rank, by_confidence)[0, 1])


def test_while_the_machine_declines_people_answer_a_random_sample():
    # No threshold reaches 99 % on 40 results: the machine declines and learns from what people answer next.
    job, truth = make_text_job(count=240, automation_target_accuracy=0.99)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 40)
    summary = service.automation_run(job.pk, seed=2)
    job.refresh_from_db()
    assert summary.status == job.automation_status == AutomationStatus.DECLINED
    # Random order: the items the machine is surest of reach people too, so the next calibration sees them.
    assert abs(open_ranks_against_confidence(job, seed=2)) < 0.3


def test_retrain_follows_the_work_left(settings):
    settings.QUORUM_AUTOMATION_RETRAIN_MIN = 5
    settings.QUORUM_AUTOMATION_RETRAIN_SHARE = 0.1
    job, truth = make_text_job(count=240)
    # The machine has answered 150 items after a round on 40 human results: 50 items are left.
    answer_first(job, truth, 40)
    taken = list(Item.objects.filter(job=job, result__isnull=True).order_by("pk").values_list("pk", flat=True)[:150])
    Item.objects.filter(pk__in=taken).update(result="apple", result_source=Item.Source.MACHINE)
    Microtask.objects.filter(job=job, index__in=Item.objects.filter(pk__in=taken).values("microtask_index")).update(
        status=Microtask.Status.DONE
    )
    Job.objects.filter(pk=job.pk).update(
        automation_status=AutomationStatus.RUNNING, automation_rounds=1, automation_labelled=40
    )
    # A tenth of the 50 items left (not of the job's 240) makes the job due for the next model.
    answer_first(job, truth, 4)
    assert job.pk not in selectors.jobs_due()
    answer_first(job, truth, 1)
    assert job.pk in selectors.jobs_due()


def test_a_round_in_small_chunks_decides_as_one_in_a_single_chunk(monkeypatch):
    """A large job's features stream from the database a chunk at a time; the chunk size changes nothing."""

    def one_round(chunk: int) -> tuple:
        monkeypatch.setattr(service, "CHUNK", chunk)
        job, truth = make_text_job(count=240, gold_every=10, automation_audit_rate=0.1)
        service.automation_run(job.pk, seed=1)
        answer_first(job, truth, 60)
        summary = service.automation_run(job.pk, seed=2)
        items = Item.objects.filter(job=job)
        return (
            summary.threshold,
            list(
                items.filter(result_source=Item.Source.MACHINE).order_by("position").values_list("position", "result")
            ),
            list(AutomationAudit.objects.filter(job=job).order_by("item__position").values_list("item__position")),
            list(Microtask.objects.filter(job=job).order_by("index").values_list("index", "status", "rank")),
        )

    whole, chunked = one_round(10_000), one_round(7)
    assert whole[0] is not None and len(whole[1]) > 100 and whole[2]
    assert chunked == whole


def test_a_job_whose_last_microtasks_the_machine_takes_is_done():
    job, truth = make_text_job(count=120, automation_audit_rate=0.0)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    summary = service.automation_run(job.pk, seed=2)
    assert summary.taken_items > 0
    assert not Microtask.objects.filter(job=job, status="open", is_gold=False).exists()
    job.refresh_from_db()
    assert job.status == Job.Status.DONE


def test_a_paused_job_gets_no_machine_answers_and_a_run_cannot_be_asked_for(requester_api):
    from tasks import services

    job, truth = make_text_job(count=240, automation_audit_rate=0.0, owner=requester_api.user)
    service.automation_run(job.pk, seed=1)
    answer_first(job, truth, 60)
    services.job_pause(job)
    assert service.automation_run(job.pk, seed=2).taken_items == 0
    assert not Item.objects.filter(job=job, result_source=Item.Source.MACHINE).exists()
    refused = requester_api.post(f"/api/jobs/{job.pk}/automation/")
    assert refused.status_code == 409 and "paused" in refused.json()["detail"]


def test_fixing_an_unsupported_job_runs_the_machine_again(
    requester_api, monkeypatch, django_capture_on_commit_callbacks
):
    from tasks import views_api

    queued = []
    monkeypatch.setattr(views_api.automation_run_job, "delay", queued.append)
    job, _ = make_text_job(count=30, text_field="", owner=requester_api.user)
    service.automation_run(job.pk)
    job.refresh_from_db()
    assert job.automation_status == AutomationStatus.UNSUPPORTED
    with django_capture_on_commit_callbacks(execute=True):
        assert requester_api.patch(f"/api/jobs/{job.pk}/", {"text_field": "text"}, format="json").status_code == 200
    assert queued == [job.pk]
    assert service.automation_run(job.pk, seed=1).status == AutomationStatus.WAITING


def test_a_second_upload_while_waiting_joins_the_random_first_sample():
    from tests import factories

    job, _ = make_text_job(count=90)
    service.automation_run(job.pk, seed=1)
    first = set(Microtask.objects.filter(job=job).values_list("index", flat=True))
    more = [{"id": f"u{i}", "text": f"more text {i}", "label": "x", "gold": ""} for i in range(90)]
    assert factories.ingest_now(job, factories.csv_bytes(more)).status == "done"
    assert job.pk in selectors.jobs_due()  # its microtasks wait at rank 0, ahead of the sample
    service.automation_run(job.pk, seed=2)
    assert job.pk not in selectors.jobs_due()
    order = list(
        Microtask.objects.filter(job=job, status="open", is_gold=False)
        .order_by("rank", "index")
        .values_list("index", "rank")
    )
    assert all(1 <= rank < 2 for _, rank in order)
    served_first = [index for index, _ in order[:40]]
    assert set(served_first) & first and set(served_first) - first  # both uploads, mixed
