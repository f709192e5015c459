"""Pairwise rankings: the fits, drawn pairs from upload to the last round, and the ranking API and export."""

import csv
import io
import uuid

import numpy as np
import pytest
from rest_framework.test import APIClient
from scipy.stats import spearmanr

from tasks import results, services
from tasks.aggregation.ranking import bradley_terry, choose_pairs, initial_pairs, noisy_bradley_terry
from tasks.forms import check_questions, complete_display
from tasks.models import Item, Job
from tests import factories
from tests.scheduling import Client, run


def simulated(n=40, pairs=240, workers=10, spammers=2, seed=1):
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1.5, n)
    left = rng.integers(0, n, pairs)
    right = (left + rng.integers(1, n, pairs)) % n
    who = rng.integers(0, workers, pairs)
    p = 1 / (1 + np.exp(truth[right] - truth[left]))
    follows = rng.random(pairs) < p
    outcome = np.where(who < spammers, rng.random(pairs) < 0.5, follows).astype(float)
    return truth, left, right, outcome, who


def test_bradley_terry_ranks_by_the_answers_and_keeps_an_unbeaten_candidate_finite():
    truth, left, right, outcome, _ = simulated(spammers=0)
    fit = bradley_terry(len(truth), left, right, outcome)
    assert spearmanr(fit.scores, truth)[0] > 0.8
    assert abs(fit.scores.mean()) < 1e-9 and (fit.std_errors > 0).all()
    unbeaten = bradley_terry(3, [0, 0, 1], [1, 2, 2], [1.0, 1.0, 1.0])
    assert np.isfinite(unbeaten.scores).all() and list(np.argsort(-unbeaten.scores)) == [0, 1, 2]
    tied = bradley_terry(2, [0, 1], [1, 0], [0.5, 0.5])
    assert abs(tied.scores[0] - tied.scores[1]) < 1e-9


def test_noisy_bradley_terry_finds_the_spammers_and_ranks_better_for_it():
    truth, left, right, outcome, who = simulated(seed=3)
    fit = noisy_bradley_terry(len(truth), left, right, outcome, who)
    assert max(fit.reliability[w] for w in (0, 1)) < min(fit.reliability[w] for w in range(2, 10))
    plain = bradley_terry(len(truth), left, right, outcome)
    assert spearmanr(fit.scores, truth)[0] >= spearmanr(plain.scores, truth)[0] - 0.01


def test_the_first_pairs_are_a_cycle_and_the_next_spread_over_the_group():
    rng = np.random.default_rng(0)
    pairs = initial_pairs(9, rng)
    seen = np.bincount(np.array(pairs).ravel(), minlength=9)
    assert len(pairs) == 9 and (seen == 2).all()
    assert initial_pairs(2, rng) in ([(0, 1)], [(1, 0)]) and initial_pairs(1, rng) == []
    fit = bradley_terry(9, [a for a, _ in pairs], [b for _, b in pairs], [1.0] * 9)
    counts = np.zeros((9, 9))
    for a, b in pairs:
        counts[a, b] += 1
    chosen = choose_pairs(fit, counts, 4)
    assert len(chosen) == 4 and all(a != b for a, b in chosen)
    assert len({c for pair in chosen for c in pair}) == 8  # one new pair per candidate while others are left
    assert len(set(choose_pairs(fit, counts, 30))) == 30


# --- drawn pairs ----------------------------------------------------------------------------------------------------
def drawn_job(**definition):
    return pairwise_job(pairs="drawn", **definition)


def pairwise_job(**definition):
    """A one-question pairwise job (checked as the API checks it), one pair a microtask, one answer each."""
    questions = check_questions([{"name": "better", "type": "pairwise", "prompt": "Which is better?", **definition}])
    return factories.make_job(
        questions=questions,
        display=complete_display([], questions),
        text_field="",
        question_type="pairwise",
        options=[],
        redundancy=1,
        items_per_microtask=1,
    )


def strength(name: str) -> int:
    return int(name[1:])


def answer_by_strength(worker):
    """The worker prefers the candidate with the larger number, for every pair it is given; returns how many."""
    answered = []

    async def body():
        c = await Client.open(worker)
        while True:
            msg = await c.recv_type("task.assigned", "task.none")
            if msg["type"] == "task.none":
                break
            data = msg["items"][0]["data"]
            side = "left" if strength(data["left"]) > strength(data["right"]) else "right"
            await c.submit(msg, side, uuid.uuid4().hex)
            answered.append(side)
        await c.close()

    run(body)
    return len(answered)


@pytest.mark.django_db(transaction=True)
def test_a_drawn_job_starts_with_a_cycle_draws_more_as_answers_come_and_is_done_at_its_budget():
    job = drawn_job(comparisons_per_candidate=4)
    rows = [{"candidate": f"c{i}", "note": "x"} for i in range(8)]
    assert factories.ingest_now(job, factories.csv_bytes(rows)).status == "done"
    items = list(Item.objects.filter(job=job).order_by("position"))
    assert len(items) == 8 and all(set(i.data) == {"group", "left", "right"} for i in items)
    sides = [c for i in items for c in (i.data["left"], i.data["right"])]
    assert sorted(set(sides)) == [f"c{i}" for i in range(8)] and all(sides.count(c) == 2 for c in set(sides))
    services.job_publish(job)
    worker = factories.make_worker()
    rounds = 0
    while True:
        answer_by_strength(worker)
        results.results_pending()
        job.refresh_from_db()
        if job.status == Job.Status.DONE:
            break
        rounds += 1
        assert rounds < 20, "the job never finished"
        assert job.item_count <= 16
    assert job.item_count == 16  # comparisons_per_candidate 4 x 8 candidates / 2
    assert rounds >= 2  # drawn a round at a time, as answers came in
    pairs = [(i.data["left"], i.data["right"]) for i in Item.objects.filter(job=job)]
    assert all(a != b for a, b in pairs)
    ranking = APIClient()
    ranking.force_authenticate(job.owner)
    body = ranking.get(f"/api/jobs/{job.pk}/ranking/?method=bt").json()
    order = [c["candidate"] for c in body["groups"][0]["candidates"]]
    assert spearmanr([strength(c) for c in order], range(8, 0, -1))[0] > 0.8


@pytest.mark.django_db
@pytest.mark.parametrize(
    "rows,line,field,words",
    [
        ([{"candidate": "a", "group": "g"}, {"candidate": "", "group": "g"}], 3, "candidate", "empty"),
        (
            [{"candidate": "a", "group": "g"}, {"candidate": "b", "group": "g"}, {"candidate": "a", "group": "g"}],
            4,
            "candidate",
            "also on line 2",
        ),
        (
            [{"candidate": "a", "group": "g"}, {"candidate": "b", "group": "g"}, {"candidate": "c", "group": "h"}],
            4,
            "group",
            "one candidate",
        ),
    ],
)
def test_a_file_of_candidates_that_cannot_be_ranked_is_refused_with_its_line(rows, line, field, words):
    job = drawn_job(group_column="group")
    upload = factories.ingest_now(job, factories.csv_bytes(rows))
    assert upload.status == "failed"
    assert (upload.error["line"], upload.error["field"]) == (line, field) and words in upload.error["message"]
    assert not Item.objects.filter(job=job).exists()


@pytest.mark.django_db
def test_groups_are_drawn_apart():
    job = drawn_job(group_column="topic")
    rows = [{"candidate": f"c{i}", "topic": t} for t in ("x", "y") for i in range(3)]
    assert factories.ingest_now(job, factories.csv_bytes(rows)).status == "done"
    for item in Item.objects.filter(job=job):
        topic = item.data["group"]
        assert {item.data["left"], item.data["right"]} <= {f"c{i}" for i in range(3)} and topic in ("x", "y")
    assert Item.objects.filter(job=job, data__group="x").count() == 3


# --- the ranking of given pairs, by API and export ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_ranking_api_and_export_rank_given_pairs_gold_included():
    job = pairwise_job(left="a", right="b", allow_equal=True)
    names = ["c4", "c3", "c2", "c1"]
    rows = [{"a": x, "b": y, "gold": ""} for n, x in enumerate(names) for y in names[n + 1 :]]
    rows.append({"a": "c1", "b": "c4", "gold": "right"})
    assert factories.ingest_now(job, factories.csv_bytes(rows)).status == "done"
    services.job_publish(job)
    worker = factories.make_worker()

    async def body():
        c = await Client.open(worker)
        answered, nones = 0, 0
        # Gold comes with a probability per pick (0.3 for a new worker): once the ordinary pairs are done, asking
        # again draws again, until the gold pair has come too.
        while answered < len(rows) and nones < 50:
            msg = await c.recv_type("task.assigned", "task.none")
            if msg["type"] == "task.none":
                nones += 1
                await c.send({"type": "task.request"})
                continue
            data = msg["items"][0]["data"]
            await c.submit(msg, "left" if strength(data["a"]) > strength(data["b"]) else "right", uuid.uuid4().hex)
            answered += 1
        await c.close()

    run(body)
    api = APIClient()
    api.force_authenticate(job.owner)
    for method in ("noisy_bt", "bt"):
        body = api.get(f"/api/jobs/{job.pk}/ranking/?method={method}").json()
        assert body["method"] == method and len(body["groups"]) == 1
        ranked = body["groups"][0]["candidates"]
        assert [c["candidate"] for c in ranked] == names and [c["rank"] for c in ranked] == [1, 2, 3, 4]
        top, bottom = ranked[0], ranked[-1]
        assert top["score"] > 0 > bottom["score"] and top["std_error"] > 0
        # c4 won its three pairs, the gold pair against c1 by its known side, and by the worker's answer to it
        assert (top["wins"], top["losses"], top["ties"], top["comparisons"]) == (5, 0, 0, 5)
    export = api.get(f"/api/jobs/{job.pk}/export/?format=ranking&method=bt")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [r["candidate"] for r in table] == names and table[0]["group"] == "" and table[0]["rank"] == "1"
    assert api.get(f"/api/jobs/{job.pk}/ranking/?method=elo").status_code == 400
    other = APIClient()
    other.force_authenticate(factories.make_requester())
    assert other.get(f"/api/jobs/{job.pk}/ranking/").status_code == 404
    fruit = factories.make_job(owner=job.owner)
    refused = api.get(f"/api/jobs/{fruit.pk}/ranking/")
    assert refused.status_code == 400 and "pairwise" in refused.json()["detail"]
    assert api.get(f"/api/jobs/{fruit.pk}/export/?format=ranking").status_code == 400


def test_the_ranking_csv_for_a_spreadsheet_runs_no_formula():
    from tasks.rankings import CandidateRank, GroupRanking, rankings_csv_rows

    groups = [GroupRanking("=group", [CandidateRank(1, '=HYPERLINK("x")', 0.0, 1.0, 1, 0, 0, 1)])]
    plain, guarded = list(rankings_csv_rows(groups))[1], list(rankings_csv_rows(groups, spreadsheet=True))[1]
    assert plain[0] == "=group" and plain[2] == '=HYPERLINK("x")'
    assert guarded[0] == "'=group" and guarded[2] == '\'=HYPERLINK("x")'
