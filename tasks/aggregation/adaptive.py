"""Adaptive redundancy: whether a microtask should get one more answer.

The scheduler and ``manage.py replay`` both call ``needs_more_answers``, so a replayed dataset measures the very
policy the platform runs. Item confidences come from the job's aggregation method (``item_confidences``), which
uses every answer the job has so far, so a worker known to be good makes an item confident sooner.
"""

import math
from collections.abc import Iterable

import numpy as np

from .base import Answers
from .categorical import METHODS as CATEGORICAL


def needs_more_answers(
    item_confidences: Iterable[float | None],
    answers_so_far: int,
    min_answers: int,
    max_answers: int | None,
    target: float,
) -> bool:
    """True while the microtask is below ``min_answers``, or below ``max_answers`` with an item under ``target``.

    ``item_confidences`` holds the current confidence of each of the microtask's items (None or NaN when an item
    has no result yet, which counts as below target). ``max_answers`` None means no adaptive part: stop at the
    minimum. Gold items should be left out by the caller: their answer is known.
    """
    if answers_so_far < min_answers:
        return True
    cap = min_answers if max_answers is None else max(max_answers, min_answers)
    if answers_so_far >= cap:
        return False
    for confidence in item_confidences:
        if confidence is None or math.isnan(confidence) or confidence < target:
            return True
    return False


def item_confidences(answers: Answers, gold: np.ndarray | None = None, method: str = "auto") -> np.ndarray:
    """Consensus confidence of each item's current result under ``method`` (NaN for items without answers): what
    more answers can raise (calibration.py); the target applies to it."""
    return CATEGORICAL[method](answers, gold).consensus
