"""Categorical aggregation methods: majority vote, weighted vote, one-coin, crowd-wide and full Dawid-Skene, and
``auto``.

Every function here has the shape ``method(answers, gold=None) -> Aggregate`` and is registered in
``METHODS``. They are vectorised with numpy: an EM iteration is a handful of gathers and segment sums over the
answer arrays, so a million answers take well under a second. ``gold`` (known label codes per item, -1 where
unknown) clamps those items' posteriors, so known answers teach the methods how good each worker is.
"""

from collections.abc import Callable

import numpy as np

from .base import Aggregate, AnswerModel, Answers, CategoricalMethod, check_gold, finish
from .calibration import CONSENSUS_ERROR_PRIOR, held_out_fit, shrink, softmax_rows

# A method's fit: answers and known labels in, its AnswerModel out (``max_iterations=`` caps an EM fit).
AnswerFit = Callable[..., AnswerModel]

# EM stops when no posterior moves more than this between iterations, or after MAX_ITERATIONS.
TOLERANCE = 1e-4
MAX_ITERATIONS = 100
# Pseudo-answers per label with which each worker's confusion row is pulled toward the crowd's pooled row (hds).
POOLED_STRENGTH = 1.0
# The pooled confusion itself starts from "right TYPICAL_ACCURACY of the time", worth TYPICAL_WEIGHT answers.
TYPICAL_ACCURACY = 0.7
TYPICAL_WEIGHT = 2.0


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


def _log(posteriors: np.ndarray) -> np.ndarray:
    return np.log(np.clip(posteriors, 1e-300, 1.0))


def _log_odds(accuracy: float, k: int) -> float:
    """How much one answer of a worker right ``accuracy`` of the time moves its label's odds (one-coin)."""
    accuracy = min(max(accuracy, 1.0 / max(k, 2) + 1e-3), 1 - 1e-3)
    return float(np.log(accuracy * max(k - 1, 1) / (1 - accuracy)))


def _calibrated(
    name: str, fit: "AnswerFit", answers: Answers, gold: np.ndarray | None, temperature: float | None = None
) -> Aggregate:
    """The method's result with its calibrated confidence (see calibration.py): its scores tempered by the
    temperature fitted on held-out answers give the consensus confidence, shrunk by the crowd's consensus error."""
    gold = check_gold(answers, gold)
    model = fit(answers, gold)
    if temperature is None:
        temperature = held_out_fit(fit, answers, gold)[0]
    consensus = softmax_rows(temperature * model.scores)
    result = finish(
        name, answers, shrink(consensus, CONSENSUS_ERROR_PRIOR), gold, worker_accuracy=model.worker_accuracy
    )
    answered = result.labels >= 0
    result.consensus = np.where(answered, consensus[np.arange(answers.n_items), np.maximum(result.labels, 0)], np.nan)
    if gold is not None:
        result.consensus[gold >= 0] = 1.0
    result.temperature = temperature
    result.consensus_error = CONSENSUS_ERROR_PRIOR
    return result


def _fit_mv(answers: Answers, gold: np.ndarray | None, **_) -> AnswerModel:
    """Votes, scaled by what one answer is worth when every worker is as right as the crowd agrees with itself."""
    votes = answers.counts()
    agree = float(np.mean(answers.labels == np.argmax(votes, axis=1)[answers.items])) if len(answers) else 0.7
    accuracy = np.full(answers.n_workers, min(max(agree, 1e-3), 1 - 1e-3))
    return AnswerModel(votes * _log_odds(agree, answers.n_labels), accuracy=accuracy, log_posterior=False)


def mv(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Majority vote. Its confidence is a calibrated function of the item's votes (see ``_calibrated``)."""
    return _calibrated("mv", _fit_mv, answers, gold)


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


def _fit_wmv(answers: Answers, gold: np.ndarray | None, **_) -> AnswerModel:
    """Each answer weighs its worker's agreement with their peers (Wawa-style); known labels score their workers."""
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
    shares = _clamp(_vote_shares(answers, weights), gold)
    totals = np.bincount(answers.items, weights=weights, minlength=answers.n_items)[:, None]
    typical = float(np.mean(weights)) if len(answers) else 0.7
    scores = shares * totals * _log_odds(typical, answers.n_labels)
    # Held-out answers are predicted by each worker's agreement with the weighted result (peer agreement, the
    # weight, understates a good worker's accuracy).
    result = np.argmax(scores, axis=1)
    right = np.bincount(answers.workers, weights=answers.labels == result[answers.items], minlength=answers.n_workers)
    seen = np.bincount(answers.workers, minlength=answers.n_workers)
    return AnswerModel(scores, accuracy=(right + 1.0) / (seen + 2.0), worker_accuracy=accuracy, log_posterior=False)


def wmv(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Weighted majority vote: each answer weighs its worker's agreement with their peers (Wawa-style)."""
    return _calibrated("wmv", _fit_wmv, answers, gold)


def _fit_ods(
    answers: Answers,
    gold: np.ndarray | None,
    *,
    prior_correct: float = 4.0,
    prior_wrong: float = 1.0,
    max_iterations: int = MAX_ITERATIONS,
) -> AnswerModel:
    """One-coin Dawid-Skene by EM: each worker is right with probability a_w, and wrong uniformly otherwise.

    A Beta(prior_correct, prior_wrong) prior on a_w keeps workers with few answers near the crowd's typical
    accuracy instead of at 0 or 1.
    """
    k = answers.n_labels
    posteriors = _clamp(_vote_shares(answers), gold)
    by_item_label = answers.items * k + answers.labels
    n_w = np.bincount(answers.workers, minlength=answers.n_workers)
    accuracy = np.full(answers.n_workers, 0.7)
    for _ in range(max_iterations):
        hits = np.bincount(
            answers.workers, weights=posteriors[answers.items, answers.labels], minlength=answers.n_workers
        )
        accuracy = np.clip((hits + prior_correct - 1) / (n_w + prior_correct + prior_wrong - 2), 1e-3, 1 - 1e-3)
        class_prior = (posteriors.sum(axis=0) + 1.0) / (answers.n_items + k)
        wrong = np.log((1 - accuracy) / max(k - 1, 1))
        bonus = np.log(accuracy) - wrong
        log_p = np.bincount(by_item_label, weights=bonus[answers.workers], minlength=answers.n_items * k)
        log_p = log_p.reshape(answers.n_items, k) + np.log(class_prior)
        new = _clamp(softmax_rows(log_p), gold)
        delta = np.abs(new - posteriors).max() if new.size else 0.0
        posteriors = new
        if delta < TOLERANCE:
            break
    return AnswerModel(_log(posteriors), accuracy=accuracy, worker_accuracy=accuracy)


def ods(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """One-coin Dawid-Skene (see ``_fit_ods``)."""
    return _calibrated("ods", _fit_ods, answers, gold)


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
        new = _clamp(softmax_rows(log_p), gold)
        delta = np.abs(new - posteriors).max() if new.size else 0.0
        posteriors = new
        if delta < TOLERANCE:
            break
    return posteriors, confusion


def _accuracy_from_confusion(confusion: np.ndarray, posteriors: np.ndarray) -> np.ndarray:
    class_prior = posteriors.mean(axis=0) if posteriors.size else np.ones(confusion.shape[1]) / confusion.shape[1]
    return np.einsum("wkk,k->w", confusion, class_prior / class_prior.sum())


def _fit_confusions(
    answers: Answers, gold: np.ndarray | None, pooled_strength: float, max_iterations: int
) -> AnswerModel:
    """A confusion matrix per worker by EM from majority vote, light priors, pulled toward the crowd's pooled
    confusion by ``pooled_strength`` answers (see _dawid_skene)."""
    posteriors, confusion = _dawid_skene(
        answers,
        gold,
        _vote_shares(answers),
        pooled_strength=pooled_strength,
        diagonal_bonus=1.0,
        smoothing=0.01,
        max_iterations=max_iterations,
    )
    return AnswerModel(
        _log(posteriors), confusion=confusion, worker_accuracy=_accuracy_from_confusion(confusion, posteriors)
    )


def _fit_ds(answers: Answers, gold: np.ndarray | None, *, max_iterations: int = MAX_ITERATIONS) -> AnswerModel:
    """Full Dawid-Skene: each worker's own confusion matrix."""
    return _fit_confusions(answers, gold, 0.0, max_iterations)


def ds(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Full Dawid-Skene (see ``_fit_ds``)."""
    return _calibrated("ds", _fit_ds, answers, gold)


def _fit_hds(answers: Answers, gold: np.ndarray | None, *, max_iterations: int = MAX_ITERATIONS) -> AnswerModel:
    """Dawid-Skene with each worker's confusion shrunk toward the crowd's pooled confusion (see _dawid_skene)."""
    return _fit_confusions(answers, gold, POOLED_STRENGTH * answers.n_labels, max_iterations)


def hds(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Dawid-Skene with pooled priors (see ``_fit_hds``)."""
    return _calibrated("hds", _fit_hds, answers, gold)


def _fit_cds(answers: Answers, gold: np.ndarray | None, *, max_iterations: int = MAX_ITERATIONS) -> AnswerModel:
    """Dawid-Skene with one confusion matrix for the whole crowd: the crowd's leanings between labels, and nothing
    of any one worker. Where workers answer a handful of items each, a matrix per worker is mostly noise."""
    crowd = Answers(answers.items, np.zeros_like(answers.workers), answers.labels, answers.n_items, 1, answers.n_labels)
    posteriors, confusion = _dawid_skene(
        crowd,
        gold,
        _vote_shares(crowd),
        pooled_strength=0.0,
        diagonal_bonus=1.0,
        smoothing=0.01,
        max_iterations=max_iterations,
    )
    shared = np.broadcast_to(confusion, (answers.n_workers, answers.n_labels, answers.n_labels))
    accuracy = _accuracy_from_confusion(confusion, posteriors)
    return AnswerModel(_log(posteriors), confusion=shared, worker_accuracy=np.repeat(accuracy, answers.n_workers))


def cds(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """Dawid-Skene with one confusion matrix shared by the crowd (see ``_fit_cds``)."""
    return _calibrated("cds", _fit_cds, answers, gold)


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


# The candidates ``auto`` weighs by held-out evidence: Dawid-Skene with pooled priors, the most accurate on the
# crowds we measured; one-coin Dawid-Skene, one number per worker; and one confusion matrix for the whole crowd,
# which cannot over-fit any worker where workers answer a handful of items each.
AUTO_CANDIDATES = ("hds", "ods", "cds")


def auto(answers: Answers, gold: np.ndarray | None = None) -> Aggregate:
    """The default: of AUTO_CANDIDATES, the one that best predicts answers held out of its fit; weighted vote where
    that one invents a class.

    Each candidate is fitted without a fold of the answers and predicts that fold's answers (calibration.held_out_fit);
    the candidate with the highest held-out likelihood is the one whose model of this crowd is the truer. Like
    every DS it can still settle on a solution where a label the crowd rarely gives absorbs the contested items;
    ``wmv`` cannot, and stays within a fraction of a point of majority vote there.
    """
    gold = check_gold(answers, gold)
    fits = {name: held_out_fit(FITS[name], answers, gold) for name in AUTO_CANDIDATES}
    chosen = max(AUTO_CANDIDATES, key=lambda name: -np.inf if np.isnan(fits[name][1]) else fits[name][1])
    result = _calibrated(chosen, FITS[chosen], answers, gold, temperature=fits[chosen][0])
    if invented_labels(answers, result).size:
        chosen = "wmv"
        result = wmv(answers, gold)
    result.method = "auto"
    result.chosen = chosen
    result.evidence = {name: fit[1] for name, fit in fits.items()}
    return result


# Categorical methods a job may name in ``aggregation_method``; "auto" is the default.
METHODS: dict[str, CategoricalMethod] = {
    "auto": auto,
    "mv": mv,
    "wmv": wmv,
    "ods": ods,
    "cds": cds,
    "ds": ds,
    "hds": hds,
}
# Each named method's fit (what calibration and ``auto`` need).
FITS: dict[str, "AnswerFit"] = {
    "mv": _fit_mv,
    "wmv": _fit_wmv,
    "ods": _fit_ods,
    "cds": _fit_cds,
    "ds": _fit_ds,
    "hds": _fit_hds,
}
DEFAULT_METHOD = "auto"
