"""Results in the database: read a job's counting answers, aggregate each question, write every item's result in bulk.

``job_results_refresh`` re-aggregates a whole job (worker estimates improve with every answer, so every item's
result may move) and caches each question's worker estimates in Redis; ``items_results_refresh`` updates just the
items of a microtask that has its answers, using those cached estimates, so a result appears at once without a
job-wide pass. Answers are read as plain rows (raw SQL), never as model instances, and results are written with
COPY into a temporary table and one UPDATE ... FROM.

Each question of the job's form (``tasks.forms.Form``) is aggregated on its own (``per_question``: coded through
its plugin, by the methods of its aggregation kind). A job with one question keeps its bare result on the item;
a form gets {name: result} in ``Item.result``, each question's details in ``Item.results``, and the lowest
confidence of the questions that apply (given the results) in ``Item.confidence``, so adaptive redundancy asks
for more answers until every question is sure enough (docs/FORMS.md).
Gold items are never written (their result is their gold) but their known answers teach the method about workers.
"""

import json
import logging
import math
from dataclasses import dataclass, field

from django.db import connection, transaction

from quorum.redis import get_redis, key
from webhooks.services import item_results_update

from ..forms import Form
from ..intake.loading import copy_text
from ..models import Job
from .calibration import CONSENSUS_ERROR_PRIOR, reachable_target
from .per_question import ItemResult, QuestionAnswers, QuestionOutcome, kind_of, method_of

log = logging.getLogger(__name__)

# Worker estimates of a job's last full refresh, for items_results_refresh; a day is far longer than the time
# between two full refreshes of an active job.
ESTIMATES_TTL_SECONDS = 24 * 3600
# A form's per-question confidence and agreement are stored to this many places: a pass that moves them less
# leaves Item.results as it is, so the item is not rewritten (see _write).
STORED_PLACES = 4
# Item.result_method of a form whose questions use different methods.
FORM_METHOD = "form"

ANSWERS_SQL = """
SELECT a.item_id, a.worker_id, {values}
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


@dataclass
class FormAnswers:
    """A job's counting answers split by question, and the answers (whole forms) each item got."""

    by_question: dict[str, QuestionAnswers]
    per_item: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.per_item.values())


def read_job_answers(form: Form, job_id: int, item_ids: list[int] | None) -> FormAnswers:
    """Each question's values as JSON text: a one-question job stores the bare value, a form {name: value}, of
    which each question's is taken out in SQL; a question left out (hidden, optional) has no answer there."""
    if form.single:
        values_sql, params = "a.value::text", []
    else:
        values_sql = ", ".join("(a.value -> %s::text)::text" for _ in form.questions)
        params = [q.name for q in form.questions]
    items_sql = "AND a.item_id = ANY(%s)" if item_ids is not None else ""
    params += [job_id] + ([list(item_ids)] if item_ids is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(ANSWERS_SQL.format(values=values_sql, items=items_sql), params)
        rows = cursor.fetchall()
    # A worker answers an item once per microtask; should a row repeat, the later one (higher id) wins.
    latest = {(row[0], row[1]): row[2:] for row in rows}
    by_question = {q.name: QuestionAnswers() for q in form.questions}
    per_item: dict[int, int] = {}
    for (item, worker), values in latest.items():
        given = False
        for question, value in zip(form.questions, values, strict=True):
            if value is not None and value != "null":
                by_question[question.name].add(item, worker, value)
                given = True
        if given:
            per_item[item] = per_item.get(item, 0) + 1
    return FormAnswers(by_question, per_item)


def read_job_gold(job: Job) -> dict[int, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, gold::text FROM tasks_item WHERE job_id = %s AND gold IS NOT NULL", [job.pk])
        return {item_id: json.loads(gold) for item_id, gold in cursor.fetchall()}


# After a whole-job pass: a human result whose item has no counting answer left (its only workers were blocked,
# say) goes, rather than stand as if someone still gave it.
CLEAR_UNANSWERED_SQL = """
UPDATE tasks_item i
SET result = NULL, results = NULL, confidence = NULL, result_method = '', result_source = '', answer_count = 0,
    agreement = NULL, result_updated_at = now(), result_version = i.result_version + 1
WHERE i.job_id = %s AND i.result_source = 'human' AND i.gold IS NULL
  AND NOT EXISTS (SELECT 1 FROM aggregation_results r WHERE r.id = i.id)
"""

COPY_NULL = "\\N"
# (item id, result, confidence, answer count, agreement, per-question results of a form or None)
Row = tuple[int, object, float, int, float, dict | None]


def _write(job: Job, rows: list[Row], method: str, *, whole_job: bool = False) -> int:
    """Write result rows; gold and machine results are kept. With ``whole_job`` the rows are every answered item
    of the job, and the human results of the others go.

    Only items whose stored result differs are rewritten (confidence and agreement by more than 1e-4; a form's
    per-question figures are stored rounded for the same reason): the periodic whole-job refresh would otherwise
    rewrite every answered item each time, and that write volume (WAL that every commit must flush behind it) is
    what delays the scheduler's commits while it runs. Returns the items written.
    """
    if not rows and not whole_job:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE aggregation_results (id bigint PRIMARY KEY, result jsonb, confidence float8,"
            " answer_count integer, agreement float8, results jsonb) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY aggregation_results FROM STDIN") as copy:
            buffer = []
            for item_id, result, confidence, count, agreement, results in rows:
                buffer.append(
                    f"{item_id}\t{_json(result)}\t{_num(confidence)}\t{count}\t{_num(agreement)}"
                    f"\t{COPY_NULL if results is None else _json(results)}\n"
                )
                if len(buffer) >= 5000:
                    copy.write("".join(buffer))
                    buffer.clear()
            copy.write("".join(buffer))
        # Without statistics the planner takes a temp table for a thousand rows and scans every item of the table
        # to join a few hundred.
        cursor.execute("ANALYZE aggregation_results")
        # Each changed item gets a new result_version and, for a requester subscribed to item.result webhooks, is
        # recorded in the outbox by the same statement (webhooks.services.item_results_update).
        updated = item_results_update(
            cursor,
            job.pk,
            """
            UPDATE tasks_item i
            SET result = r.result, results = r.results, confidence = r.confidence, result_method = %s,
                result_source = 'human', answer_count = r.answer_count, agreement = r.agreement,
                result_updated_at = now(), result_version = i.result_version + 1
            FROM aggregation_results r
            WHERE i.id = r.id AND i.job_id = %s AND i.gold IS NULL AND i.result_source IN ('', 'human')
              AND (i.result IS DISTINCT FROM r.result OR i.answer_count IS DISTINCT FROM r.answer_count
                   OR i.results IS DISTINCT FROM r.results
                   OR i.result_method <> %s OR i.result_source <> 'human'
                   OR coalesce(abs(i.confidence - r.confidence) > 1e-4, i.confidence IS DISTINCT FROM r.confidence)
                   OR coalesce(abs(i.agreement - r.agreement) > 1e-4, i.agreement IS DISTINCT FROM r.agreement))
            """,
            [method, job.pk, method],
        )
        if whole_job:
            updated += item_results_update(cursor, job.pk, CLEAR_UNANSWERED_SQL, [job.pk])
        # ON COMMIT DROP does not fire when the caller's transaction is still open; drop it now for the next call.
        cursor.execute("DROP TABLE aggregation_results")
        return updated


def _json(value) -> str:
    return copy_text(json.dumps(value, ensure_ascii=False))


def _num(value: float | None) -> str:
    return COPY_NULL if value is None or math.isnan(value) else repr(float(value))


def _stored(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, STORED_PLACES)


# --- a job's questions ----------------------------------------------------------------------------------------------
def _form_of(job_id: int) -> tuple[Job, Form, dict[str, str]]:
    """The job, its form, and each question's method."""
    job = Job.objects.get(pk=job_id)
    form = Form.for_job(job)
    return job, form, {q.name: method_of(q, job.aggregation_method) for q in form.questions}


def _job_method(methods: dict[str, str]) -> str:
    """Item.result_method: the method, or FORM_METHOD where a form's questions use different ones."""
    distinct = set(methods.values())
    return distinct.pop() if len(distinct) == 1 else FORM_METHOD


def _rows(form: Form, outcomes: dict[str, QuestionOutcome], answers: FormAnswers) -> list[Row]:
    """One row per answered item. A one-question job: the question's result as before forms. A form: each
    question's result where it applies given the results of the questions it depends on (in question order, so a
    parent's result is known before its children); the item's confidence and agreement are the lowest of those."""
    if form.single:
        outcome = outcomes[form.questions[0].name]
        return [(i, r.result, r.confidence, r.answers, r.agreement, None) for i, r in outcome.items.items()]
    rows: list[Row] = []
    for item_id, count in answers.per_item.items():
        values: dict[str, object] = {}
        details: dict[str, dict] = {}
        shown: list[ItemResult] = []
        for question in form.questions:
            outcome = outcomes[question.name]
            found = outcome.items.get(item_id)
            applies = found is not None and form.applies(question, values)
            if applies:
                values[question.name] = found.result
                shown.append(found)
            # A question hidden by its parent's result has no result, and its few answers no say in the item's
            # confidence.
            details[question.name] = {
                "result": found.result if applies else None,
                "confidence": _stored(found.confidence) if applies else None,
                "method": outcome.method,
                "answers": found.answers if found is not None else 0,
                "agreement": _stored(found.agreement) if applies else None,
            }
        result = {q.name: values.get(q.name) for q in form.questions}
        confidence = min((r.confidence for r in shown), default=math.nan)
        agreement = min((r.agreement for r in shown), default=math.nan)
        rows.append((item_id, result, confidence, count, agreement, details))
    return rows


def _worker_accuracy(outcomes: dict[str, QuestionOutcome]) -> dict[int, float]:
    """Each worker's estimated accuracy on the job: over the questions whose method estimates it, weighted by
    the worker's answers to each."""
    weighted: dict[int, float] = {}
    answered: dict[int, int] = {}
    for outcome in outcomes.values():
        for worker, accuracy in outcome.worker_accuracy.items():
            n = outcome.worker_answers.get(worker, 1)
            weighted[worker] = weighted.get(worker, 0.0) + accuracy * n
            answered[worker] = answered.get(worker, 0) + n
    return {worker: weighted[worker] / answered[worker] for worker in weighted if answered[worker]}


def estimates_key(job_id: int, question: str) -> str:
    # The job's questions under one Redis Cluster hash tag: they are read together (MGET needs one slot).
    return f"{{{key('aggregation', 'job', job_id)}}}:question:{question}:workers"


def stop_confidence(job: Job) -> float:
    """The stored item confidence at which adaptive redundancy stops asking: the job's target applies to the
    consensus confidence (more answers cannot raise the rest), so a categorical question's stored, calibrated
    confidence stops at ``reachable_target`` under its consensus error (the last whole pass's, else the prior).
    An item's stored confidence is the lowest over its questions, so the lowest such level counts."""
    form = Form.for_job(job)
    categorical = [q for q in form.questions if kind_of(q).models_workers]
    if not categorical:
        return job.target_confidence
    cached = get_redis().mget([estimates_key(job.pk, q.name) for q in categorical])
    levels = []
    for question, text in zip(categorical, cached, strict=True):
        estimates = json.loads(text) if text else {}
        error = estimates.get("consensus_error")
        n_labels = max(len(estimates.get("labels") or question.plugin.labels(question.definition)), 2)
        levels.append(
            reachable_target(job.target_confidence, CONSENSUS_ERROR_PRIOR if error is None else error, n_labels)
        )
    return min(levels)


def job_results_refresh(job_id: int) -> RefreshSummary:
    """Aggregate every counting answer of the job, question by question, and write each answered item's result.

    Runs in its own transaction (the write); safe to call again at any time, e.g. from a periodic Celery task as
    worker estimates improve. Stores each question's worker estimates for ``items_results_refresh``.
    """
    job, form, methods = _form_of(job_id)
    method = _job_method(methods)
    answers = read_job_answers(form, job.pk, None)
    if not answers.per_item:
        return RefreshSummary(job_id, method, _write(job, [], method, whole_job=True), 0)
    gold = {item: form.values(value) for item, value in read_job_gold(job).items()}
    outcomes: dict[str, QuestionOutcome] = {}
    pipe = get_redis().pipeline(transaction=False)
    for question in form.questions:
        kind = kind_of(question)
        known = {item: values[question.name] for item, values in gold.items() if question.name in values}
        outcome = outcomes[question.name] = kind.whole(
            question, methods[question.name], answers.by_question[question.name], known
        )
        if outcome.estimates is not None:
            pipe.set(estimates_key(job_id, question.name), json.dumps(outcome.estimates), ex=ESTIMATES_TTL_SECONDS)
    pipe.execute()
    updated = _write(job, _rows(form, outcomes, answers), method, whole_job=True)
    log.info("job %s: %s results by %s from %s answers", job_id, updated, method, answers.total)
    return RefreshSummary(job_id, method, updated, answers.total, _worker_accuracy(outcomes))


def items_results_refresh(job_id: int, item_ids: list[int]) -> int:
    """Write results for a few items (a microtask that just got its answers); returns the items written.

    Questions whose method estimates workers use the estimates cached by the last ``job_results_refresh`` (a
    worker not seen yet counts as typical), so the cost is that of the items' own answers. The next full refresh
    refines these results. Gold items are skipped.
    """
    job, form, methods = _form_of(job_id)
    answers = read_job_answers(form, job.pk, list(item_ids))
    if not answers.per_item:
        return 0
    caching = [q for q in form.questions if kind_of(q).models_workers]
    cached = get_redis().mget([estimates_key(job_id, q.name) for q in caching]) if caching else []
    estimates = {q.name: json.loads(c) if c else None for q, c in zip(caching, cached, strict=True)}
    outcomes = {
        q.name: kind_of(q).few(q, methods[q.name], answers.by_question[q.name], estimates.get(q.name))
        for q in form.questions
    }
    return _write(job, _rows(form, outcomes, answers), _job_method(methods))
