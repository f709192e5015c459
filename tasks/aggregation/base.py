"""The one interface every aggregation method shares: coded answers in, an ``Aggregate`` out.

Answers are three parallel integer arrays (item, worker, label codes). Codes are dense 0..n-1 so that methods
can work with ``np.bincount`` and never with Python objects; turning ids and values into codes is the caller's
job (``files`` for the offline tools, ``service`` for the database).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NO_LABEL = -1


@dataclass(frozen=True)
class Answers:
    """Coded answers: answer ``j`` is worker ``workers[j]`` giving label ``labels[j]`` to item ``items[j]``."""

    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    n_items: int
    n_workers: int
    n_labels: int

    @classmethod
    def from_codes(
        cls,
        items: np.ndarray | list[int],
        workers: np.ndarray | list[int],
        labels: np.ndarray | list[int],
        n_items: int | None = None,
        n_workers: int | None = None,
        n_labels: int | None = None,
    ) -> "Answers":
        items_a = np.asarray(items, dtype=np.int64)
        workers_a = np.asarray(workers, dtype=np.int64)
        labels_a = np.asarray(labels, dtype=np.int64)
        if not (items_a.shape == workers_a.shape == labels_a.shape) or items_a.ndim != 1:
            raise ValueError("items, workers and labels must be 1-d arrays of the same length")
        sizes = []
        for name, arr, n in (
            ("items", items_a, n_items),
            ("workers", workers_a, n_workers),
            ("labels", labels_a, n_labels),
        ):
            top = int(arr.max()) + 1 if arr.size else 0
            n = top if n is None else n
            if arr.size and (arr.min() < 0 or top > n):
                raise ValueError(f"{name} codes must lie in 0..{n - 1}")
            sizes.append(n)
        return cls(items_a, workers_a, labels_a, sizes[0], sizes[1], max(sizes[2], 1))

    def __len__(self) -> int:
        return int(self.items.size)

    def counts(self) -> np.ndarray:
        """Votes per (item, label), shape (n_items, n_labels)."""
        flat = np.bincount(self.items * self.n_labels + self.labels, minlength=self.n_items * self.n_labels)
        return flat.reshape(self.n_items, self.n_labels).astype(np.float64)

    def answer_count(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)

    def subset(self, keep: np.ndarray) -> "Answers":
        """The answers where ``keep`` is true, with the same codes."""
        return Answers(
            self.items[keep], self.workers[keep], self.labels[keep], self.n_items, self.n_workers, self.n_labels
        )

    def arrival_ranks(self, seed: int = 0) -> np.ndarray:
        """Each answer's place (0, 1, ...) among its item's answers in a seeded random order of arrival."""
        rng = np.random.default_rng(seed)
        order = np.lexsort((rng.random(len(self)), self.items))
        starts = np.concatenate(([0], np.cumsum(self.answer_count())[:-1]))
        rank = np.empty(len(self), dtype=np.int64)
        rank[order] = np.arange(len(self)) - starts[self.items[order]]
        return rank


@dataclass
class Aggregate:
    """A method's output. ``labels`` is NO_LABEL and ``confidence`` NaN for items without answers."""

    method: str
    labels: np.ndarray
    confidence: np.ndarray
    posteriors: np.ndarray
    # Estimated probability that each worker answers correctly (None for methods that do not model workers).
    worker_accuracy: np.ndarray | None = None
    # The calibration (calibration.py): per item the consensus probability of its result (how sure it is to be
    # what the crowd would say given unlimited answers), the temperature fitted on held-out answers, and the share
    # of consensus results taken to be wrong all the same.
    consensus: np.ndarray | None = None
    temperature: float | None = None
    consensus_error: float | None = None
    # ``auto``: the method it chose and each candidate's held-out log-likelihood per answer.
    chosen: str | None = None
    evidence: dict | None = None

    def agreement(self, answers: Answers) -> np.ndarray:
        """Share of each item's answers equal to its result (NaN for items without answers)."""
        count = answers.answer_count()
        hits = np.bincount(
            answers.items, weights=(answers.labels == self.labels[answers.items]), minlength=answers.n_items
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, hits / np.maximum(count, 1), np.nan)


@dataclass
class AnswerModel:
    """What a categorical method fitted, in the shape calibration needs.

    ``scores`` (items x labels) rank each item's labels, the method's result being the highest (log-posteriors for
    the EM methods, votes for the votes); softmax(t x scores) is its tempered posterior. The method's model of how
    a worker answers predicts held-out answers: one-coin ``accuracy`` per worker (right with probability a, else
    any other label alike) or a full ``confusion`` per worker (W x K x K, P(answer l | true label k)).
    """

    scores: np.ndarray
    accuracy: np.ndarray | None = None
    confusion: np.ndarray | None = None
    worker_accuracy: np.ndarray | None = None
    # Scores that are the model's own log-posteriors are only ever discounted (temperature <= 1): a crowd's
    # answers are never worth more than the model takes them for. Votes have no scale of their own.
    log_posterior: bool = True

    def answer_probability(self, posteriors: np.ndarray, workers: np.ndarray, labels: np.ndarray, seen: np.ndarray):
        """P(worker w gives label l) for answers (w, l) whose items have ``posteriors`` rows; a worker not ``seen``
        in the fit answers like the crowd's average worker."""
        if self.confusion is not None:
            counts = seen.astype(np.float64)
            pooled = np.einsum("w,wkl->kl", counts, self.confusion) / max(counts.sum(), 1.0)
            rows = np.where(seen[workers][:, None], self.confusion[workers, :, labels], pooled[:, labels].T)
            return np.einsum("ak,ak->a", posteriors, rows)
        k = posteriors.shape[1]
        accuracy = self.accuracy
        pooled = float(accuracy[seen].mean()) if seen.any() else 0.7
        a = np.clip(np.where(seen[workers], accuracy[workers], pooled), 1e-3, 1 - 1e-3)
        p = posteriors[np.arange(len(labels)), labels]
        return p * a + (1 - p) * (1 - a) / max(k - 1, 1)


# A categorical method: answers and optional known labels per item (NO_LABEL where unknown) -> Aggregate.
CategoricalMethod = Callable[[Answers, "np.ndarray | None"], Aggregate]


def finish(method: str, answers: Answers, posteriors: np.ndarray, gold: np.ndarray | None = None, **extra) -> Aggregate:
    """Labels and confidence from posteriors; unanswered items get no label; known items keep their gold."""
    posteriors = np.asarray(posteriors, dtype=np.float64)
    if gold is not None:
        known = gold >= 0
        posteriors[known] = 0.0
        posteriors[known, gold[known]] = 1.0
    # A tiny deterministic jitter breaks exact ties without always favouring the first label.
    jitter = np.random.default_rng(0).random(posteriors.shape) * 1e-9
    labels = np.argmax(posteriors + jitter, axis=1).astype(np.int64)
    confidence = posteriors[np.arange(answers.n_items), labels] if answers.n_items else np.zeros(0)
    answered = answers.answer_count() > 0
    if gold is not None:
        answered |= gold >= 0
    labels = np.where(answered, labels, NO_LABEL)
    confidence = np.where(answered, confidence, np.nan)
    return Aggregate(method, labels, confidence, posteriors, **extra)


def argmax_ties_by_key(posteriors: np.ndarray, keys: np.ndarray, label_keys: np.ndarray | None = None) -> np.ndarray:
    """Each row's most probable label; an exact tie goes to a label picked by the row's key (an item id), so the
    same item gets the same label in every pass, whichever other items are in it, and no label is favoured.

    ``label_keys`` (default: the label codes) identify the labels; give keys that do not depend on the order in
    which labels were first seen when that order differs between passes (free text, sets of options).
    """
    posteriors = np.asarray(posteriors, dtype=np.float64)
    k = posteriors.shape[1] if posteriors.ndim == 2 else 0
    if not k:
        return np.zeros(len(posteriors), dtype=np.int64)
    label_keys = np.arange(k, dtype=np.uint64) if label_keys is None else np.asarray(label_keys, dtype=np.uint64)
    mixed = (np.asarray(keys, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)) ^ (
        label_keys[:k] * np.uint64(0xBF58476D1CE4E5B9)
    )
    jitter = (mixed >> np.uint64(11)).astype(np.float64) / 2.0**53 * 1e-9
    return np.argmax(posteriors + jitter, axis=1).astype(np.int64)


def stable_key(label: str) -> int:
    """A key for a label that is the same in every process and pass (Python's own hash of a str is not)."""
    return int.from_bytes(hashlib.blake2b(label.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def check_gold(answers: Answers, gold: np.ndarray | None) -> np.ndarray | None:
    if gold is None:
        return None
    gold = np.asarray(gold, dtype=np.int64)
    if gold.shape != (answers.n_items,):
        raise ValueError(f"gold must have one entry per item ({answers.n_items}), got shape {gold.shape}")
    if gold.size and gold.max() >= answers.n_labels:
        raise ValueError("gold label codes must lie in 0..n_labels-1")
    return gold if (gold >= 0).any() else None
