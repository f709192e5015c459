"""The offline tools behind ``manage.py aggregate`` and ``manage.py replay``: files in, figures out, no database.

Replay runs the platform's own policy (``adaptive.needs_more_answers``) and default method over a real dataset,
so its figures are those of the code that serves workers, not of a copy.
"""

from dataclasses import dataclass

import numpy as np

from .adaptive import needs_more_answers
from .base import Answers
from .categorical import DEFAULT_METHOD, METHODS

# The target replay uses unless told otherwise, the same as a new job's (Job.target_confidence). It applies to the
# consensus confidence (calibration.py): an item stops once its result is that sure to be what the crowd would say
# given unlimited answers. With ``auto`` it reaches majority vote's accuracy over all answers with under half of
# them on the real crowds with 10+ answers per item (docs/BENCHMARKS.md).
DEFAULT_TARGET = 0.965


def gold_accuracy(labels: np.ndarray, gold: np.ndarray, answered: np.ndarray) -> tuple[float, int]:
    """Accuracy on gold items that received at least one answer, and their number."""
    scored = (gold >= 0) & answered
    n = int(scored.sum())
    return (float((labels[scored] == gold[scored]).mean()) if n else float("nan")), n


@dataclass
class ReplayOutcome:
    accuracy: float
    gold_items: int
    answers_used: int
    answers_available: int
    items: int
    rounds: int

    @property
    def mean_answers(self) -> float:
        return self.answers_used / max(self.items, 1)

    @property
    def share(self) -> float:
        return self.answers_used / max(self.answers_available, 1)


def parse_policy(text: str) -> tuple[str, int | None]:
    """``fixed:K`` or ``adaptive``; ValueError with what is wrong otherwise."""
    if text == "adaptive":
        return "adaptive", None
    if text.startswith("fixed:"):
        try:
            k = int(text.split(":", 1)[1])
        except ValueError:
            k = 0
        if k >= 1:
            return "fixed", k
    raise ValueError(f"policy must be 'fixed:K' with K >= 1 or 'adaptive', got '{text}'")


def replay(
    answers: Answers,
    gold: np.ndarray,
    *,
    policy: str,
    fixed_k: int | None = None,
    target: float = DEFAULT_TARGET,
    min_answers: int = 3,
    max_answers: int | None = None,
    seed: int = 0,
    method: str = DEFAULT_METHOD,
) -> ReplayOutcome:
    """Replay a dataset as the platform would collect it, one answer per item per round, in a seeded order.

    Each item is its own microtask. ``fixed`` uses the first K answers of each item. ``adaptive`` starts every
    item with ``min_answers`` and then, round by round, aggregates every answer collected so far with the
    platform's method and gives one more answer to each item for which ``needs_more_answers`` says so, until no
    item needs one or an item's answers run out (``max_answers`` None: all the dataset has). Gold is used only
    to score, never by the method, since the platform does not clamp the items it is scoring here.
    """
    aggregate = METHODS[method]
    available = answers.answer_count()
    rank = answers.arrival_ranks(seed)

    def subset(used: np.ndarray) -> Answers:
        return answers.subset(rank < used[answers.items])

    rounds = 0
    if policy == "fixed":
        used = np.minimum(available, fixed_k or 1)
    else:
        used = np.minimum(available, min_answers)
        while True:
            rounds += 1
            confidence = aggregate(subset(used), None).consensus
            more = np.fromiter(
                (
                    used[i] < available[i]
                    and needs_more_answers(
                        [confidence[i]], int(used[i]), min_answers, max_answers or int(available[i]), target
                    )
                    for i in range(answers.n_items)
                ),
                dtype=bool,
                count=answers.n_items,
            )
            if not more.any():
                break
            used[more] += 1
    final = aggregate(subset(used), None)
    accuracy, n_gold = gold_accuracy(final.labels, gold, available > 0)
    return ReplayOutcome(accuracy, n_gold, int(used.sum()), len(answers), answers.n_items, rounds)
