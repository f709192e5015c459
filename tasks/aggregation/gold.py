"""Gold questions: how often to show a worker an item whose answer is known, and how far to trust a worker.

Both read a worker's record as a Beta posterior over their accuracy: with few gold answers it is wide, so the
gold rate stays high and the trust score low until the worker has shown, on enough known items, that they are
accurate.
"""

import math

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
