"""The automated path on the database: which items the machine answers, which go to people, and in what order.

One run (``automation_run``) for one job:

1. judges the audit sample (machine answers that people also answered) and stops automation, with the reason,
   when the machine's measured accuracy is below the target;
2. computes the features of items that have none yet (once per item, stored in ItemEmbedding);
3. trains on the human results (and gold answers) with cross-fitting, so every labelled item also gets an
   out-of-fold prediction for calibration (calibration.py);
4. answers the confident items: their microtasks are closed (status ``done``) so the scheduler never leases
   them, except a random audit share that stays open for people;
5. ranks the remaining open microtasks least confident first (``Microtask.rank``, lower is served first), or in
   random order while it declines, so that people's next results sample the whole job.

Before the first model there is nothing to rank by, so the open microtasks get random ranks: the first
human answers are a random sample. Gold items and microtasks that people have started are never taken.
"""

import logging
import math
import random
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from tasks.forms import Form
from tasks.models import (
    Assignment,
    AutomationAudit,
    AutomationStatus,
    Item,
    ItemEmbedding,
    Job,
    Microtask,
)
from tasks.scheduling import pool
from webhooks.services import item_results_update

from . import calibration
from .embeddings import device_label
from .questions import text_column, unsupported_reason
from .selectors import unranked_microtasks
from .solvers import Solver, get_solver

log = logging.getLogger(__name__)

ENCODE_CHUNK = 2048
# Items per chunk when features stream from the database.
CHUNK = 10_000


def setting(name: str, default):
    return getattr(settings, f"QUORUM_AUTOMATION_{name}", default)


def first_sample_size(job: Job) -> int:
    """Human results needed before the first model: enough for cross-fitting and a calibration bound."""
    return max(int(setting("MIN_LABELS", 100)), math.ceil(float(setting("FIRST_SAMPLE_SHARE", 0.0)) * job.item_count))


def text_value(value: object) -> str:
    """The text the model reads from an item's text field: a string's stripped text, else nothing."""
    return value.strip() if isinstance(value, str) else ""


@dataclass
class RunSummary:
    status: str
    reason: str = ""
    labelled: int = 0
    threshold: float | None = None
    taken_items: int = 0
    audited_items: int = 0
    ranked_microtasks: int = 0
    embedded: int = 0
    timings: dict[str, float] = field(default_factory=dict)


# --- features -------------------------------------------------------------------------------------------------


def embeddings_ensure(job: Job, solver: Solver) -> int:
    """Compute and store features for every item of the job that has none from this solver; returns how many."""
    missing = (
        Item.objects.filter(job=job)
        .exclude(Exists(ItemEmbedding.objects.filter(item=OuterRef("pk"), encoder=solver.feature_name)))
        .order_by("position")
        .values_list("pk", "data")
    )
    done = 0
    column = text_column(job)
    chunk: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal done
        vectors = solver.encode([text for _, text in chunk])
        rows = [
            ItemEmbedding(item_id=pk, job=job, encoder=solver.feature_name, vector=vector.tobytes())
            for (pk, _), vector in zip(chunk, vectors, strict=True)
        ]
        ItemEmbedding.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["item"], update_fields=["encoder", "vector"]
        )
        done += len(rows)
        chunk.clear()

    for pk, data in missing.iterator(chunk_size=ENCODE_CHUNK):
        chunk.append((pk, text_value(data.get(column) if isinstance(data, dict) else None)))
        if len(chunk) >= ENCODE_CHUNK:
            flush()
    if chunk:
        flush()
    return done


def features_in_chunks(items, solver: Solver, *fields: str) -> Iterator[tuple[list[tuple], np.ndarray]]:
    """(values of ``fields``, features) for a queryset of items, CHUNK items at a time, streamed from a
    server-side cursor: a job of a million items never has all its vectors in memory at once. Items without
    features from this solver are left out."""
    rows: list[tuple] = []
    vectors: list[np.ndarray] = []
    columns = items.values_list(*fields, "embedding__vector", "embedding__encoder")
    for *values, vector, encoder in columns.iterator(chunk_size=CHUNK):
        if vector is None or encoder != solver.feature_name:
            continue
        rows.append(tuple(values))
        vectors.append(np.frombuffer(bytes(vector), dtype=np.float32))
        if len(rows) == CHUNK:
            yield rows, np.stack(vectors)
            rows, vectors = [], []
    if rows:
        yield rows, np.stack(vectors)


def embeddings_load(job: Job, solver: Solver) -> dict[int, np.ndarray]:
    """Every item's features, by item id: for small jobs (benchmarks, tests); runs stream them."""
    out: dict[int, np.ndarray] = {}
    for rows, x in features_in_chunks(Item.objects.filter(job=job), solver, "pk"):
        out.update(zip((pk for (pk,) in rows), x, strict=True))
    return out


# --- learning ---------------------------------------------------------------------------------------------------


def cross_fit(
    solver: Solver, x: np.ndarray, y: np.ndarray, n_classes: int, folds: int, seed: int
) -> tuple[np.ndarray, list[Solver]]:
    """Out-of-fold probabilities (each row predicted by a model trained without it) and the fold models."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    out = np.zeros((len(y), n_classes), dtype=np.float64)
    models = []
    for fold in range(folds):
        held = order[fold::folds]
        train = np.setdiff1d(order, held)
        model = solver.fresh()
        model.fit(x[train], y[train], n_classes, seed=seed)
        out[held] = model.predict_proba(x[held])
        models.append(model)
    return out, models


def ensemble_predict(models: list[Solver], x: np.ndarray) -> np.ndarray:
    """Mean probability of the fold models: the same models that produced the calibration scores, so the
    calibration map fits these scores (a model refitted on all labels would be more confident than its map)."""
    return np.mean([model.predict_proba(x) for model in models], axis=0)


def training_set(job: Job, solver: Solver, ids: list[int], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the labelled items, in the order given (an item without features is left out)."""
    vectors: dict[int, np.ndarray] = {}
    for start in range(0, len(ids), CHUNK):
        items = Item.objects.filter(job=job, pk__in=ids[start : start + CHUNK])
        for rows, x in features_in_chunks(items, solver, "pk"):
            vectors.update(zip((pk for (pk,) in rows), x, strict=True))
    keep = [r for r, pk in enumerate(ids) if pk in vectors]
    return np.stack([vectors[ids[r]] for r in keep]), np.asarray([labels[r] for r in keep])


def labelled_items(job: Job, options: list[str]) -> tuple[list[int], list[int], int]:
    """Item ids and class indexes of the human results and gold answers to learn from; and the human count."""
    index = {option: i for i, option in enumerate(options)}
    min_confidence = float(setting("MIN_HUMAN_CONFIDENCE", 0.5))
    rows = Item.objects.filter(job=job).filter(
        Q(gold__isnull=False) | Q(result_source=Item.Source.HUMAN, result__isnull=False)
    )
    ids: list[int] = []
    labels: list[int] = []
    humans = 0
    # In id order, so that a seed assigns the same items to the same cross-fitting folds run after run.
    for pk, gold, result, confidence in (
        rows.order_by("pk").values_list("pk", "gold", "result", "confidence").iterator(chunk_size=10_000)
    ):
        if gold is not None:
            label = gold
        else:
            humans += 1
            if confidence is not None and confidence < min_confidence:
                continue  # people disagreed too much for this to teach the model
            label = result
        if isinstance(label, str) and label in index:
            ids.append(pk)
            labels.append(index[label])
    return ids, labels, humans


# --- the run ----------------------------------------------------------------------------------------------------


def job_update(job: Job, **fields) -> None:
    fields["automation_updated_at"] = timezone.now()
    Job.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def audits_judge(job: Job) -> bool:
    """Compare audited machine answers with the human results that arrived; stop automation when the measured
    accuracy is below the target. Returns True when automation was stopped."""
    pending = AutomationAudit.objects.filter(
        job=job, correct__isnull=True, item__result_source=Item.Source.HUMAN, item__result__isnull=False
    ).select_related("item")
    judged = []
    for audit in pending:
        audit.correct = audit.item.result == audit.label
        judged.append(audit)
    if judged:
        AutomationAudit.objects.bulk_update(judged, ["correct"])
    total = AutomationAudit.objects.filter(job=job, correct__isnull=False).count()
    right = AutomationAudit.objects.filter(job=job, correct=True).count()
    job_update(job, automation_audits_judged=total, automation_audits_correct=right)
    target = job.automation_target_accuracy
    if total < int(setting("AUDIT_MIN", 10)) or right / total >= target:
        return False
    # Stop on evidence, not on one unlucky check: the upper bound must also be below the target.
    upper = calibration.clopper_pearson_upper(right, total, float(setting("AUDIT_DELTA", 0.05)))
    if upper >= target:
        return False
    reason = (
        f"people checked {total} machine answers and {right} were right ({right / total:.1%}), below the target"
        f" of {target:.0%}; the machine takes no more items and people answer the rest"
    )
    job_update(job, automation_status=AutomationStatus.STOPPED, automation_reason=reason)
    log.warning("automation stopped for job %s: %s", job.pk, reason)
    return True


def open_microtasks(job: Job):
    """Open ordinary microtasks of the job, with whether people have started them."""
    leased = Assignment.objects.filter(microtask=OuterRef("pk"), status=Assignment.Status.LEASED)
    return Microtask.objects.filter(job=job, status=Microtask.Status.OPEN, is_gold=False).annotate(
        leased=Exists(leased)
    )


@dataclass
class OpenMicrotasks:
    """The job's open ordinary microtasks as arrays, in index order (a million of them fit in a few MB)."""

    index: np.ndarray
    answer_count: np.ndarray
    leased: np.ndarray
    item_count: np.ndarray

    @classmethod
    def of(cls, job: Job) -> "OpenMicrotasks":
        columns = [array("q") for _ in range(4)]
        rows = open_microtasks(job).order_by("index").values_list("index", "answer_count", "leased", "item_count")
        for row in rows.iterator(chunk_size=CHUNK):
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        index, answer_count, leased, item_count = (np.frombuffer(c, dtype=np.int64) for c in columns)
        return cls(index, answer_count, leased.astype(bool), item_count)


UPDATE_RANKS_SQL = (
    "UPDATE tasks_microtask m SET rank = v.rank FROM unnest(%s::integer[], %s::float8[]) AS v(index, rank)"
    " WHERE m.job_id = %s AND m.index = v.index"
)


def ranks_write(job: Job, indexes: np.ndarray, ranks: np.ndarray) -> None:
    """Set the ranks of the job's microtasks (by index): one statement per CHUNK of them, not one per row."""
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(indexes), CHUNK):
            chunk = slice(start, start + CHUNK)
            cursor.execute(UPDATE_RANKS_SQL, [indexes[chunk].tolist(), ranks[chunk].tolist(), job.pk])
    # The scheduler's window follows the new order (and forgets microtasks the machine took).
    transaction.on_commit(lambda: pool.pool_invalidate(job.pk))


def ranks_randomise(job: Job, seed: int | None, *, unranked_only: bool = False) -> int:
    """Random ranks (1 to 2), so the first human answers are a random sample of the job, not the top of the file.
    ``unranked_only``: just the microtasks still at the default rank 0, those of an upload since the last draw."""
    rng = random.Random(seed)
    # In index order: a seed then draws the same sample however the rows happen to lie in the table.
    if unranked_only:
        unranked = unranked_microtasks(job).order_by("index").values_list("index", flat=True)
        indexes = np.fromiter(unranked.iterator(chunk_size=CHUNK), dtype=np.int64)
    else:
        indexes = OpenMicrotasks.of(job).index
    ranks_write(job, indexes, np.array([1 + rng.random() for _ in range(len(indexes))]))
    return len(indexes)


@dataclass
class Candidates:
    """The items the machine may answer, in job order, with the model's answer and confidence."""

    item_ids: np.ndarray
    microtasks: np.ndarray  # the microtask index of each item
    answer: np.ndarray
    confidence: np.ndarray


def candidates_predict(job: Job, solver: Solver, models: list[Solver]) -> Candidates:
    """Items of open ordinary microtasks without a result, gold answer or audit; an item without text is left
    to people. Predicted a chunk at a time."""
    open_microtask = Microtask.objects.filter(
        job=job, index=OuterRef("microtask_index"), status=Microtask.Status.OPEN, is_gold=False
    )
    items = (
        Item.objects.filter(job=job, gold__isnull=True, result__isnull=True)
        .filter(Exists(open_microtask))
        .exclude(Exists(AutomationAudit.objects.filter(item=OuterRef("pk"))))
        .order_by("position")
        .annotate(text=KeyTransform(text_column(job), "data"))  # the text column only, not the whole item
    )
    parts: list[tuple[np.ndarray, ...]] = []
    for rows, x in features_in_chunks(items, solver, "pk", "microtask_index", "text"):
        keep = [r for r, (_, _, text) in enumerate(rows) if text_value(text)]
        if keep:
            probs = ensemble_predict(models, x[keep])
            ids = np.array([rows[r][:2] for r in keep], dtype=np.int64)
            parts.append((ids[:, 0], ids[:, 1], probs.argmax(axis=1), probs.max(axis=1)))
    if not parts:
        return Candidates(*(np.zeros(0, dtype=t) for t in (np.int64, np.int64, np.int64, np.float64)))
    return Candidates(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def answered_scores(job: Job, solver: Solver, models: list[Solver], options: list[str]) -> np.ndarray | None:
    """The current model's probability for each answer the machine already gave on the job (taken or audited)."""
    index = {option: i for i, option in enumerate(options)}
    scores = []
    given = [
        (Item.objects.filter(job=job, result_source=Item.Source.MACHINE), "result"),
        (Item.objects.filter(job=job, audit__isnull=False), "audit__label"),
    ]
    for items, label_field in given:
        for rows, x in features_in_chunks(items, solver, label_field):
            keep = [r for r, (label,) in enumerate(rows) if label in index]
            if keep:
                probs = ensemble_predict(models, x[keep])
                scores.append(probs[np.arange(len(keep)), [index[rows[r][0]] for r in keep]])
    return np.concatenate(scores) if scores else None


def positions_in(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``wanted``: its position in the sorted array ``keys`` and whether it is there at all (the
    position of a missing one is a valid index, to be masked out)."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    where = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
    return where, keys[where] == wanted


MACHINE_ANSWERS_SQL = (
    "UPDATE tasks_item i SET result = to_jsonb(v.label), confidence = v.confidence, result_source = %s,"
    " result_method = %s, result_updated_at = %s, result_version = i.result_version + 1"
    " FROM unnest(%s::bigint[], %s::text[], %s::float8[]) AS v(id, label, confidence)"
    " WHERE i.job_id = %s AND i.id = v.id"
)

# Open microtasks the machine may take, locked; one the scheduler holds right now is skipped, not waited for.
LOCK_TAKEN_SQL = (
    "SELECT m.index, m.answers_wanted FROM tasks_microtask m"
    " WHERE m.job_id = %s AND m.index = ANY(%s) AND m.status = %s AND m.answer_count = 0"
    " AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.microtask_id = m.id AND a.status = %s)"
    " FOR UPDATE OF m SKIP LOCKED"
)


def automation_run(job_id: int, *, seed: int | None = None) -> RunSummary:
    """One automation round for a job. Safe to repeat; run one at a time per job (the automation Celery worker
    has concurrency 1)."""
    job = Job.objects.get(pk=job_id)
    if not job.automation_enabled:
        if job.automation_status != AutomationStatus.OFF:
            job_update(job, automation_status=AutomationStatus.OFF, automation_reason="")
        return RunSummary(AutomationStatus.OFF)
    if job.automation_status == AutomationStatus.STOPPED or job.status != Job.Status.OPEN:
        return RunSummary(job.automation_status, job.automation_reason)  # a paused or cancelled job gets no answers
    reason = unsupported_reason(job)
    if reason:
        job_update(job, automation_status=AutomationStatus.UNSUPPORTED, automation_reason=reason)
        return RunSummary(AutomationStatus.UNSUPPORTED, reason)
    if audits_judge(job):
        return RunSummary(AutomationStatus.STOPPED, job.automation_reason)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    solver = get_solver()
    embedded = embeddings_ensure(job, solver)
    timings["embed"] = time.perf_counter() - started

    question = Form.for_job(job).questions[0]  # the one question (unsupported_reason saw to it)
    options = question.plugin.labels(question.definition)
    ids, labels, humans = labelled_items(job, options)
    needed = first_sample_size(job)
    if len(ids) < needed or len(set(labels)) < 2:
        ranked = ranks_randomise(job, seed, unranked_only=job.automation_status == AutomationStatus.WAITING)
        reason = f"people are answering a random first sample: {len(ids)} of {needed} human results so far"
        job_update(
            job, automation_status=AutomationStatus.WAITING, automation_reason=reason, automation_labelled=humans,
            automation_device=device_label(),
        )  # fmt: skip
        return RunSummary(AutomationStatus.WAITING, reason, len(ids), ranked_microtasks=ranked, embedded=embedded)

    started = time.perf_counter()
    x_train, y_train = training_set(job, solver, ids, labels)
    run_seed = seed if seed is not None else job.automation_rounds
    folds = int(setting("FOLDS", 5))
    oof, models = cross_fit(solver, x_train, y_train, len(options), folds, run_seed)
    timings["train"] = time.perf_counter() - started

    started = time.perf_counter()
    microtasks = OpenMicrotasks.of(job)
    candidates = candidates_predict(job, solver, models)
    timings["predict"] = time.perf_counter() - started

    # The target holds for all the machine's answers on the job: those it already gave count in the bound.
    cal = calibration.select_threshold(
        oof.max(axis=1), oof.argmax(axis=1) == y_train, candidates.confidence,
        target=job.automation_target_accuracy, delta=float(setting("DELTA", 0.1)),
        answered_scores=answered_scores(job, solver, models, options), seed=run_seed,
    )  # fmt: skip

    # Per microtask: its least confident item decides, and it is taken only when all its items are confident.
    # Microtasks in the order of their first item in the job.
    mt_index, first, inverse, counts = np.unique(
        candidates.microtasks, return_index=True, return_inverse=True, return_counts=True
    )
    mt_confidence = np.full(len(mt_index), np.inf)
    np.minimum.at(mt_confidence, inverse, candidates.confidence)
    rng = random.Random(run_seed)
    take: list[int] = []
    audit: list[int] = []
    if cal.threshold is not None:
        row, known = positions_in(microtasks.index, mt_index)
        eligible = (
            known
            & (microtasks.answer_count[row] == 0)
            & ~microtasks.leased[row]
            & (mt_confidence >= cal.threshold)
            # Not when some of its items have no text, a result already, or an audit.
            & (counts >= microtasks.item_count[row])
        )
        for u in np.argsort(first, kind="stable"):
            if eligible[u]:
                (audit if rng.random() < job.automation_audit_rate else take).append(int(mt_index[u]))

    now = timezone.now()
    method = f"automation:{solver.name}"
    taken_items = audited_items = saved = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK_TAKEN_SQL, [job.pk, take, str(Microtask.Status.OPEN), str(Assignment.Status.LEASED)])
        wanted = dict(cursor.fetchall())
        taken = np.array([index for index in take if index in wanted], dtype=np.int64)
        answered = np.isin(candidates.microtasks, taken)
        answered_ids = candidates.item_ids[answered].tolist()
        answered_labels = [options[a] for a in candidates.answer[answered].tolist()]
        answered_confidence = candidates.confidence[answered].tolist()
        for start in range(0, len(answered_ids), CHUNK):
            chunk = slice(start, start + CHUNK)
            # A machine result is final: it takes the microtask (item.result webhooks record it in this statement).
            item_results_update(
                cursor,
                job.pk,
                MACHINE_ANSWERS_SQL,
                [
                    str(Item.Source.MACHINE), method, now,
                    answered_ids[chunk], answered_labels[chunk], answered_confidence[chunk], job.pk,
                ],
                final="true",
            )  # fmt: skip
        cursor.execute(
            # results_for: the machine's results are these microtasks' results (the repair pass leaves them be).
            "UPDATE tasks_microtask SET status = %s, completed_at = %s, results_for = %s"
            " WHERE job_id = %s AND index = ANY(%s)",
            [str(Microtask.Status.DONE), now, now, job.pk, taken.tolist()],
        )
        taken_items = len(answered_ids)
        saved = sum(wanted[index] for index in taken.tolist())
        audited = np.isin(candidates.microtasks, audit)
        AutomationAudit.objects.bulk_create(
            [
                AutomationAudit(item_id=pk, job=job, label=options[a], confidence=c)
                for pk, a, c in zip(
                    candidates.item_ids[audited].tolist(),
                    candidates.answer[audited].tolist(),
                    candidates.confidence[audited].tolist(),
                    strict=True,
                )  # fmt: skip
            ],
            ignore_conflicts=True,
            batch_size=5000,
        )
        audited_items = int(audited.sum())

        # What stays open: audits first (their answers measure the machine), then least confident first.
        audit_set = np.union1d(
            audit, list(AutomationAudit.objects.filter(job=job).values_list("item__microtask_index", flat=True))
        )
        left = ~np.isin(microtasks.index, taken)
        indexes = microtasks.index[left]
        audited_open = np.isin(indexes, audit_set)
        # While the machine declines, people answer in random order instead: the labels then sample the whole
        # job, the items the next threshold would answer included, which the calibration needs to pass them.
        declined = cal.threshold is None
        if declined:
            ranks = np.array([-1.0 if a else rng.random() for a in audited_open.tolist()])
        else:
            ranks = np.zeros(len(indexes))
            where, scored = positions_in(mt_index, indexes)
            ranks[scored] = mt_confidence[where[scored]]
            ranks[audited_open] = -1.0
        ranks_write(job, indexes, ranks)
        ranked = len(indexes)

        if not len(candidates.item_ids):
            # Nothing left to decide: every item has a result or is with people.
            status, reason = job.automation_status, job.automation_reason
        elif cal.threshold is None:
            status, reason = AutomationStatus.DECLINED, cal.reason
        else:
            status, reason = AutomationStatus.RUNNING, ""
        job.refresh_from_db(fields=["automation_items_taken", "automation_answers_saved", "automation_rounds"])
        job_update(
            job, automation_status=status, automation_reason=reason, automation_threshold=cal.threshold,
            automation_rounds=job.automation_rounds + 1, automation_labelled=humans,
            automation_items_taken=job.automation_items_taken + taken_items,
            automation_answers_saved=job.automation_answers_saved + saved, automation_device=device_label(),
        )  # fmt: skip
    if taken_items:
        from tasks.results import job_complete_if_finished

        job_complete_if_finished(job)  # the machine may have taken the last open microtasks
    log.info(
        "automation job %s: %s labelled, threshold %s, took %s items, %s audited, %s",
        job.pk, len(ids), cal.threshold, taken_items, audited_items, reason or "running",
    )  # fmt: skip
    return RunSummary(status, reason, len(ids), cal.threshold, taken_items, audited_items, ranked, embedded, timings)


# --- helpers ------------------------------------------------------------------------------------------------


def human_results_write(job: Job, results: dict[int, tuple[str, float]], method: str = "simulated") -> int:
    """Write human results for items directly ({item id: (label, confidence)}), and close microtasks whose
    items all have results. For benchmarks and tests: live results come from aggregation."""
    now = timezone.now()
    rows = [
        Item(
            pk=pk, result=label, confidence=conf, result_source=Item.Source.HUMAN, result_method=method,
            result_updated_at=now, result_version=F("result_version") + 1,
        )
        for pk, (label, conf) in results.items()
    ]  # fmt: skip
    with transaction.atomic():
        Item.objects.filter(job=job).bulk_update(
            rows,
            ["result", "confidence", "result_source", "result_method", "result_updated_at", "result_version"],
            batch_size=2000,
        )
        indexes = set(Item.objects.filter(job=job, pk__in=list(results)).values_list("microtask_index", flat=True))
        unresolved = set(
            Item.objects.filter(job=job, microtask_index__in=indexes, result__isnull=True).values_list(
                "microtask_index", flat=True
            )
        )
        done = list(indexes - unresolved)
        for microtask in Microtask.objects.filter(job=job, index__in=done, status=Microtask.Status.OPEN):
            microtask.status = Microtask.Status.DONE
            microtask.answer_count = microtask.answers_wanted
            microtask.completed_at = microtask.results_for = now  # its results are the ones just written
            microtask.save(update_fields=["status", "answer_count", "completed_at", "results_for"])
    return len(rows)
