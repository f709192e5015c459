"""Calibration of a result's stated confidence against gold: reliability bins and the expected calibration error.

A confidence is calibrated when, among results stated at about 0.9, about 90 % are right. Both the benchmark
(``bench/aggregation.py``) and the job page's reliability picture (``reliability.py``) read the same bins from here.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .base import NO_LABEL, Aggregate, AnswerModel, Answers


@dataclass
class ReliabilityBins:
    """Equal-width bins of stated confidence; bin b holds confidences in [b/n, (b+1)/n), the last one includes 1.0.

    ``counts`` is the number of results in each bin; ``confidence`` and ``accuracy`` are their means (NaN for an
    empty bin).
    """

    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability_bins(confidence, correct, bins: int = 10) -> ReliabilityBins:
    """Results binned by stated confidence. ``correct`` is 1/0 per result, or a fraction where the result is a tie
    broken at random (its expected correctness). Results with a NaN confidence (items nobody answered) are left out.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.shape != correct.shape:
        raise ValueError("confidence and correct must have the same shape")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    kept = ~np.isnan(confidence)
    confidence, correct = np.clip(confidence[kept], 0.0, 1.0), correct[kept]
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=bins) / counts
    return ReliabilityBins(counts, mean_confidence, accuracy)


def expected_calibration_error(confidence, correct, bins: int = 10) -> float:
    """Sum over bins of (share of results in the bin) x |mean stated confidence - accuracy|; NaN with no results.

    0 is perfectly calibrated; a method that states 0.98 on results right 80 % of the time scores about 0.18.
    """
    table = reliability_bins(confidence, correct, bins)
    total = table.counts.sum()
    if total == 0:
        return float("nan")
    filled = table.counts > 0
    gaps = np.abs(table.confidence[filled] - table.accuracy[filled])
    return float(np.sum(table.counts[filled] / total * gaps))


# --- Calibrating a method's confidence (issue: a result stated at 0.9 should be right about 90 % of the time) ---
#
# Two separate errors make an aggregation method over-confident, and they are fixed separately:
#
# 1. The method trusts each answer too much: it treats workers' errors as independent and its estimates of each
#    worker as exact. How much an answer should count is measured on the job's own data, with no gold: answers are
#    split into folds, the method is fitted without each fold, and its tempered posteriors softmax(t x scores)
#    predict the held-out answers through its own model of the workers. The temperature t with the best held-out
#    likelihood is kept (``held_out_fit``). The tempered posterior is the *consensus* confidence: how sure the
#    result is to be what this crowd would say given unlimited answers.
# 2. The crowd itself is wrong on some items however many answer (ambiguous items, systematic confusions):
#    on the public crowds we measured, 0.5-25 % of the results that the whole crowd agrees on differ from gold.
#    No statistic of the answers alone predicts that share (it is what gold is for), so without gold a prior
#    stands in for it (CONSENSUS_ERROR_PRIOR), and gold items, where a job has them, estimate it
#    (``consensus_error_from_gold``). The final confidence is the consensus confidence shrunk toward the other
#    labels by that share (``shrink``).
#
# Adaptive redundancy acts on the consensus part only (``reachable_target``): more answers cannot raise the rest.

# Share of consensus results that gold contradicts, used while a job has no gold. It is the value that minimises
# the mean ECE of ``auto`` over the 13 public crowds of bench/aggregation.py (one number for all of them; per
# crowd the best value ranges from 0.005 to 0.25, see docs/BENCHMARKS.md).
CONSENSUS_ERROR_PRIOR = 0.06
# Gold items the prior is worth when gold items estimate the share: 20 gold items weigh as much as the prior.
CONSENSUS_ERROR_PRIOR_ITEMS = 20.0
# Temperatures tried; 1 is the method's own posterior, below 1 each answer counts for less.
TEMPERATURES = np.array(
    [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 8.0]
)
HELD_OUT_FOLDS = 4
# Held-out fitting looks at a sample of items with about this many answers: the temperature is one number per
# crowd, and a large job must not pay folds x its size for it.
HELD_OUT_MAX_ANSWERS = 50_000
# EM iterations of each fold's fit: sparse folds converge slowly, and the temperature does not need the last digit.
HELD_OUT_MAX_ITERATIONS = 30


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    return p


def shrink(posteriors: np.ndarray, consensus_error: float) -> np.ndarray:
    """Each row moved toward the other labels by ``consensus_error``: p(1 - e) + (1 - p) e / (K - 1)."""
    k = posteriors.shape[1] if posteriors.ndim == 2 else 1
    if k < 2 or consensus_error <= 0:
        return posteriors
    return posteriors * (1 - consensus_error) + (1 - posteriors) * consensus_error / (k - 1)


def reachable_target(target: float, consensus_error: float = CONSENSUS_ERROR_PRIOR, n_labels: int = 2) -> float:
    """The confidence at which more answers stop paying: an item whose consensus confidence reaches ``target``
    has the calibrated confidence shrink(target); more answers can only raise it toward 1 - e."""
    if n_labels < 2:
        return target
    return float(target * (1 - consensus_error) + (1 - target) * consensus_error / (n_labels - 1))


def consensus_error_from_gold(consensus: np.ndarray, n_labels: int) -> float:
    """The share of consensus results gold contradicts, estimated from gold items.

    ``consensus`` is, per gold item, the consensus probability of its gold label from a run that did not know that
    item's gold. The estimate maximises the likelihood of the gold labels under shrink(consensus, e) with a Beta
    prior whose mode is CONSENSUS_ERROR_PRIOR, worth CONSENSUS_ERROR_PRIOR_ITEMS items.
    """
    consensus = np.asarray(consensus, dtype=np.float64)
    consensus = consensus[~np.isnan(consensus)]
    if n_labels < 2 or consensus.size == 0:
        return CONSENSUS_ERROR_PRIOR
    grid = np.linspace(0.0, 0.5, 201)[1:]
    right = consensus[None, :] * (1 - grid[:, None]) + (1 - consensus[None, :]) * grid[:, None] / (n_labels - 1)
    a = CONSENSUS_ERROR_PRIOR * CONSENSUS_ERROR_PRIOR_ITEMS
    b = (1 - CONSENSUS_ERROR_PRIOR) * CONSENSUS_ERROR_PRIOR_ITEMS
    log_post = np.log(np.clip(right, 1e-12, 1)).sum(axis=1) + a * np.log(grid) + b * np.log1p(-grid)
    return float(grid[np.argmax(log_post)])


def _held_out_sample(
    answers: Answers, gold: np.ndarray | None, rng: np.random.Generator
) -> tuple[Answers, np.ndarray | None]:
    """Every answer, or a random set of whole items with about HELD_OUT_MAX_ANSWERS answers, coded densely (the
    folds' fits then cost the sample's size, not the job's), with the gold of the items kept."""
    if len(answers) <= HELD_OUT_MAX_ANSWERS:
        return answers, gold
    order = rng.permutation(answers.n_items)
    per_item = answers.answer_count()[order]
    chosen = np.zeros(answers.n_items, dtype=bool)
    chosen[order[: int(np.searchsorted(np.cumsum(per_item), HELD_OUT_MAX_ANSWERS)) + 1]] = True
    keep = chosen[answers.items]
    items, item_codes = np.unique(answers.items[keep], return_inverse=True)
    workers, worker_codes = np.unique(answers.workers[keep], return_inverse=True)
    sample = Answers(item_codes, worker_codes, answers.labels[keep], items.size, workers.size, answers.n_labels)
    return sample, (None if gold is None else gold[items])


def held_out_fit(
    fit: Callable[..., AnswerModel], answers: Answers, gold: np.ndarray | None = None
) -> tuple[float, float]:
    """(temperature, held-out log-likelihood per answer) of a method on the job's own answers, no gold needed.

    The answers are split into HELD_OUT_FOLDS folds (seeded: the same answers give the same figures); for each fold
    the method is fitted on the others, and its tempered posteriors of each held-out answer's item predict that
    answer through the fitted model of its worker. Known items (``gold``) teach the fits but are not predicted:
    their posterior is certain whatever the temperature.
    """
    rng = np.random.default_rng(0)
    sample, gold = _held_out_sample(answers, gold, rng)
    if len(sample) < 2 * HELD_OUT_FOLDS:
        return 1.0, float("nan")
    fold = rng.integers(0, HELD_OUT_FOLDS, len(sample))
    unknown = np.ones(sample.n_items, dtype=bool) if gold is None else gold < 0
    totals = np.zeros(TEMPERATURES.size)
    allowed = TEMPERATURES <= 1.0
    predicted = 0
    for f in range(HELD_OUT_FOLDS):
        train = fold != f
        test = ~train & unknown[sample.items]
        if not test.any() or not train.any():
            continue
        model = fit(sample.subset(train), gold, max_iterations=HELD_OUT_MAX_ITERATIONS)
        if not model.log_posterior:
            allowed[:] = True
        seen = np.bincount(sample.workers[train], minlength=sample.n_workers) > 0
        items, workers, labels = sample.items[test], sample.workers[test], sample.labels[test]
        scores = model.scores[items]
        for n, temperature in enumerate(TEMPERATURES):
            p = model.answer_probability(softmax_rows(temperature * scores), workers, labels, seen)
            totals[n] += np.log(np.clip(p, 1e-12, 1.0)).sum()
        predicted += int(test.sum())
    if not predicted:
        return 1.0, float("nan")
    best = int(np.argmax(np.where(allowed, totals, -np.inf)))
    return float(TEMPERATURES[best]), float(totals[best] / predicted)


def unshrink(posteriors: np.ndarray, consensus_error: float) -> np.ndarray:
    """The consensus posteriors that ``shrink`` turned into ``posteriors`` (rows of known items stay one-hot)."""
    k = posteriors.shape[1] if posteriors.ndim == 2 else 1
    if k < 2 or consensus_error <= 0:
        return posteriors
    low = consensus_error / (k - 1)
    return np.clip((posteriors - low) / (1 - consensus_error - low), 0.0, 1.0)


def _with_consensus_error(result: Aggregate, rows: np.ndarray, consensus_error: float) -> None:
    """Re-state ``rows`` of ``result`` with another consensus error (their consensus stays as it is)."""
    consensus = unshrink(result.posteriors[rows], result.consensus_error or 0.0)
    result.posteriors[rows] = shrink(consensus, consensus_error)
    labels = np.maximum(result.labels[rows], 0)
    confidence = result.posteriors[rows, labels]
    result.confidence[rows] = np.where(result.labels[rows] >= 0, confidence, np.nan)


def aggregate_with_gold(method: Callable, answers: Answers, gold: np.ndarray, seed: int = 0) -> Aggregate:
    """Aggregate with known labels teaching the method about workers, gold items judged without their own gold, and
    the consensus error estimated from gold (``consensus_error_from_gold``).

    Gold items are split into two halves; each half's results come from a run that knows only the other half, so
    their accuracy and calibration are fair held-out figures. Each half's consensus error is estimated from the other
    half; every other item's from all gold items. Returns the run that knows all gold, for every item but the gold
    ones, whose results are their held-out ones.
    """
    known = np.flatnonzero(gold >= 0)
    if known.size == 0:
        return method(answers, None)
    result = method(answers, gold)
    folds = [fold for fold in np.array_split(np.random.default_rng(seed).permutation(known), 2) if fold.size]
    gold_consensus = np.full(answers.n_items, np.nan)
    for fold in folds:
        partial = gold.copy()
        partial[fold] = NO_LABEL
        held_out = method(answers, partial)
        result.labels[fold] = held_out.labels[fold]
        result.confidence[fold] = held_out.confidence[fold]
        result.posteriors[fold] = held_out.posteriors[fold]
        consensus = unshrink(held_out.posteriors[fold], held_out.consensus_error or 0.0)
        answered = held_out.labels[fold] >= 0
        gold_consensus[fold[answered]] = consensus[answered, gold[fold[answered]]]
        if result.consensus is not None and held_out.consensus is not None:
            result.consensus[fold] = held_out.consensus[fold]
        if np.isnan(result.temperature if result.temperature is not None else 0.0) or not (gold < 0).any():
            # Every item is gold: the run that knows them all fitted nothing; report a held-out run's fit.
            result.temperature, result.chosen, result.evidence = (
                held_out.temperature,
                held_out.chosen,
                held_out.evidence,
            )
    if result.consensus_error is None:
        return result
    others = np.ones(answers.n_items, dtype=bool)
    others[known] = False
    overall = consensus_error_from_gold(gold_consensus[known], answers.n_labels)
    _with_consensus_error(result, np.flatnonzero(others), overall)
    if len(folds) == 2:
        for fold, other in ((folds[0], folds[1]), (folds[1], folds[0])):
            _with_consensus_error(result, fold, consensus_error_from_gold(gold_consensus[other], answers.n_labels))
    else:
        _with_consensus_error(result, folds[0], CONSENSUS_ERROR_PRIOR)
    result.consensus_error = overall
    return result
