"""Choose the confidence threshold above which the model's answers reach the requester's target accuracy.

The rule, and the bound it rests on:

1. Cross-fitting gives every human-labelled item a prediction from a model that never saw it (k folds), so
   the whole labelled set calibrates, not a small held-out slice.
2. On those out-of-fold predictions a two-parameter logistic map (Platt scaling) turns the model's confidence
   into the probability that its answer matches the human result. The map is shrunk towards the identity
   (the model's own probabilities) so that a few dozen labels cannot make it extreme.
3. The accuracy expected on the items a threshold would answer is the mean mapped probability over those
   items: the candidates themselves, so the estimate weighs the confidences the job actually has left.
4. The bound: the map is refitted on ``resamples`` bootstrap resamples of the labelled items, and a threshold
   is accepted when the ``delta`` quantile of the expected accuracy over the resamples (a one-sided
   percentile-bootstrap lower confidence bound, level ``1 - delta``) is at least the target. Each resample
   also draws how many of the finitely many answers come out right, so the bound covers that luck too.
5. A floor under the bound: the human-labelled items at or above a threshold are a sample of what the
   machine would answer there, and an exact binomial (Clopper-Pearson) lower bound on their out-of-fold
   accuracy, at the same level, must also reach the target. With a hundred labels and a handful of errors the
   bootstrap of step 4 can be optimistic (a resample often draws fewer errors than the sample holds); the
   floor cannot be.
6. The loosest threshold that passes both is returned; when none does the result is None and the machine
   declines the job instead of answering below the target.

A held-out slice scored with a naive precision cut misses the target often (the validation slice is tens of
items); these bounds use every labelled item and every candidate. Clopper-Pearson bounds (exact binomial)
also serve the audit check in service.py.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

# Thresholds tried at most; and candidate scores handled at a time.
MAX_CUTS = 10_000
CHUNK = 20_000


def clopper_pearson_lower(successes, trials, delta: float):
    """One-sided lower bound on a binomial proportion, holding with probability at least ``1 - delta``.

    Element-wise for arrays of counts; a float for single counts. No success (or no trial) bounds it at 0.
    """
    successes, trials = np.asarray(successes), np.asarray(trials)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(delta, successes, trials - successes + 1)
    bound = np.where(successes > 0, np.nan_to_num(bound), 0.0)
    return float(bound) if bound.ndim == 0 else bound


def clopper_pearson_upper(successes: int, trials: int, delta: float) -> float:
    """One-sided upper bound on a binomial proportion, holding with probability at least ``1 - delta``."""
    if trials == 0 or successes == trials:
        return 1.0
    return float(beta.ppf(1 - delta, successes + 1, trials - successes))


@dataclass(frozen=True)
class Calibration:
    threshold: float | None  # None: no threshold reaches the target
    target: float
    delta: float
    labelled: int  # size of the calibration set
    answered: int  # candidates at or above the threshold
    expected_accuracy: float | None  # point estimate on them
    lower_bound: float | None  # its bootstrap lower confidence bound
    reason: str = ""

    @property
    def declined(self) -> bool:
        return self.threshold is None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # no overflow for large |x|


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_maps(z: np.ndarray, correct: np.ndarray, weights: np.ndarray, prior: float, iters: int = 25) -> np.ndarray:
    """Logistic maps ``P(correct) = sigmoid(a + b * z)``, one per row of ``weights``, by Newton's method.

    The penalty ``prior * ((a - 0)^2 + (b - 1)^2)`` pulls each map towards the identity on the logit scale.
    Returns an array of shape (rows, 2).
    """
    design = np.stack([np.ones_like(z), z], axis=1)  # (n, 2)
    anchor = np.array([0.0, 1.0])
    theta = np.tile(anchor, (weights.shape[0], 1))  # (B, 2)
    for _ in range(iters):
        p = _sigmoid(theta @ design.T)  # (B, n)
        grad = (weights * (p - correct)) @ design + 2 * prior * (theta - anchor)  # (B, 2)
        w = weights * p * (1 - p)
        hess = np.einsum("bn,ni,nj->bij", w, design, design) + 2 * prior * np.eye(2)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        theta = theta - step
        if np.abs(step).max() < 1e-8:
            break
    return theta


def mapped_cumulative(maps: np.ndarray, z: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per map (row) and rank k in ``ranks``: the sum of the mapped probabilities ``p`` of the first k scores
    (logits ``z``, most confident first) and the sum of ``p * (1 - p)``. Works through CHUNK scores at a time,
    so memory stays bounded on a job with a million candidates."""
    sums = np.zeros((maps.shape[0], len(ranks)))
    variances = np.zeros_like(sums)
    carry_sum = np.zeros(maps.shape[0])
    carry_var = np.zeros(maps.shape[0])
    for start in range(0, len(z), CHUNK):
        p = _sigmoid(maps[:, :1] + maps[:, 1:] * z[None, start : start + CHUNK])
        running_sum = carry_sum[:, None] + np.cumsum(p, axis=1)
        running_var = carry_var[:, None] + np.cumsum(p * (1 - p), axis=1)
        inside = (ranks > start) & (ranks <= start + p.shape[1])
        sums[:, inside] = running_sum[:, ranks[inside] - start - 1]
        variances[:, inside] = running_var[:, ranks[inside] - start - 1]
        carry_sum, carry_var = running_sum[:, -1], running_var[:, -1]
    return sums, variances


def labelled_floor(cal_scores: np.ndarray, correct: np.ndarray, thresholds: np.ndarray, delta: float) -> np.ndarray:
    """Per threshold: the Clopper-Pearson lower bound on the accuracy of the labelled items scored at or above it."""
    order = np.argsort(-cal_scores, kind="stable")
    right = np.concatenate([[0], np.cumsum(correct[order])])
    above = np.searchsorted(-cal_scores[order], -thresholds, side="right")  # labelled items scored >= threshold
    return clopper_pearson_lower(right[above], above, delta)


def select_threshold(
    cal_scores: np.ndarray,
    cal_correct: np.ndarray,
    candidate_scores: np.ndarray,
    *,
    target: float,
    delta: float = 0.1,
    resamples: int = 200,
    prior: float = 0.01,
    min_labelled: int = 30,
    answered_scores: np.ndarray | None = None,
    seed: int = 0,
) -> Calibration:
    """The loosest confidence threshold whose answered candidates have expected accuracy ``>= target`` with
    confidence ``1 - delta``; None when there is none.

    ``cal_scores``/``cal_correct``: out-of-fold confidence of each labelled item and whether its answer matched
    the human result. ``candidate_scores``: the confidence on the items the machine could answer.
    ``answered_scores``: the current model's probability for each answer the machine already gave on the job;
    the bound is then on the accuracy of all the machine's answers on the job, old and new together.
    """
    cal_scores = np.asarray(cal_scores, dtype=np.float64)
    correct = np.asarray(cal_correct, dtype=np.float64)
    candidates = np.sort(np.asarray(candidate_scores, dtype=np.float64))[::-1]
    n = len(cal_scores)
    if n < min_labelled:
        return Calibration(
            None, target, delta, n, 0, None, None,
            f"{n} human results; at least {min_labelled} are needed to calibrate",
        )  # fmt: skip
    if len(candidates) == 0:
        return Calibration(None, target, delta, n, 0, None, None, "no items are left for the machine")
    rng = np.random.default_rng(seed)
    weights = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1 / n), size=resamples)]).astype(np.float64)
    maps = fit_maps(_logit(cal_scores), correct, weights, prior)
    # The thresholds tried: every candidate's score on jobs of up to MAX_CUTS candidates, else MAX_CUTS evenly
    # spaced ranks (the answer is then at most 1/MAX_CUTS of the candidates short of the loosest threshold).
    m = len(candidates)
    ranks = np.arange(1, m + 1) if m <= MAX_CUTS else np.unique(np.linspace(1, m, MAX_CUTS).round().astype(np.int64))
    mapped_sum, mapped_var = mapped_cumulative(maps, _logit(candidates), ranks)  # (1 + B, len(ranks)) each
    expected = mapped_sum[0] / ranks
    # Predictive bound: under each resampled map the number of right answers is a sum of Bernoulli draws, with
    # mean and variance from the mapped probabilities (normal approximation). One normal draw per resample keeps
    # each resample's curve smooth in the threshold, so the scan below cannot pick a lucky wiggle.
    count_before = 0 if answered_scores is None else len(answered_scores)
    before_mean, before_var = np.zeros((resamples, 1)), np.zeros((resamples, 1))
    if count_before:
        z = _logit(np.asarray(answered_scores, dtype=np.float64))
        before_mean, before_var = mapped_cumulative(maps[1:], z, np.array([count_before]))
    total = ranks + count_before
    mean = (before_mean + mapped_sum[1:]) / total
    sd = np.sqrt(before_var + mapped_var[1:]) / total
    realized = mean + sd * rng.standard_normal((resamples, 1))
    floor = labelled_floor(cal_scores, correct, candidates[ranks - 1], delta)
    lower = np.minimum(np.quantile(realized, delta, axis=0), floor)
    passing = np.flatnonzero(lower >= target)
    if len(passing) == 0:
        return Calibration(
            None, target, delta, n, 0, float(expected[0]), float(lower[0]),
            f"no confidence threshold reaches {target:.0%} accuracy: on {n} human results, the machine's"
            f" most confident answers are expected to be right {expected[0]:.0%} of the time, and the best"
            f" lower bound over all thresholds is {lower.max():.0%}",
        )  # fmt: skip
    k = int(passing[-1])
    answered = int(ranks[k])
    return Calibration(float(candidates[answered - 1]), target, delta, n, answered, float(expected[k]), float(lower[k]))
