"""Rankings from pairwise comparisons: Bradley-Terry, Bradley-Terry with worker reliability, and which pairs to
ask next. Pure functions over plain arrays (no database): tasks/rankings.py feeds them a job's answers, tasks/pairs.py
draws pairs with them, bench/annotation.py measures them.

Candidates are indexes 0..n-1. A comparison is (left, right, outcome) with outcome 1.0 when left won, 0.0 when right
won and 0.5 for "equal" (half a win to each). Scores are log strengths, P(i beats j) = sigmoid(s_i - s_j), centred
on 0; a weak Gaussian prior (precision PRIOR_PRECISION) keeps an undefeated candidate's score finite and makes the
fit unique when the comparisons do not connect every candidate. Standard errors come from the inverse of the
Fisher information plus the prior.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse, special
from scipy.sparse.linalg import cg

# The prior on each score: N(0, 2), a standard deviation of 1.4 (odds of 4:1 between candidates one apart).
# Weak beside a candidate's comparisons, strong enough to shrink a score resting on two answers (which ranks better
# than maximum likelihood in simulations: bench/annotation.py).
PRIOR_PRECISION = 0.5
NEWTON_STEPS = 50
TOLERANCE = 1e-8
# Above this many candidates the Newton step is solved by conjugate gradients over the sparse information matrix
# and the standard errors come from its diagonal (a dense inverse of n x n is slow past a few thousand).
DENSE_MAX = 2500
# Worker reliability r: a Beta prior worth PRIOR_ANSWERS answers with mean PRIOR_RELIABILITY, so a worker with two
# answers is not judged by them alone; r stays within these bounds.
PRIOR_RELIABILITY = 0.8
PRIOR_ANSWERS = 4.0
RELIABILITY_MIN, RELIABILITY_MAX = 0.02, 0.999
EM_ROUNDS = 30
# choose_pairs looks at every pair up to this many candidates, beyond it at each candidate's nearest neighbours by
# score (p(1-p) is largest between close scores).
ALL_PAIRS_MAX = 400
NEIGHBOURS = 24


@dataclass
class Fit:
    scores: np.ndarray  # log strength per candidate, centred on 0
    std_errors: np.ndarray
    reliability: dict[int, float] = field(default_factory=dict)  # worker -> r (noisy_bradley_terry only)


def _arrays(left, right, outcome, weights=None):
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=float)
    weights = np.ones(len(left)) if weights is None else np.asarray(weights, dtype=float)
    return left, right, outcome, weights


def _information(n: int, left, right, curvature) -> sparse.csr_matrix:
    """Fisher information of the comparisons (a weighted graph Laplacian) plus the prior: sparse, n x n."""
    rows = np.concatenate([left, right, left, right, np.arange(n)])
    cols = np.concatenate([left, right, right, left, np.arange(n)])
    vals = np.concatenate([curvature, curvature, -curvature, -curvature, np.full(n, PRIOR_PRECISION)])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def _solve(info: sparse.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    if info.shape[0] <= DENSE_MAX:
        return linalg.solve(info.toarray(), rhs, assume_a="pos")
    diagonal = info.diagonal()
    step, _ = cg(info, rhs, M=sparse.diags(1.0 / diagonal), rtol=1e-10, maxiter=500)
    return step


def _log_posterior(scores, left, right, outcome, weights) -> float:
    diff = scores[left] - scores[right]
    # log sigmoid(d) = -log(1 + e^-d), written so that large |d| does not overflow
    loglik = outcome * -np.logaddexp(0.0, -diff) + (1.0 - outcome) * -np.logaddexp(0.0, diff)
    return float(np.dot(weights, loglik) - 0.5 * PRIOR_PRECISION * np.dot(scores, scores))


def _std_errors(info: sparse.csr_matrix) -> np.ndarray:
    n = info.shape[0]
    if n <= DENSE_MAX:
        variance = np.diag(linalg.cho_solve(linalg.cho_factor(info.toarray()), np.eye(n)))
    else:
        variance = 1.0 / info.diagonal()  # a lower bound: the diagonal of the inverse is at least this
    return np.sqrt(np.maximum(variance, 0.0))


def bradley_terry(
    n: int, left: np.ndarray, right: np.ndarray, outcome: np.ndarray, weights: np.ndarray | None = None
) -> Fit:
    """Maximum a posteriori Bradley-Terry scores by Newton's method (with step halving), and their standard errors.

    ``weights`` scale each comparison (noisy_bradley_terry passes the posterior that an answer followed the model).
    """
    left, right, outcome, weights = _arrays(left, right, outcome, weights)
    scores = np.zeros(n)
    if n == 0:
        return Fit(scores, np.zeros(0))
    current = _log_posterior(scores, left, right, outcome, weights)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(scores[right] - scores[left]))  # P(left wins)
        residual = weights * (outcome - p)
        gradient = np.bincount(left, residual, n) - np.bincount(right, residual, n) - PRIOR_PRECISION * scores
        info = _information(n, left, right, weights * p * (1.0 - p))
        step = _solve(info, gradient)
        t = 1.0
        while True:
            candidate = scores + t * step
            value = _log_posterior(candidate, left, right, outcome, weights)
            if value >= current - 1e-12 or t < 1e-4:
                break
            t /= 2
        moved = np.max(np.abs(candidate - scores))
        scores, current = candidate, value
        if moved < TOLERANCE:
            break
    p = 1.0 / (1.0 + np.exp(scores[right] - scores[left]))
    info = _information(n, left, right, weights * p * (1.0 - p))
    return Fit(scores - scores.mean(), _std_errors(info))


def noisy_bradley_terry(n: int, left, right, outcome, workers: np.ndarray, trusted: np.ndarray | None = None) -> Fit:
    """Bradley-Terry where worker w answers by the model with probability r_w and at random (1/2) otherwise.

    EM: the E step gives each answer the posterior that it followed the model; the M step fits weighted
    Bradley-Terry with those weights and sets r_w to the worker's mean posterior under a Beta prior (PRIOR_ANSWERS
    answers at PRIOR_RELIABILITY). A spammer's r falls towards RELIABILITY_MIN, and with it the weight of their
    answers. ``trusted`` marks answers known to follow the model (a gold pair's known side): weight 1 always.
    """
    left, right, outcome, _ = _arrays(left, right, outcome)
    workers = np.asarray(workers)
    ids, worker_index = np.unique(workers, return_inverse=True)
    answered = np.bincount(worker_index, minlength=len(ids)).astype(float)
    reliability = np.full(len(ids), PRIOR_RELIABILITY)
    fit = bradley_terry(n, left, right, outcome)
    for _ in range(EM_ROUNDS):
        p = 1.0 / (1.0 + np.exp(fit.scores[right] - fit.scores[left]))
        # The model's likelihood of the answer (an "equal" answer: the geometric mean of the two sides').
        model = np.exp(outcome * np.log(np.maximum(p, 1e-12)) + (1.0 - outcome) * np.log(np.maximum(1.0 - p, 1e-12)))
        r = reliability[worker_index]
        posterior = r * model / (r * model + (1.0 - r) * 0.5)
        if trusted is not None:
            posterior = np.where(trusted, 1.0, posterior)
        fit = bradley_terry(n, left, right, outcome, posterior)
        followed = np.bincount(worker_index, posterior, minlength=len(ids))
        updated = (followed + PRIOR_ANSWERS * PRIOR_RELIABILITY) / (answered + PRIOR_ANSWERS)
        updated = np.clip(updated, RELIABILITY_MIN, RELIABILITY_MAX)
        moved = np.max(np.abs(updated - reliability)) if len(ids) else 0.0
        reliability = updated
        if moved < 1e-4:
            break
    fit.reliability = {_plain(w): float(r) for w, r in zip(ids, reliability, strict=True)}
    return fit


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def initial_pairs(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A random cycle through the candidates: each is in two comparisons, and the comparisons connect them all."""
    if n < 2:
        return []
    order = [int(i) for i in rng.permutation(n)]
    if n == 2:
        return [(order[0], order[1])]
    return [(order[i], order[(i + 1) % n]) for i in range(n)]


def _drawn(counts, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """How often each pair was drawn, either way round (counts may be dense or scipy sparse)."""
    if sparse.issparse(counts):
        counts = counts.tocsr()
        return np.asarray(counts[i, j]).ravel() + np.asarray(counts[j, i]).ravel()
    return counts[i, j] + counts[j, i]


def _candidate_pairs(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(scores)
    if n <= ALL_PAIRS_MAX:
        i, j = np.triu_indices(n, k=1)
        return i, j
    order = np.argsort(scores, kind="stable")
    width = min(NEIGHBOURS, n - 1)
    i = np.repeat(order[:-1], width)
    positions = np.repeat(np.arange(n - 1), width) + np.tile(np.arange(1, width + 1), n - 1)
    keep = positions < n
    return i[keep], order[positions[keep]]


def choose_pairs(fit: Fit, counts, k: int) -> list[tuple[int, int]]:
    """The k pairs whose order the ranking is least sure of: the probability that the fit has them the wrong way
    round, Phi(-|s_i - s_j| / sqrt(var_i + var_j)), divided by 1 + the times the pair was drawn already. Each
    candidate gets at most one new pair in a call while others are left, so a round spreads over the group; never
    (i, i). (The Fisher information of a pair, p(1-p)(var_i + var_j), ranked a little worse in bench/annotation.py.)"""
    n = len(fit.scores)
    if n < 2 or k <= 0:
        return []
    i, j = _candidate_pairs(fit.scores)
    variance = fit.std_errors**2
    spread_of_difference = np.sqrt(np.maximum(variance[i] + variance[j], 1e-12))
    wrong_way = 0.5 * special.erfc(np.abs(fit.scores[i] - fit.scores[j]) / spread_of_difference / np.sqrt(2.0))
    value = wrong_way / (1.0 + _drawn(counts, i, j))
    order = np.argsort(-value, kind="stable")
    chosen: list[tuple[int, int]] = []
    taken = set()
    used = np.zeros(n, dtype=bool)
    for spread in (True, False):
        for at in order:
            if len(chosen) == k:
                return chosen
            a, b = int(i[at]), int(j[at])
            if (a, b) in taken or (spread and (used[a] or used[b])):
                continue
            used[a] = used[b] = True
            taken.add((a, b))
            chosen.append((a, b))
    return chosen
