"""Gold questions: how often to show a worker an item whose answer is known, how far to trust a worker, and how
sure an accuracy is.

Both read a worker's record as a Beta posterior over their accuracy: with few gold answers it is wide, so the
gold rate stays high and the trust score low until the worker has shown, on enough known items, that they are
accurate.
"""

import math

# Fewer answers than this and an accuracy is shown as "not enough answers yet": its interval is too wide to read.
MIN_EVIDENCE = 5
# Two-sided 95 %.
Z_95 = 1.959964

# A worker's accuracy starts from Beta(PRIOR_CORRECT, PRIOR_WRONG): uniform, nothing assumed.
PRIOR_CORRECT = 1.0
PRIOR_WRONG = 1.0


def _posterior(correct: float, answered: float) -> tuple[float, float]:
    a = PRIOR_CORRECT + correct
    b = PRIOR_WRONG + max(answered - correct, 0.0)
    mean = a / (a + b)
    sd = math.sqrt(mean * (1 - mean) / (a + b + 1))
    return mean, sd


def _check(answered: float, correct: float) -> None:
    if answered < 0 or correct < 0 or correct > answered:
        raise ValueError(f"need 0 <= correct <= answered, got correct={correct}, answered={answered}")


def gold_rate(
    gold_answered: int,
    gold_correct: int,
    *,
    start: float = 0.3,
    floor: float = 0.02,
    accuracy_target: float = 0.8,
) -> float:
    """Share of a worker's next items that should be gold, from ``start`` down to ``floor``.

    It falls with the probability that the worker's accuracy is at least ``accuracy_target`` (normal
    approximation of the Beta posterior), counted from where it stands with no evidence, so it is ``start`` for a
    new worker, stays near it for workers whose accuracy is low or still uncertain, and nears ``floor`` only for
    workers proven accurate (10 of 10 right: about 0.04; 5 of 5: about 0.13).
    """
    _check(gold_answered, gold_correct)
    baseline = _above(0, 0, accuracy_target)
    proven = max(0.0, (_above(gold_correct, gold_answered, accuracy_target) - baseline) / (1 - baseline))
    return floor + (start - floor) * (1 - proven)


def _above(correct: float, answered: float, target: float) -> float:
    """P(accuracy >= target) under the posterior, by its normal approximation."""
    mean, sd = _posterior(correct, answered)
    return 0.5 * (1 + math.erf((mean - target) / (sd * math.sqrt(2))))


def trust_score(
    gold_answered: int,
    gold_correct: int,
    estimated_answered: float = 0.0,
    estimated_correct: float = 0.0,
    *,
    estimated_weight: float = 0.5,
    z: float = 1.645,
) -> float:
    """A cautious accuracy in [0, 1]: the lower bound (mean - z sd, one-sided 95 %) of the Beta posterior.

    Gold answers count fully; answers scored by agreement with the aggregated results (``estimated_*``, e.g. a
    method's expected correct answers) count ``estimated_weight`` each, since the crowd can be wrong too.
    """
    _check(gold_answered, gold_correct)
    _check(estimated_answered, estimated_correct)
    correct = gold_correct + estimated_weight * estimated_correct
    answered = gold_answered + estimated_weight * estimated_answered
    mean, sd = _posterior(correct, answered)
    return min(max(mean - z * sd, 0.0), 1.0)


def accuracy_interval(right: float, total: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval (95 %) of an accuracy of ``right`` out of ``total``: (low, high) in [0, 1].

    Unlike ``right / total`` plus or minus a normal margin it stays inside [0, 1] and is wide for few answers:
    0 of 1 is 0-79 %, 0 of 12 is 0-24 %, 2 of 10 is 6-51 %. No answers at all: (0, 1), nothing known.
    """
    _check(total, right)
    if total == 0:
        return 0.0, 1.0
    share = right / total
    z2 = z * z
    centre = (share + z2 / (2 * total)) / (1 + z2 / total)
    margin = z * math.sqrt(share * (1 - share) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return max(centre - margin, 0.0), min(centre + margin, 1.0)


def accuracy_surely_below(right: float, total: float, threshold: float) -> bool:
    """Whether the whole interval is below ``threshold``: the accuracy is low on the evidence, not on one unlucky
    answer (0 of 1 is not surely below 70 %; 0 of 2 is, 1 of 5 is not)."""
    return total > 0 and accuracy_interval(right, total)[1] < threshold


def enough_evidence(total: float) -> bool:
    """Whether an accuracy rests on enough answers to be shown as a figure."""
    return total >= MIN_EVIDENCE


def percent_text(share: float) -> str:
    """A share as a whole percent, halves rounded up (0.825 is 83)."""
    return str(math.floor(share * 100 + 0.5))


def interval_text(low: float, high: float) -> str:
    """'64-92 %'."""
    return f"{percent_text(low)}-{percent_text(high)} %"
