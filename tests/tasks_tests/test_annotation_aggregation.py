"""Merged spans and boxes (docs/ANNOTATION.md, "Merging"): what a requester gets from a crowd of annotators,
spammers included, and the same results through the database, gold checks and exports."""

import csv
import io
import json
import random

import numpy as np
import pytest

from quorum.redis import get_redis
from tasks import exports, quality
from tasks.aggregation.adaptive import needs_more_answers
from tasks.aggregation.annotation import aggregate
from tasks.aggregation.boxes import merge_boxes
from tasks.aggregation.service import estimates_key, items_results_refresh, job_results_refresh
from tasks.aggregation.spans import merge_spans
from tasks.models import Assignment, Item, JobWorker
from tasks.questions import QUESTION_TYPES
from tasks.questions.boxes import box_scores, match_boxes
from tasks.questions.spans import span_f1
from tests import factories
from tests.tasks_tests.test_aggregation_service import answer


def span(start, end, label="PER"):
    return {"start": start, "end": end, "label": label}


def box(x, y, w, h, label="car"):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


def bare(merged: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("confidence", "workers")} for m in merged]


# --- merging one item ---------------------------------------------------------------------------------------------


def test_spans_are_the_characters_most_workers_marked_with_the_same_label():
    merged = merge_spans(
        [
            (1, [span(0, 3), span(10, 16, "LOC")]),
            (2, [span(0, 3), span(10, 14, "LOC")]),
            (3, [span(0, 5), span(20, 24, "LOC")]),  # a longer PER, a LOC nobody else saw
        ]
    )
    assert merged.value == [
        {"start": 0, "end": 3, "label": "PER", "confidence": 0.8, "workers": 3},
        {"start": 10, "end": 14, "label": "LOC", "confidence": 0.6, "workers": 2},
    ]
    # The least certain stretch: two of three for 10-14 (or the lone 20-24 and 3-5), 3/5 either way.
    assert merged.confidence == 0.6


def test_two_entities_side_by_side_stay_two_spans_when_most_workers_split_them():
    split = [span(0, 3), span(4, 12)]
    assert bare(merge_spans([(1, split), (2, split), (3, [span(0, 12)])]).value) == split
    assert bare(merge_spans([(1, split), (2, [span(0, 12)]), (3, [span(0, 12)])]).value) == [span(0, 12)]
    adjacent = [span(0, 3), span(3, 8)]
    assert bare(merge_spans([(1, adjacent), (2, adjacent), (3, [span(0, 8)])]).value) == adjacent


def test_weights_decide_the_vote_and_a_worker_nobody_weighed_counts_one():
    answers = [(1, [span(0, 3)]), (2, [span(0, 3)]), (3, [])]
    assert bare(merge_spans(answers).value) == [span(0, 3)]
    assert merge_spans(answers, {1: 0.2, 2: 0.2, 3: 2.6}).value == []
    assert bare(merge_spans(answers, {3: 0.5}).value) == [span(0, 3)]


def test_boxes_are_clustered_by_label_and_overlap_and_averaged():
    merged = merge_boxes(
        [
            (1, [box(0.1, 0.1, 0.2, 0.2), box(0.6, 0.6, 0.2, 0.2, "person")]),
            (2, [box(0.12, 0.1, 0.2, 0.2), box(0.6, 0.6, 0.2, 0.2)]),  # a car where 1 saw a person
            (3, [box(0.11, 0.1, 0.2, 0.2), box(0.0, 0.8, 0.1, 0.1)]),
        ]
    )
    assert merged.value == [{"x": 0.11, "y": 0.1, "w": 0.2, "h": 0.2, "label": "car", "confidence": 0.8, "workers": 3}]
    assert merged.confidence == 0.6  # each lone box is a 1 in 3 (smoothed 2/5) that it is not there


def test_one_worker_adds_one_box_to_a_cluster():
    # Two overlapping boxes of one worker never make one object count twice.
    merged = merge_boxes([(1, [box(0.1, 0.1, 0.2, 0.2), box(0.11, 0.1, 0.2, 0.2)]), (2, []), (3, [])])
    assert merged.value == []


@pytest.mark.parametrize("merge", [merge_spans, merge_boxes])
def test_nobody_marking_anything_is_an_answer_as_sure_as_its_workers(merge):
    assert merge([(1, []), (2, []), (3, [])]).confidence == 0.8  # (3 + 1) / (3 + 2)
    assert merge([(1, []), (2, [])]).value == []


def test_merges_do_not_depend_on_the_order_of_answers():
    rng = random.Random(7)
    spans_answers = [(w, [span(rng.randrange(0, 5), rng.randrange(6, 12))]) for w in range(1, 8)]
    boxes_answers = [
        (
            w,
            [
                box(round(0.1 + rng.random() * 0.05, 3), 0.1, 0.3, 0.3),
                box(0.5, 0.5, 0.2, round(rng.random() * 0.3 + 0.1, 3)),
            ],
        )
        for w in range(1, 8)
    ]
    weights = {w: rng.random() + 0.5 for w in range(1, 8)}
    for merge, answers in ((merge_spans, spans_answers), (merge_boxes, boxes_answers)):
        expected = merge(answers, weights)
        for _ in range(5):
            shuffled = rng.sample(answers, len(answers))
            shuffled = [(w, rng.sample(value, len(value))) for w, value in shuffled]
            assert merge(shuffled, weights) == expected


# --- a simulated crowd with spammers --------------------------------------------------------------------------------


def crowd_of_span_markers(seed: int, items: int = 150, workers: int = 10, spammers: int = 2, per_item: int = 5):
    """Texts of words with 0-3 entities; good workers miss, misplace the end or mislabel now and then, spammers
    mark random words."""
    rng = np.random.default_rng(seed)
    skill = {w: rng.uniform(0.85, 0.95) for w in range(workers)}
    truth, by_item = {}, {}
    for item in range(items):
        starts = np.cumsum(rng.integers(3, 10, size=45))
        entities = []
        for k in sorted(rng.choice(38, size=rng.integers(0, 4), replace=False).tolist()):
            if not entities or entities[-1][1] <= k:
                entities.append((k, k + int(rng.integers(1, 3)), ["PER", "LOC"][rng.integers(2)]))
        truth[item] = [span(int(starts[a]), int(starts[b]) - 1, label) for a, b, label in entities]
        answers = []
        for w in rng.choice(workers, size=per_item, replace=False).tolist():
            if w < spammers:
                words = sorted(rng.choice(38, size=rng.integers(0, 4), replace=False).tolist())
                marked = [span(int(starts[k]), int(starts[k + 1]) - 1, ["PER", "LOC"][rng.integers(2)]) for k in words]
            else:
                marked = []
                for a, b, label in entities:
                    if rng.random() > skill[w]:
                        continue
                    if rng.random() > skill[w]:
                        b = b + 1 if b - a == 1 or rng.random() < 0.5 else b - 1
                    if rng.random() > 0.5 + skill[w] / 2:
                        label = "LOC" if label == "PER" else "PER"
                    if not marked or marked[-1]["end"] < starts[a]:
                        marked.append(span(int(starts[a]), int(starts[b]) - 1, label))
            answers.append((1000 - 7 * w, marked))  # ids in another order than the workers' skill
        by_item[item] = answers
    return truth, by_item


def crowd_of_box_drawers(seed: int, items: int = 150, workers: int = 10, spammers: int = 2, per_item: int = 5):
    """Images with 0-4 objects; good workers miss one in ten and draw each edge off by a few % of the box's size,
    spammers draw random boxes."""
    rng = np.random.default_rng(seed)
    noise = {w: rng.uniform(0.01, 0.02) / 0.15 for w in range(workers)}

    def random_box():
        w, h = rng.uniform(0.05, 0.3, 2).tolist()
        return box(float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h)), w, h, ["car", "person"][rng.integers(2)])

    truth, by_item = {}, {}
    for item in range(items):
        truth[item] = [random_box() for _ in range(rng.integers(0, 5))]
        answers = []
        for w in rng.choice(workers, size=per_item, replace=False).tolist():
            if w < spammers:
                drawn = [random_box() for _ in range(rng.integers(0, 4))]
            else:
                drawn = []
                for b in truth[item]:
                    if rng.random() < 0.1:
                        continue
                    sx, sy = noise[w] * b["w"], noise[w] * b["h"]
                    x1, x2 = np.clip([b["x"] + rng.normal(0, sx), b["x"] + b["w"] + rng.normal(0, sx)], 0, 1).tolist()
                    y1, y2 = np.clip([b["y"] + rng.normal(0, sy), b["y"] + b["h"] + rng.normal(0, sy)], 0, 1).tolist()
                    if x2 - x1 > 0.01 and y2 - y1 > 0.01:
                        drawn.append(box(x1, y1, x2 - x1, y2 - y1, b["label"]))
            answers.append((1000 - 7 * w, drawn))
        by_item[item] = answers
    return truth, by_item


def mean_iou(given, known):
    """Boxes matched one to one by label, best first; each unmatched box (either side) counts 0."""
    if not given and not known:
        return 1.0
    return sum(v for _, _, v in match_boxes(given, known, threshold=0.0)) / max(len(given), len(known))


def box_f1(given, known):
    return box_scores(given, known)[2]


@pytest.mark.parametrize(
    "crowd, merge, score, measure",
    [
        (crowd_of_span_markers, merge_spans, span_f1, span_f1),
        (crowd_of_box_drawers, merge_boxes, box_f1, mean_iou),
    ],
    ids=["spans", "boxes"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_merges_beat_the_best_worker_and_the_majority_with_a_fifth_of_spammers(
    crowd, merge, score, measure, seed
):
    truth, by_item = crowd(seed)
    weighted = aggregate(by_item, merge, score)
    majority = aggregate(by_item, merge, score, weighted=False)
    weighted_mean = np.mean([measure(weighted.items[i].value, truth[i]) for i in truth])
    majority_mean = np.mean([measure(majority.items[i].value, truth[i]) for i in truth])
    per_worker: dict[int, list[float]] = {}
    for item, answers in by_item.items():
        for worker, value in answers:
            per_worker.setdefault(worker, []).append(measure(value, truth[item]))
    best_worker = max(np.mean(scores) for scores in per_worker.values())
    assert weighted_mean >= best_worker and weighted_mean >= majority_mean, (weighted_mean, best_worker, majority_mean)
    # The spammers (ids 1000 and 993) weigh least, and weights average 1.
    assert sorted(weighted.weights, key=weighted.weights.get)[:2] == [993, 1000] or sorted(
        weighted.weights, key=weighted.weights.get
    )[:2] == [1000, 993]
    assert np.mean(list(weighted.weights.values())) == pytest.approx(1.0)
    assert set(majority.weights.values()) == {1.0}


def test_gold_teaches_the_weights():
    """Two workers who always disagree: without gold neither can be told right; gold says who is."""
    by_item = {item: [(1, [span(0, 4)]), (2, [span(5, 9)]), (3, [])] for item in range(6)}
    gold = {0: [span(0, 4)], 1: [span(0, 4)]}
    taught = aggregate(by_item, merge_spans, span_f1, gold)
    assert taught.weights[1] > taught.weights[2]
    assert taught.quality[1] > taught.quality[2]


# --- adaptive redundancy ------------------------------------------------------------------------------------------------


def test_a_split_item_asks_for_more_answers_and_an_agreed_one_does_not():
    target = 0.8  # docs/ANNOTATION.md: the target to set for annotation jobs
    split = merge_spans([(1, [span(0, 4)]), (2, [span(0, 6)])])
    assert split.confidence == 0.5
    assert needs_more_answers([split.confidence], 2, 2, 5, target)
    two_agree = merge_spans([(1, [span(0, 4)]), (2, [span(0, 4)])])
    assert two_agree.confidence == 0.75
    assert needs_more_answers([two_agree.confidence], 2, 2, 5, target)
    three_agree = merge_spans([(1, [span(0, 4)]), (2, [span(0, 4)]), (3, [span(0, 4)])])
    assert three_agree.confidence == 0.8
    assert not needs_more_answers([three_agree.confidence], 3, 2, 5, target)


# --- through the database ----------------------------------------------------------------------------------------------

SPANS = [
    {
        "name": "entities",
        "type": "spans",
        "prompt": "Mark people and places",
        "column": "text",
        "labels": ["PER", "LOC"],
    }
]
TEXT = "Ada Lovelace met Charles Babbage in London"
ADA, CHARLES, LONDON = span(0, 12), span(17, 32), span(36, 42, "LOC")


def spans_job(rows: list[dict]):
    job = factories.make_form_job(SPANS)
    upload = factories.ingest_now(job, factories.csv_bytes(rows, ["id", "text", "gold"]))
    assert upload.status == "done", upload.error
    return job, list(Item.objects.filter(job=job).order_by("position"))


@pytest.mark.django_db
def test_a_spans_job_gets_merged_spans_and_its_exports_carry_them():
    job, (known, first, second) = spans_job(
        [
            {"id": "g", "text": TEXT, "gold": json.dumps([ADA, CHARLES, LONDON])},
            {"id": "a", "text": TEXT, "gold": ""},
            {"id": "b", "text": TEXT, "gold": ""},
        ]
    )
    good = [factories.make_worker() for _ in range(2)]
    sloppy = factories.make_worker()
    for worker in good:
        answer(job, worker, known, [ADA, CHARLES, LONDON])
        answer(job, worker, first, [ADA, LONDON])
    answer(job, sloppy, known, [span(0, 3)])
    answer(job, sloppy, first, [span(0, 3), LONDON])

    summary = job_results_refresh(job.pk)

    assert summary.method == "weighted" and summary.answers == 6
    item = Item.objects.get(pk=first.pk)
    # Ada by the two careful workers (the sloppy one marked "Ada" only, which overlaps), London by all three.
    assert bare(item.result) == [ADA, LONDON] and [s["workers"] for s in item.result] == [3, 3]
    # London: everyone, (3 + 1) / (3 + 2); the rest of Ada: the careful two, who weigh nearly all of the 3.
    assert 0.75 < item.result[0]["confidence"] == item.confidence < item.result[1]["confidence"] == 0.8
    assert item.answer_count == 3 and item.result_method == "weighted"
    assert item.agreement == pytest.approx((1 + 1 + 0.5) / 3)
    assert Item.objects.get(pk=known.pk).result is None  # gold is never overwritten, it teaches
    # The sloppy worker failed gold and disagrees: weighed less than each careful one.
    weights = json.loads(get_redis().get(estimates_key(job.pk, "entities")))["weights"]
    assert weights[str(sloppy.pk)] < min(weights[str(w.pk)] for w in good)
    assert summary.worker_accuracy[sloppy.pk] < summary.worker_accuracy[good[0].pk]

    # An item answered later is merged at once with the cached weights: the careful worker outweighs the sloppy one.
    answer(job, sloppy, second, [span(0, 3)])
    answer(job, good[0], second, [ADA])
    assert items_results_refresh(job.pk, [second.pk]) == 1
    alone = Item.objects.get(pk=second.pk)
    assert bare(alone.result) == [ADA] and alone.answer_count == 2

    rows = list(csv.DictReader(io.StringIO(b"".join(exports.export_csv(job)).decode())))
    by_id = dict(zip("gab", rows, strict=True))  # in item order
    assert json.loads(by_id["a"]["result"]) == Item.objects.get(pk=first.pk).result
    assert json.loads(by_id["g"]["result"]) == [ADA, CHARLES, LONDON] and by_id["g"]["source"] == "gold"
    records = {r["id"]: r for r in (json.loads(line) for line in b"".join(exports.export_jsonl(job)).splitlines())}
    assert records["a"]["result"] == Item.objects.get(pk=first.pk).result and records["a"]["result"][0]["workers"] == 3
    # A requester may feed an export back as gold: the cell reads back as the spans.
    assert QUESTION_TYPES["spans"].parse_gold(job.questions[0], by_id["a"]["result"]) == [ADA, LONDON]


@pytest.mark.django_db
def test_a_boxes_job_gets_merged_boxes():
    job = factories.make_form_job(
        [
            {
                "name": "objects",
                "type": "boxes",
                "prompt": "Box every car",
                "column": "photo",
                "labels": ["car", "person"],
            }
        ],
        display=[{"type": "image", "column": "photo"}],
        media_origins=["https://img.example.org"],
        aggregation_method="vote",
    )
    rows = [{"id": "p", "photo": "https://img.example.org/street.jpg", "gold": ""}]
    assert factories.ingest_now(job, factories.csv_bytes(rows)).status == "done"
    item = Item.objects.get(job=job)
    for x in (0.1, 0.12, 0.14):
        answer(job, factories.make_worker(), item, [box(x, 0.2, 0.3, 0.4), box(0.7, 0.7, 0.1, 0.1, "person")])
    answer(job, factories.make_worker(), item, [])

    job_results_refresh(job.pk)

    item.refresh_from_db()
    assert item.result == [
        {
            "x": pytest.approx(0.12),
            "y": 0.2,
            "w": 0.3,
            "h": 0.4,
            "label": "car",
            "confidence": 0.6667,
            "workers": 3,
        },
        {"x": 0.7, "y": 0.7, "w": 0.1, "h": 0.1, "label": "person", "confidence": 0.6667, "workers": 3},
    ]
    assert item.confidence == 0.6667 and item.answer_count == 4
    assert item.agreement == pytest.approx(3 / 4)


@pytest.mark.django_db
def test_a_spans_gold_check_passes_a_near_miss_and_fails_a_bad_answer():
    five = [span(0, 3), span(4, 12), span(17, 24), span(25, 32), LONDON]
    job, (known,) = spans_job([{"id": "g", "text": TEXT, "gold": json.dumps(five)}])
    near, bad = factories.make_worker(), factories.make_worker()
    assert span_f1(five[:4], five) == pytest.approx(8 / 9)  # one place missed: F1 0.89
    assert span_f1([five[0], span(4, 32)], five) == pytest.approx(2 / 7)
    answer(job, near, known, five[:4])
    answer(job, bad, known, [five[0], span(4, 32)])

    scored = quality.gold_checks_record(list(Assignment.objects.filter(job=job).values_list("pk", flat=True)))

    assert scored.scored == 2
    record = {r.worker_id: (r.gold_total, r.gold_correct) for r in JobWorker.objects.filter(job=job)}
    assert record == {near.pk: (1, 1), bad.pk: (1, 0)}
