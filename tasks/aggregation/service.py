"""Results in the database: read a job's counting answers, aggregate them, write every item's result in bulk.

``job_results_refresh`` re-aggregates a whole job (worker estimates improve with every answer, so every item's
result may move) and caches the worker estimates in Redis; ``items_results_refresh`` updates just the items of a
microtask that has its answers, using those cached estimates, so a result appears at once without a job-wide
pass. Answers are read as plain rows (raw SQL), never as model instances, and results are written with COPY into a
temporary table and one UPDATE ... FROM.

Coding per question type: single choice -> option index (a value outside the options gets a code of its own);
multiple choice -> the chosen SET is one label (options sorted in option order), so "a and b" is one answer, and
the result is the set the crowd agrees on; number -> numeric methods; free text -> vote over normalised text.
Gold items are never written (their result is their gold) but their known answers teach the method about workers.
"""

import json
import logging
import math
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from quorum.redis import get_redis, key

from ..intake.loading import copy_text
from ..models import Job
from .base import NO_LABEL, Answers, argmax_ties_by_key
from .categorical import DEFAULT_METHOD, METHODS, TYPICAL_ACCURACY
from .numeric import NUMERIC_METHODS
from .text import text_vote

log = logging.getLogger(__name__)

# Worker estimates of a job's last full refresh, for items_results_refresh; a day is far longer than the time
# between two full refreshes of an active job.
ESTIMATES_TTL_SECONDS = 24 * 3600

ANSWERS_SQL = """
SELECT a.item_id, a.worker_id, {value}
FROM tasks_answer a
WHERE a.job_id = %s AND a.counts {items}
ORDER BY a.id
"""


@dataclass
class RefreshSummary:
    job_id: int
    method: str
    items_updated: int  # items whose stored result changed
    answers: int
    worker_accuracy: dict[int, float] = field(default_factory=dict)


def _value_sql(question_type: str) -> str:
    # #>> '{}' is the JSON scalar as text; multiple choice needs the array itself.
    return "a.value::text" if question_type == "multiple_choice" else "a.value #>> '{}'"


def _read_answers(job: Job, item_ids: list[int] | None) -> list[tuple[int, int, str]]:
    items_sql = "AND a.item_id = ANY(%s)" if item_ids is not None else ""
    params: list = [job.pk] + ([list(item_ids)] if item_ids is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(ANSWERS_SQL.format(value=_value_sql(job.question_type), items=items_sql), params)
        rows = cursor.fetchall()
    # A worker answers an item once per microtask; should a row repeat, the later one (higher id) wins.
    latest = {(item, worker): value for item, worker, value in rows if value is not None}
    return [(item, worker, value) for (item, worker), value in latest.items()]


def _read_gold(job: Job) -> dict[int, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, gold::text FROM tasks_item WHERE job_id = %s AND gold IS NOT NULL", [job.pk])
        return {item_id: json.loads(gold) for item_id, gold in cursor.fetchall()}


class _LabelSpace:
    """Strings <-> label codes: the job's options first (so codes are option indexes), then anything else seen."""

    def __init__(self, job: Job):
        self.multiple = job.question_type == "multiple_choice"
        self.options = [str(o) for o in job.options or ()]
        self.order = {o: n for n, o in enumerate(self.options)}
        self.labels: list[str] = [] if self.multiple else list(self.options)
        self.index = {label: n for n, label in enumerate(self.labels)}

    def canonical(self, value: object) -> str:
        if not self.multiple:
            return str(value)
        chosen = value if isinstance(value, list) else json.loads(value) if isinstance(value, str) else [value]
        unique = sorted({str(c) for c in chosen}, key=lambda c: (self.order.get(c, len(self.order)), c))
        return json.dumps(unique, ensure_ascii=False)

    def code(self, value: object) -> int:
        label = self.canonical(value)
        found = self.index.get(label)
        if found is None:
            found = self.index[label] = len(self.labels)
            self.labels.append(label)
        return found

    def result(self, code: int) -> object:
        label = self.labels[code]
        return json.loads(label) if self.multiple else label


# After a whole-job pass: a human result whose item has no counting answer left (its only workers were blocked,
# say) goes, rather than stand as if someone still gave it.
CLEAR_UNANSWERED_SQL = """
UPDATE tasks_item i
SET result = NULL, confidence = NULL, result_method = '', result_source = '', answer_count = 0, agreement = NULL,
    result_updated_at = now()
WHERE i.job_id = %s AND i.result_source = 'human' AND i.gold IS NULL
  AND NOT EXISTS (SELECT 1 FROM aggregation_results r WHERE r.id = i.id)
"""


def _write(job: Job, rows: list[tuple[int, object, float, int, float]], method: str, *, whole_job: bool = False) -> int:
    """Write (item id, result, confidence, answer count, agreement) rows; gold and machine results are kept.
    With ``whole_job`` the rows are every answered item of the job, and the human results of the others go.

    Only items whose stored result differs are rewritten (confidence and agreement by more than 1e-4): the periodic
    whole-job refresh would otherwise rewrite every answered item each time, and that write volume (WAL that every
    commit must flush behind it) is what delays the scheduler's commits while it runs. Returns the items written.
    """
    if not rows and not whole_job:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE aggregation_results (id bigint PRIMARY KEY, result jsonb, confidence float8,"
            " answer_count integer, agreement float8) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY aggregation_results FROM STDIN") as copy:
            buffer = []
            for item_id, result, confidence, count, agreement in rows:
                buffer.append(
                    f"{item_id}\t{copy_text(json.dumps(result, ensure_ascii=False))}\t{_num(confidence)}\t{count}\t{_num(agreement)}\n"
                )
                if len(buffer) >= 5000:
                    copy.write("".join(buffer))
                    buffer.clear()
            copy.write("".join(buffer))
        # Without statistics the planner takes a temp table for a thousand rows and scans every item of the table
        # to join a few hundred.
        cursor.execute("ANALYZE aggregation_results")
        cursor.execute(
            """
            UPDATE tasks_item i
            SET result = r.result, confidence = r.confidence, result_method = %s, result_source = 'human',
                answer_count = r.answer_count, agreement = r.agreement, result_updated_at = now()
            FROM aggregation_results r
            WHERE i.id = r.id AND i.job_id = %s AND i.gold IS NULL AND i.result_source IN ('', 'human')
              AND (i.result IS DISTINCT FROM r.result OR i.answer_count IS DISTINCT FROM r.answer_count
                   OR i.result_method <> %s OR i.result_source <> 'human'
                   OR coalesce(abs(i.confidence - r.confidence) > 1e-4, i.confidence IS DISTINCT FROM r.confidence)
                   OR coalesce(abs(i.agreement - r.agreement) > 1e-4, i.agreement IS DISTINCT FROM r.agreement))
            """,
            [method, job.pk, method],
        )
        updated = cursor.rowcount
        if whole_job:
            cursor.execute(CLEAR_UNANSWERED_SQL, [job.pk])
            updated += cursor.rowcount
        # ON COMMIT DROP does not fire when the caller's transaction is still open; drop it now for the next call.
        cursor.execute("DROP TABLE aggregation_results")
        return updated


def _num(value: float) -> str:
    return "\\N" if value is None or math.isnan(value) else repr(float(value))


def _method_name(job: Job) -> str:
    name = job.aggregation_method or DEFAULT_METHOD
    if job.question_type == "number":
        return name if name in NUMERIC_METHODS else DEFAULT_METHOD
    if job.question_type == "free_text":
        return name if name in ("vote", "weighted") else "vote"
    return name if name in METHODS else DEFAULT_METHOD


def _estimates_key(job_id: int) -> str:
    return key("aggregation", "job", job_id, "workers")


def job_results_refresh(job_id: int) -> RefreshSummary:
    """Aggregate every counting answer of the job with its method and write each answered item's result.

    Runs in its own transaction (the write); safe to call again at any time, e.g. from a periodic Celery task as
    worker estimates improve. Stores the worker estimates for ``items_results_refresh``.
    """
    job = Job.objects.only("id", "question_type", "options", "aggregation_method").get(pk=job_id)
    method = _method_name(job)
    answers = _read_answers(job, None)
    if not answers:
        return RefreshSummary(job_id, method, _write(job, [], method, whole_job=True), 0)
    item_ids = np.fromiter((a[0] for a in answers), dtype=np.int64, count=len(answers))
    worker_ids = np.fromiter((a[1] for a in answers), dtype=np.int64, count=len(answers))
    unique_items, item_codes = np.unique(item_ids, return_inverse=True)
    unique_workers, worker_codes = np.unique(worker_ids, return_inverse=True)
    values = [a[2] for a in answers]

    if job.question_type in ("single_choice", "multiple_choice"):
        space = _LabelSpace(job)
        label_codes = np.fromiter((space.code(v) for v in values), dtype=np.int64, count=len(values))
        gold_codes = np.full(unique_items.size, NO_LABEL, dtype=np.int64)
        positions = {int(item_id): n for n, item_id in enumerate(unique_items)}
        for item_id, gold in _read_gold(job).items():
            if item_id in positions:
                gold_codes[positions[item_id]] = space.code(gold)
        coded = Answers(
            item_codes, worker_codes, label_codes, unique_items.size, unique_workers.size, max(len(space.labels), 1)
        )
        result = METHODS[method](coded, gold_codes)
        # Ties go by item id, as in items_results_refresh: the two passes agree and an item's result stays put.
        result.labels = np.where(
            result.labels == NO_LABEL, NO_LABEL, argmax_ties_by_key(result.posteriors, unique_items)
        )
        agreement = result.agreement(coded)
        counts = coded.answer_count()
        rows = [
            (
                int(unique_items[n]),
                space.result(int(result.labels[n])),
                float(result.confidence[n]),
                int(counts[n]),
                float(agreement[n]),
            )
            for n in range(unique_items.size)
            if gold_codes[n] == NO_LABEL and result.labels[n] != NO_LABEL
        ]
        accuracy = result.worker_accuracy
        worker_accuracy = (
            {} if accuracy is None else {int(w): float(a) for w, a in zip(unique_workers, accuracy, strict=True)}
        )
        get_redis().set(
            _estimates_key(job_id),
            json.dumps(
                {
                    "labels": space.labels,
                    "prior": (result.posteriors.mean(axis=0)).tolist(),
                    "accuracy": worker_accuracy,
                }
            ),
            ex=ESTIMATES_TTL_SECONDS,
        )
    else:
        rows = _other_rows(job, method, unique_items, item_codes, worker_codes, values)
        worker_accuracy = {}
    updated = _write(job, rows, method, whole_job=True)
    log.info("job %s: %s results by %s from %s answers", job_id, updated, method, len(answers))
    return RefreshSummary(job_id, method, updated, len(answers), worker_accuracy)


def _other_rows(job: Job, method: str, unique_items, item_codes, worker_codes, values) -> list:
    counts = np.bincount(item_codes, minlength=unique_items.size)
    if job.question_type == "number":
        numbers = np.array([_to_float(v) for v in values])
        ok = np.isfinite(numbers)
        result = NUMERIC_METHODS[method](item_codes[ok], numbers[ok], unique_items.size)
        counts = np.bincount(item_codes[ok], minlength=unique_items.size)
        return [
            (
                int(unique_items[n]),
                float(result.values[n]),
                float(result.confidence[n]),
                int(counts[n]),
                float(result.agreement[n]),
            )
            for n in range(unique_items.size)
            if counts[n] > 0
        ]
    result = text_vote(
        item_codes, worker_codes, [str(v) for v in values], unique_items.size, weighted=method == "weighted"
    )
    return [
        (
            int(unique_items[n]),
            result.values[n],
            float(result.confidence[n]),
            int(counts[n]),
            float(result.agreement[n]),
        )
        for n in range(unique_items.size)
        if result.values[n] is not None
    ]


def _to_float(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def items_results_refresh(job_id: int, item_ids: list[int]) -> int:
    """Write results for a few items (a microtask that just got its answers); returns the items written.

    Categorical jobs use the worker accuracies cached by the last ``job_results_refresh`` (a worker not seen yet
    counts as typical) in a one-coin posterior, so the cost is that of the items' own answers. The next full
    refresh refines these results. Gold items are skipped.
    """
    job = Job.objects.only("id", "question_type", "options", "aggregation_method").get(pk=job_id)
    method = _method_name(job)
    answers = _read_answers(job, list(item_ids))
    if not answers:
        return 0
    item_ids_a = np.array([a[0] for a in answers], dtype=np.int64)
    worker_ids = np.array([a[1] for a in answers], dtype=np.int64)
    unique_items, item_codes = np.unique(item_ids_a, return_inverse=True)
    _, worker_codes = np.unique(worker_ids, return_inverse=True)
    values = [a[2] for a in answers]
    if job.question_type not in ("single_choice", "multiple_choice"):
        return _write(job, _other_rows(job, method, unique_items, item_codes, worker_codes, values), method)

    space = _LabelSpace(job)
    cached = get_redis().get(_estimates_key(job_id))
    estimates = json.loads(cached) if cached else {"labels": [], "prior": [], "accuracy": {}}
    for label in estimates["labels"]:
        space.code(json.loads(label) if space.multiple else label)
    label_codes = np.array([space.code(v) for v in values], dtype=np.int64)
    k = max(len(space.labels), 1)
    prior = np.full(k, 1.0)
    prior[: len(estimates["prior"])] += np.array(estimates["prior"]) * 10
    accuracy_by_worker = estimates["accuracy"]
    accuracy = np.clip([accuracy_by_worker.get(str(w), TYPICAL_ACCURACY) for w in worker_ids], 1e-3, 1 - 1e-3)
    # One-coin posterior: a right answer multiplies its label's odds by a(K-1)/(1-a).
    bonus = np.log(accuracy * max(k - 1, 1) / (1 - accuracy))
    log_p = np.bincount(item_codes * k + label_codes, weights=bonus, minlength=unique_items.size * k)
    log_p = log_p.reshape(unique_items.size, k) + np.log(prior / prior.sum())
    log_p -= log_p.max(axis=1, keepdims=True)
    posteriors = np.exp(log_p)
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    labels = argmax_ties_by_key(posteriors, unique_items)
    counts = np.bincount(item_codes, minlength=unique_items.size)
    agree = np.bincount(item_codes, weights=label_codes == labels[item_codes], minlength=unique_items.size)
    rows = [
        (
            int(unique_items[n]),
            space.result(int(labels[n])),
            float(posteriors[n, labels[n]]),
            int(counts[n]),
            float(agree[n] / counts[n]),
        )
        for n in range(unique_items.size)
    ]
    return _write(job, rows, method)
