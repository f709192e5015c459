"""Categorical aggregation methods: majority vote, weighted vote, one-coin and full Dawid-Skene, and ``auto``.

Every function here has the shape ``method(answers, gold=None) -> Aggregate`` and is registered in
``METHODS``. They are vectorised with numpy: an EM iteration is a handful of gathers and segment sums over the
answer arrays, so a million answers take well under a second. ``gold`` (known label codes per item, -1 where
unknown) clamps those items' posteriors, so known answers teach the methods how good each worker is.
"""

import numpy as np

from .base import Aggregate, Answers, CategoricalMethod, check_gold, finish

# EM stops when no posterior moves more than this between iterations, or after MAX_ITERATIONS.
TOLERANCE = 1e-4
MAX_ITERATIONS = 100
# Pseudo-answers per label with which each worker's confusion row is pulled toward the crowd's pooled row (hds).
POOLED_STRENGTH = 1.0
# The pooled confusion itself starts from "right TYPICAL_ACCURACY of the time", worth TYPICAL_WEIGHT answers.
TYPICAL_ACCURACY = 0.7
TYPICAL_WEIGHT = 2.0


def _softmax_rows(log_p: np.ndarray) -> np.ndarray:
    log_p = log_p - log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    p /= p.sum(axis=1, keepdims=True)
    return p


def _clamp(posteriors: np.ndarray, gold: np.ndarray | None) -> np.ndarray:
    if gold is not None:
        known = gold >= 0
        posteriors[known] = 0.0
        posteriors[known, gold[known]] = 1.0
    return posteriors


def _vote_shares(answers: Answers, weights: np.ndarray | None = None) -> np.ndarray:
    k = answers.n_labels
    flat = np.bincount(answers.items * k + answers.labels, weights=weights, minlength=answers.n_items * k)
    votes = flat.reshape(answers.n_items, k).astype(np.float64)
    total = votes.sum(axis=1, keepdims=True)
    # Items without answers get a uniform row; ``finish`` gives them no label.
    return np.where(total > 0, votes / np.where(total > 0, total, 1.0), 1.0 / k)


class _Segments:
    """Sums of per-answer rows grouped by a key, via one sort and ``np.add.reduceat`` (faster than K bincounts)."""

    def __init__(self, keys: np.ndarray, n_keys: int):
        self.order = np.argsort(keys, kind="stable")
        sorted_keys = keys[self.order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if keys.size else np.zeros(0, int)
        self.starts = starts
        self.present = sorted_keys[starts] if keys.size else np.zeros(0, int)
        self.n_keys = n_keys

    def sum(self, rows_sorted: np.ndarray) -> np.ndarray:
        """``rows_sorted`` is per-answer rows already in ``order``; returns (n_keys, width) float64 sums."""
        if self.starts.size == self.n_keys:
            return np.add.reduceat(rows_sorted, self.starts, axis=0).astype(np.float64, copy=False)
        out = np.zeros((self.n_keys,) + rows_sorted.shape[1:], dtype=np.float64)
        if self.starts.size:
            out[self.present] = np.add.reduceat(rows_sorted, self.starts, axis=0)
        return out


def mv(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Majority vote. Confidence is the winning label's vote share (not a calibrated probability)."""
    gold = check_gold(answers, gold)
    return finish("mv", answers, _vote_shares(answers), gold)


def _peer_agreement(answers: Answers, weights: np.ndarray) -> np.ndarray:
    """Each worker's weighted share of agreeing peers, leaving their own answer out, shrunk toward 1/2.

    Leaving the worker out matters: measured against a result their own answer helped make, every worker looks
    better than they are, and on a tie the first-counted worker would win by agreeing with themselves.
    """
    k = answers.n_labels
    votes = np.bincount(answers.items * k + answers.labels, weights=weights, minlength=answers.n_items * k)
    total = np.bincount(answers.items, weights=weights, minlength=answers.n_items)
    peers = total[answers.items] - weights
    agreeing = votes[answers.items * k + answers.labels] - weights
    has_peers = peers > 1e-12
    share = np.where(has_peers, agreeing / np.where(has_peers, peers, 1.0), 0.0)
    hits = np.bincount(answers.workers, weights=share, minlength=answers.n_workers)
    seen = np.bincount(answers.workers, weights=has_peers, minlength=answers.n_workers)
    return (hits + 1.0) / (seen + 2.0)


def wmv(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Weighted majority vote: each answer weighs its worker's agreement with their peers (Wawa-style).

    Confidence is the winning label's weighted vote share. Known labels (``gold``) score their workers directly.
    """
    gold = check_gold(answers, gold)
    weights = np.ones(len(answers))
    accuracy = np.full(answers.n_workers, 0.5)
    for _ in range(3):
        accuracy = _peer_agreement(answers, weights)
        if gold is not None:
            on_gold = gold[answers.items] >= 0
            right = np.bincount(
                answers.workers[on_gold],
                weights=answers.labels[on_gold] == gold[answers.items[on_gold]],
                minlength=answers.n_workers,
            )
            seen = np.bincount(answers.workers[on_gold], minlength=answers.n_workers)
            accuracy = np.where(seen > 0, (right + 1.0) / (seen + 2.0), accuracy)
        weights = accuracy[answers.workers]
    posteriors = _clamp(_vote_shares(answers, weights), gold)
    return finish("wmv", answers, posteriors, gold, worker_accuracy=accuracy)


def ods(
    answers: Answers, gold: np.ndarray | None = None, *, prior_correct: float = 4.0, prior_wrong: float = 1.0
) -> Aggregate:
    """One-coin Dawid-Skene: each worker is right with probability a_w, and wrong uniformly over other labels.

    A Beta(prior_correct, prior_wrong) prior on a_w keeps workers with few answers near the crowd's typical
    accuracy instead of at 0 or 1.
    """
    gold = check_gold(answers, gold)
    k = answers.n_labels
    posteriors = _clamp(_vote_shares(answers), gold)
    by_item_label = answers.items * k + answers.labels
    n_w = np.bincount(answers.workers, minlength=answers.n_workers)
    accuracy = np.full(answers.n_workers, 0.7)
    for _ in range(MAX_ITERATIONS):
        hits = np.bincount(
            answers.workers, weights=posteriors[answers.items, answers.labels], minlength=answers.n_workers
        )
        accuracy = np.clip((hits + prior_correct - 1) / (n_w + prior_correct + prior_wrong - 2), 1e-3, 1 - 1e-3)
        class_prior = (posteriors.sum(axis=0) + 1.0) / (answers.n_items + k)
        wrong = np.log((1 - accuracy) / max(k - 1, 1))
        bonus = np.log(accuracy) - wrong
        log_p = np.bincount(by_item_label, weights=bonus[answers.workers], minlength=answers.n_items * k)
        log_p = log_p.reshape(answers.n_items, k) + np.log(class_prior)
        new = _clamp(_softmax_rows(log_p), gold)
        delta = np.abs(new - posteriors).max() if new.size else 0.0
        posteriors = new
        if delta < TOLERANCE:
            break
    return finish("ods", answers, posteriors, gold, worker_accuracy=accuracy)


def _dawid_skene(
    answers: Answers,
    gold: np.ndarray | None,
    init: np.ndarray,
    *,
    pooled_strength: float,
    diagonal_bonus: float,
    smoothing: float,
    max_iterations: int = MAX_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """EM for full confusion matrices; returns (posteriors, per-worker confusion, shape (W, K, K)).

    Each worker's confusion row for true class k has a Dirichlet prior centred on the crowd's pooled confusion
    row, worth ``pooled_strength`` answers, plus ``diagonal_bonus`` pseudo-answers on the correct label: a worker
    seen a few times is assumed typical of the crowd, and only a worker seen often gets a confusion matrix of
    their own. This is what keeps DS from collapsing on small or sparse crowds.
    """
    k = answers.n_labels
    n_workers = answers.n_workers
    posteriors = _clamp(init.copy(), gold)
    by_item = _Segments(answers.items, answers.n_items)
    by_worker_label = _Segments(answers.workers * k + answers.labels, n_workers * k)
    items_for_wl = answers.items[by_worker_label.order]
    wl_for_item = (answers.workers * k + answers.labels)[by_item.order]
    eye = np.eye(k)
    typical = eye * TYPICAL_ACCURACY + (1 - eye) * (1 - TYPICAL_ACCURACY) / max(k - 1, 1) if k > 1 else eye
    confusion = np.zeros((n_workers, k, k))
    for _ in range(max_iterations):
        # M-step: expected counts[w, l, true k] summed per (worker, given label).
        counts = by_worker_label.sum(posteriors[items_for_wl]).reshape(n_workers, k, k).transpose(0, 2, 1)
        # A class the crowd has (almost) never been credited with still gets a sensible pooled row: "workers
        # mostly give the right label", not "workers answer at random", or it would soak up contested items.
        pooled = counts.sum(axis=0) + TYPICAL_WEIGHT * typical
        pooled /= pooled.sum(axis=1, keepdims=True)
        rows = counts + pooled_strength * pooled[None] + diagonal_bonus * eye[None] + smoothing
        confusion = rows / rows.sum(axis=2, keepdims=True)
        class_prior = (posteriors.sum(axis=0) + 1.0) / (answers.n_items + k)
        # E-step: log P(true k) + sum over the item's answers of log confusion[w, k, l]. float32 halves the memory
        # traffic of the per-answer gather; an item's few log terms lose nothing that matters at that precision.
        log_given = np.log(confusion).transpose(0, 2, 1).reshape(n_workers * k, k).astype(np.float32)
        log_p = by_item.sum(log_given[wl_for_item]) + np.log(class_prior)
        new = _clamp(_softmax_rows(log_p), gold)
        delta = np.abs(new - posteriors).max() if new.size else 0.0
        posteriors = new
        if delta < TOLERANCE:
            break
    return posteriors, confusion


def _accuracy_from_confusion(confusion: np.ndarray, posteriors: np.ndarray) -> np.ndarray:
    class_prior = posteriors.mean(axis=0) if posteriors.size else np.ones(confusion.shape[1]) / confusion.shape[1]
    return np.einsum("wkk,k->w", confusion, class_prior / class_prior.sum())


def ds(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Full Dawid-Skene (a confusion matrix per worker), EM initialised from majority vote, light priors."""
    gold = check_gold(answers, gold)
    posteriors, confusion = _dawid_skene(
        answers, gold, _vote_shares(answers), pooled_strength=0.0, diagonal_bonus=1.0, smoothing=0.01
    )
    return finish("ds", answers, posteriors, gold, worker_accuracy=_accuracy_from_confusion(confusion, posteriors))


def hds(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Dawid-Skene with each worker's confusion shrunk toward the crowd's pooled confusion (see _dawid_skene)."""
    gold = check_gold(answers, gold)
    posteriors, confusion = _dawid_skene(
        answers,
        gold,
        _vote_shares(answers),
        pooled_strength=POOLED_STRENGTH * answers.n_labels,
        diagonal_bonus=1.0,
        smoothing=0.01,
    )
    return finish("hds", answers, posteriors, gold, worker_accuracy=_accuracy_from_confusion(confusion, posteriors))


# A label the model gives to a share of items more than this many times its share of the answers (and to more
# than INVENTED_MIN_EXCESS of all items) is a class DS made up: on fact_eval DS turns a label that 0.1 % of
# answers give into the result of 12 % of items, 5 points below majority vote. No other real crowd we measured
# exceeds 1.3 times.
INVENTED_RATIO = 3.0
INVENTED_MIN_EXCESS = 0.01


def invented_labels(answers: Answers, result: Aggregate) -> np.ndarray:
    """Label codes the result uses far more often than the workers do (see INVENTED_RATIO)."""
    answered = result.labels >= 0
    if not answered.any() or len(answers) == 0:
        return np.zeros(0, dtype=np.int64)
    given = np.bincount(answers.labels, minlength=answers.n_labels) / len(answers)
    chosen = np.bincount(result.labels[answered], minlength=answers.n_labels) / answered.sum()
    return np.flatnonzero((chosen > INVENTED_RATIO * given) & (chosen - given > INVENTED_MIN_EXCESS))


def auto(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """The default: Dawid-Skene with pooled priors (``hds``), or weighted vote where DS invents a class.

    ``hds`` is the most accurate method on the real crowds we measured, but like every DS it can settle on a
    solution where a label the crowd rarely gives absorbs the contested items; ``wmv`` cannot, and stays within
    a fraction of a point of majority vote there.
    """
    result = hds(answers, gold)
    if invented_labels(answers, result).size:
        result = wmv(answers, gold)
    result.method = "auto"
    return result


# Categorical methods a job may name in ``aggregation_method``; "auto" is the default.
METHODS: dict[str, CategoricalMethod] = {"auto": auto, "mv": mv, "wmv": wmv, "ods": ods, "ds": ds, "hds": hds}
DEFAULT_METHOD = "auto"
