"""One question's answers in, its results out: the answers coded through the question's plugin and aggregated by
the methods of the plugin's aggregation kind. Pure (no database): ``service`` reads answers and writes results,
the contract test (tests/tasks_tests/test_question_types.py) calls it directly.

A plugin names its kind (``QuestionType.aggregation``), and nothing here names a question type:

- ``categorical``: each answer is a label (``label_of``); the labels the plugin knows up front (``labels``) come
  first, so their codes are the option indexes, then every other label seen. A categorical method (Dawid-Skene,
  votes) picks one; ``value_of_label`` turns it back into an answer value. Known answers (gold) teach the
  method about workers.
- ``numeric``: a numeric method (trimmed mean, median, ...) over the answers that are finite numbers.
- ``text``: a vote over normalised text (``aggregation.text``).
- ``spans`` / ``boxes``: each item's answers (lists of spans or boxes) merged into one list, workers weighed by
  their agreement with the merged answers and with gold (``aggregation.annotation``, docs/ANNOTATION.md).

Every kind breaks an exact tie by the item's id (and the labels themselves), so an item gets the same result in a
whole-job pass and in a pass over a few items, whichever other items are in it.
"""

import json
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..forms import Question
from .annotation import Merge, aggregate, agreement
from .base import NO_LABEL, Answers, argmax_ties_by_key, stable_key
from .boxes import merge_boxes
from .calibration import CONSENSUS_ERROR_PRIOR, aggregate_with_gold, shrink, softmax_rows
from .categorical import DEFAULT_METHOD, METHODS, TYPICAL_ACCURACY
from .numeric import NUMERIC_METHODS
from .spans import merge_spans
from .text import text_vote

# A cached prior counts as this many answers' worth of evidence in the one-coin pass over a few items.
PRIOR_WEIGHT = 10


@dataclass
class QuestionAnswers:
    """One question's answers: answer ``j`` is worker ``workers[j]`` giving ``values[j]`` (JSON text) to item
    ``items[j]``. JSON text, so that equal answers are parsed and coded once."""

    items: list[int] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)
    values: list[str] = field(default_factory=list)

    def add(self, item: int, worker: int, value: str) -> None:
        self.items.append(item)
        self.workers.append(worker)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class ItemResult:
    result: object
    confidence: float
    answers: int
    agreement: float


@dataclass
class QuestionOutcome:
    method: str
    items: dict[int, ItemResult]  # item id -> result, for answered items (not those whose gold is known)
    # Per worker id: estimated accuracy and answers, for methods that model workers.
    worker_accuracy: dict[int, float] = field(default_factory=dict)
    worker_answers: dict[int, int] = field(default_factory=dict)
    # What a pass over a few items needs from the last whole pass (JSON-able), or None.
    estimates: dict | None = None


def _dense(ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)


class LabelSpace:
    """Labels <-> codes for a categorical question: the plugin's own labels first, then anything else seen."""

    def __init__(self, question: Question, seen: Iterable[str] = ()):
        self.plugin, self.definition = question.plugin, question.definition
        self.labels: list[str] = list(self.plugin.labels(self.definition))
        self.known = len(self.labels)
        self.index = {label: n for n, label in enumerate(self.labels)}
        self._by_json: dict[str, int] = {}
        for label in seen:
            self.code_of_label(label)

    def code_of_label(self, label: str) -> int:
        code = self.index.get(label)
        if code is None:
            code = self.index[label] = len(self.labels)
            self.labels.append(label)
        return code

    def code(self, value: object) -> int:
        return self.code_of_label(self.plugin.label_of(self.definition, self.plugin.normalise(self.definition, value)))

    def codes(self, json_values: list[str]) -> np.ndarray:
        out = np.empty(len(json_values), dtype=np.int64)
        by_json = self._by_json
        for n, text in enumerate(json_values):
            code = by_json.get(text)
            if code is None:
                code = by_json[text] = self.code(json.loads(text))
            out[n] = code
        return out

    def values(self, codes: np.ndarray) -> list:
        """The answer value of each label code (each label converted once)."""
        table = [self.plugin.value_of_label(self.definition, label) for label in self.labels]
        return [table[code] for code in codes.tolist()]

    def tie_keys(self) -> np.ndarray:
        """The plugin's labels by their index (as before forms), others by a hash of the label: the order in
        which they were first seen differs between passes."""
        keys = [n if n < self.known else stable_key(label) for n, label in enumerate(self.labels)]
        return np.array(keys or [0], dtype=np.uint64)


def _results(items, values, confidence, counts, agreement) -> dict[int, ItemResult]:
    return {
        item: ItemResult(value, c, n, a)
        for item, value, c, n, a in zip(
            items.tolist(),
            values,
            np.asarray(confidence, dtype=np.float64).tolist(),
            np.asarray(counts).astype(np.int64).tolist(),
            np.asarray(agreement, dtype=np.float64).tolist(),
            strict=True,
        )
    }


class Kind:
    """How one aggregation kind turns a question's answers into results."""

    methods: Collection[str] = ()
    default = ""
    # Whether its methods estimate each worker's accuracy (and a pass over a few items reuses the estimates).
    models_workers = False

    def method(self, requested: str | None) -> str:
        """The job's method where it is one of this kind's, else this kind's default."""
        return requested if requested in self.methods else self.default

    def whole(self, question: Question, method: str, answers: QuestionAnswers, gold: dict) -> QuestionOutcome:
        """Every answer to the question; ``gold`` {item id: known answer} teaches methods that model workers."""
        raise NotImplementedError

    def few(self, question: Question, method: str, answers: QuestionAnswers, estimates: dict | None) -> QuestionOutcome:
        """The answers of a few items, with the ``estimates`` of the last whole pass (None: there was none)."""
        return self.whole(question, method, answers, {})


class Categorical(Kind):
    methods = METHODS
    default = DEFAULT_METHOD
    models_workers = True

    def whole(self, question, method, answers, gold, *, gold_items: bool = False):
        """``gold_items``: the results of the gold items instead, each from a run that did not know its gold
        (what the reliability picture compares with gold)."""
        if not len(answers):
            return QuestionOutcome(method, {})
        space = LabelSpace(question)
        labels = space.codes(answers.values)
        items, item_codes = _dense(answers.items)
        workers, worker_codes = _dense(answers.workers)
        gold_codes = np.full(items.size, NO_LABEL, dtype=np.int64)
        positions = np.searchsorted(items, np.fromiter(gold, dtype=np.int64, count=len(gold)))
        for position, (item_id, value) in zip(positions.tolist(), gold.items(), strict=True):
            if position < items.size and items[position] == item_id:
                gold_codes[position] = space.code(value)
        coded = Answers(item_codes, worker_codes, labels, items.size, workers.size, max(len(space.labels), 1))
        # With gold, the consensus error comes from the gold items, judged without their own gold.
        result = aggregate_with_gold(METHODS[method], coded, gold_codes)
        result.labels = np.where(
            result.labels == NO_LABEL, NO_LABEL, argmax_ties_by_key(result.posteriors, items, space.tie_keys())
        )
        keep = ((gold_codes != NO_LABEL) if gold_items else (gold_codes == NO_LABEL)) & (result.labels != NO_LABEL)
        by_item = _results(
            items[keep],
            space.values(result.labels[keep]),
            result.confidence[keep],
            coded.answer_count()[keep],
            result.agreement(coded)[keep],
        )
        per_worker = np.bincount(worker_codes, minlength=workers.size)
        accuracy = (
            {}
            if result.worker_accuracy is None
            else dict(zip(workers.tolist(), result.worker_accuracy.tolist(), strict=True))
        )
        estimates = {
            "labels": space.labels,
            "prior": result.posteriors.mean(axis=0).tolist(),
            "accuracy": {str(w): a for w, a in accuracy.items()},
            "temperature": result.temperature,
            "consensus_error": result.consensus_error,
            "chosen": result.chosen,
            "gold_items": int((gold_codes != NO_LABEL).sum()),
        }
        answered = dict(zip(workers.tolist(), per_worker.tolist(), strict=True)) if accuracy else {}
        return QuestionOutcome(method, by_item, accuracy, answered, estimates)

    def few(self, question, method, answers, estimates):
        """A one-coin posterior with each worker's cached accuracy (a worker not seen yet counts as typical),
        calibrated with the whole pass's temperature and consensus error: the cost is that of these items' own
        answers; the next whole pass refines the results."""
        if not len(answers):
            return QuestionOutcome(method, {})
        estimates = estimates or {"labels": [], "prior": [], "accuracy": {}}
        space = LabelSpace(question, estimates["labels"])
        labels = space.codes(answers.values)
        items, item_codes = _dense(answers.items)
        k = max(len(space.labels), 1)
        prior = np.full(k, 1.0)
        prior[: len(estimates["prior"])] += np.array(estimates["prior"]) * PRIOR_WEIGHT
        cached = estimates["accuracy"]
        accuracy = np.clip([cached.get(str(w), TYPICAL_ACCURACY) for w in answers.workers], 1e-3, 1 - 1e-3)
        # One-coin posterior: a right answer multiplies its label's odds by a(K-1)/(1-a).
        bonus = np.log(accuracy * max(k - 1, 1) / (1 - accuracy))
        log_p = np.bincount(item_codes * k + labels, weights=bonus, minlength=items.size * k)
        log_p = log_p.reshape(items.size, k) + np.log(prior / prior.sum())
        temperature = estimates.get("temperature") or 1.0
        consensus_error = estimates.get("consensus_error")
        consensus_error = CONSENSUS_ERROR_PRIOR if consensus_error is None else consensus_error
        posteriors = shrink(softmax_rows(temperature * log_p), consensus_error)
        chosen = argmax_ties_by_key(posteriors, items, space.tie_keys())
        counts = np.bincount(item_codes, minlength=items.size)
        agree = np.bincount(item_codes, weights=labels == chosen[item_codes], minlength=items.size)
        confidence = posteriors[np.arange(items.size), chosen]
        return QuestionOutcome(method, _results(items, space.values(chosen), confidence, counts, agree / counts))


def _number(text: str) -> float:
    try:
        value = json.loads(text)
        return float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        return math.nan


class Numeric(Kind):
    methods = NUMERIC_METHODS
    default = "auto"

    def whole(self, question, method, answers, gold):
        if not len(answers):
            return QuestionOutcome(method, {})
        parsed: dict[str, float] = {}
        numbers = np.empty(len(answers), dtype=np.float64)
        for n, text in enumerate(answers.values):
            number = parsed.get(text)
            if number is None:
                number = parsed[text] = _number(text)
            numbers[n] = number
        items, item_codes = _dense(answers.items)
        ok = np.isfinite(numbers)
        result = NUMERIC_METHODS[method](item_codes[ok], numbers[ok], items.size)
        counts = np.bincount(item_codes[ok], minlength=items.size)
        by_item = {
            int(items[n]): ItemResult(
                float(result.values[n]), float(result.confidence[n]), int(counts[n]), float(result.agreement[n])
            )
            for n in np.flatnonzero(counts > 0).tolist()
        }
        return QuestionOutcome(method, by_item)


def _text(json_text: str) -> str:
    value = json.loads(json_text)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Text(Kind):
    methods = ("vote", "weighted")
    default = "vote"

    def whole(self, question, method, answers, gold):
        if not len(answers):
            return QuestionOutcome(method, {})
        items, item_codes = _dense(answers.items)
        _, worker_codes = _dense(answers.workers)
        result = text_vote(
            item_codes,
            worker_codes,
            [_text(t) for t in answers.values],
            items.size,
            weighted=method == "weighted",
            item_keys=items,
        )
        counts = np.bincount(item_codes, minlength=items.size)
        by_item = {
            int(items[n]): ItemResult(value, float(result.confidence[n]), int(counts[n]), float(result.agreement[n]))
            for n, value in enumerate(result.values)
            if value is not None
        }
        return QuestionOutcome(method, by_item)


class Annotation(Kind):
    """Answers that are lists (spans, boxes): each item's answers merged into one list by ``merge``. "weighted"
    weighs each worker by their agreement with the merged answers and with gold; "vote" weighs everyone 1."""

    methods = ("weighted", "vote")
    default = "weighted"
    models_workers = True

    def __init__(self, merge: Merge):
        self.merge = merge

    def _by_item(self, question: Question, answers: QuestionAnswers) -> dict[int, list[tuple[int, list[dict]]]]:
        parsed: dict[str, list[dict]] = {}
        by_item: dict[int, list[tuple[int, list[dict]]]] = {}
        for item, worker, text in zip(answers.items, answers.workers, answers.values, strict=True):
            value = parsed.get(text)
            if value is None:
                value = parsed[text] = question.normalise(json.loads(text))
            by_item.setdefault(item, []).append((worker, value))
        return by_item

    @staticmethod
    def _score(question: Question):
        """The type's own score of an answer against another (span F1, box F1 at IoU >= 0.5)."""
        return lambda given, known: question.plugin.score(question.definition, given, known)

    def _outcome(self, question, method, by_item, merged, quality=None, weights=None) -> QuestionOutcome:
        score = self._score(question)
        items = {
            item: ItemResult(
                result.value, result.confidence, len(by_item[item]), agreement(by_item[item], result.value, score)
            )
            for item, result in merged.items()
        }
        if quality is None:
            return QuestionOutcome(method, items)
        answered: dict[int, int] = {}
        for given in by_item.values():
            for worker, _ in given:
                answered[worker] = answered.get(worker, 0) + 1
        estimates = {"weights": {str(w): weight for w, weight in weights.items()}}
        return QuestionOutcome(method, items, quality, answered, estimates)

    def whole(self, question, method, answers, gold):
        if not len(answers):
            return QuestionOutcome(method, {})
        by_item = self._by_item(question, answers)
        known = {item: question.normalise(value) for item, value in gold.items() if item in by_item}
        result = aggregate(by_item, self.merge, self._score(question), known, weighted=method == "weighted")
        merged = {item: m for item, m in result.items.items() if item not in known}
        return self._outcome(question, method, by_item, merged, result.quality, result.weights)

    def few(self, question, method, answers, estimates):
        """Each item merged with the weights of the last whole pass (a worker not seen then weighs 1)."""
        if not len(answers):
            return QuestionOutcome(method, {})
        by_item = self._by_item(question, answers)
        weights = None
        if method == "weighted" and estimates:
            weights = {int(w): weight for w, weight in estimates["weights"].items()}
        merged = {item: self.merge(given, weights) for item, given in sorted(by_item.items())}
        return self._outcome(question, method, by_item, merged)


KINDS: dict[str, Kind] = {
    "categorical": Categorical(),
    "numeric": Numeric(),
    "text": Text(),
    "spans": Annotation(merge_spans),
    "boxes": Annotation(merge_boxes),
}


def kind_of(question: Question) -> Kind:
    return KINDS[question.plugin.aggregation]


def method_of(question: Question, requested: str | None) -> str:
    """The method a question is aggregated with: the job's, if it is one of the question's kind, else the
    kind's default."""
    return kind_of(question).method(requested or DEFAULT_METHOD)
