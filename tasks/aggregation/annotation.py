"""What merging spans and merging boxes share (docs/ANNOTATION.md, "Merging"): the merged answer of one item,
the smoothed confidence, and worker weights learnt by a few rounds of agreement with the merged answers, blended
with gold.

A merge function takes one item's answers, ``[(worker id, answer value)]``, and optional worker weights, and
returns a ``Merged``; a score function says how well an answer matches a known one (0..1: span F1, box F1).
Pure: no database. ``per_question.Annotation`` runs it for a question, ``bench/annotation.py`` on simulated crowds.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A worker's quality before any evidence, and how many answers' worth that prior counts: one lucky answer does not
# make a worker an expert, and a worker seen on a few items is treated as roughly typical.
TYPICAL_QUALITY = 0.7
PRIOR_ANSWERS = 2.0
# A gold check counts as this many agreements with the merged answers: the known answer is sure, the merge is not.
GOLD_WEIGHT = 3.0
# Weight = quality's odds, clipped, so a spammer still counts a little and nobody outvotes a whole crowd alone.
WEIGHT_CLIP = (0.05, 20.0)
ROUNDS = 3


@dataclass
class Merged:
    value: list[dict]  # merged spans or boxes, each with its confidence and workers
    confidence: float  # the item's: its least certain part (for adaptive redundancy)


@dataclass
class Aggregated:
    items: dict[int, Merged]  # item id -> merged answer (every item with answers, gold ones too)
    quality: dict[int, float]  # worker id -> mean score against merged answers and gold, smoothed
    weights: dict[int, float]  # worker id -> weight in the merge (mean 1)


Answer = tuple[int, list[dict]]
Merge = Callable[[list[Answer], "dict[int, float] | None"], Merged]
Score = Callable[[list[dict], list[dict]], float]


def smoothed_share(support: float, total: float) -> float:
    """(w + 1) / (W + 2): the weighted share of the workers behind something, pulled toward 1/2 when few answered."""
    return (support + 1.0) / (total + 2.0)


def certainty(support: float, total: float) -> float:
    """How sure a yes/no vote is either way: max(p, 1 - p) of the smoothed share."""
    p = smoothed_share(support, total)
    return max(p, 1.0 - p)


def sorted_answers(answers: list[Answer], weights: dict[int, float] | None) -> tuple[list[Answer], np.ndarray]:
    """The answers by worker id, and each one's weight (1 without weights; a worker not weighed yet counts 1):
    a merge that reads them in this order gives the same result whatever order they came in."""
    ordered = sorted(answers, key=lambda a: a[0])
    weight = np.array([1.0 if weights is None else float(weights.get(w, 1.0)) for w, _ in ordered], dtype=np.float64)
    return ordered, weight


def _weights_from_quality(quality: dict[int, float]) -> dict[int, float]:
    workers = sorted(quality)
    q = np.clip(np.array([quality[w] for w in workers], dtype=np.float64), 1e-6, 1 - 1e-6)
    weight = np.clip(q / (1 - q), *WEIGHT_CLIP)
    weight /= weight.mean()
    return dict(zip(workers, weight.tolist(), strict=True))


def worker_quality(
    by_item: dict[int, list[Answer]], merged: dict[int, Merged], score: Score, gold: dict[int, list[dict]]
) -> dict[int, float]:
    """Each worker's mean score: against the merged answer of the items they answered, and against the known
    answer (counting ``GOLD_WEIGHT`` times) where there is one; smoothed toward a typical worker."""
    total: dict[int, float] = {}
    count: dict[int, float] = {}
    for item in sorted(by_item):
        known = gold.get(item)
        against, weight = (merged[item].value, 1.0) if known is None else (known, GOLD_WEIGHT)
        for worker, value in sorted(by_item[item], key=lambda a: a[0]):
            total[worker] = total.get(worker, 0.0) + weight * score(value, against)
            count[worker] = count.get(worker, 0.0) + weight
    return {
        worker: (total[worker] + PRIOR_ANSWERS * TYPICAL_QUALITY) / (count[worker] + PRIOR_ANSWERS)
        for worker in sorted(total)
    }


def aggregate(
    by_item: dict[int, list[Answer]],
    merge: Merge,
    score: Score,
    gold: dict[int, list[dict]] | None = None,
    weighted: bool = True,
    rounds: int = ROUNDS,
) -> Aggregated:
    """Merge every item's answers. ``weighted``: ``rounds`` times, merge with the current weights, score each
    worker against the merged answers (and gold), and weigh them by the odds of that quality (normalised to mean
    1); then merge with the final weights. Unweighted: every worker weighs 1 (majority)."""
    gold = gold or {}
    weights: dict[int, float] | None = None
    for _ in range(rounds if weighted else 0):
        merged = {item: merge(by_item[item], weights) for item in sorted(by_item)}
        weights = _weights_from_quality(worker_quality(by_item, merged, score, gold))
    merged = {item: merge(by_item[item], weights) for item in sorted(by_item)}
    quality = worker_quality(by_item, merged, score, gold)
    if weights is None:
        weights = dict.fromkeys(quality, 1.0)
    return Aggregated(merged, quality, weights)


def agreement(answers: list[Answer], merged: list[dict], score: Score) -> float:
    """The mean score of an item's answers against its merged answer."""
    return float(np.mean([score(value, merged) for _, value in answers])) if answers else float("nan")
