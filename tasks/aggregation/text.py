"""Free-text aggregation: a vote over normalised answers, so "Paris", " paris " and "PARIS." count as one answer.

The result is the most frequent original spelling within the winning group, so the requester sees what a worker
typed, not our normal form.
"""

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .base import NO_LABEL, Answers, argmax_ties_by_key, stable_key
from .categorical import mv, wmv

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def normalise_text(value: str) -> str:
    """Unicode-normalised, case-folded, whitespace collapsed, punctuation trimmed from both ends."""
    text = " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())
    return _EDGE_PUNCTUATION.sub("", text) or text


@dataclass
class TextAggregate:
    method: str
    values: list[str | None]
    confidence: np.ndarray
    agreement: np.ndarray


def text_vote(
    items: np.ndarray,
    workers: np.ndarray,
    texts: list[str],
    n_items: int,
    *,
    weighted: bool = False,
    item_keys: np.ndarray | None = None,
) -> TextAggregate:
    """Vote over normalised texts; ``weighted`` weighs each worker by their agreement with the crowd.

    With ``item_keys`` (an id per item) an exact tie goes by the item's key and the texts, not by the order in
    which texts were first seen, so the item gets the same result in every pass.
    """
    items = np.asarray(items, dtype=np.int64)
    workers = np.asarray(workers, dtype=np.int64)
    normal_index: dict[str, int] = {}
    labels = np.array([normal_index.setdefault(normalise_text(t), len(normal_index)) for t in texts], dtype=np.int64)
    answers = Answers.from_codes(items, workers, labels, n_items=n_items, n_labels=max(len(normal_index), 1))
    result = (wmv if weighted else mv)(answers)
    if item_keys is not None and len(normal_index):
        label_keys = np.array([stable_key(text) for text in normal_index], dtype=np.uint64)
        chosen = argmax_ties_by_key(result.posteriors, item_keys, label_keys)
        result.labels = np.where(result.labels == NO_LABEL, NO_LABEL, chosen)
    spellings: dict[tuple[int, int], Counter] = {}
    for item, label, text in zip(items.tolist(), labels.tolist(), texts, strict=True):
        spellings.setdefault((item, label), Counter())[text.strip()] += 1
    values: list[str | None] = []
    for item, label in enumerate(result.labels.tolist()):
        values.append(None if label == NO_LABEL else spellings[(item, label)].most_common(1)[0][0])
    agreement = result.agreement(answers)
    return TextAggregate("text_weighted" if weighted else "text_vote", values, result.confidence, agreement)
