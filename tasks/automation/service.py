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
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from tasks.models import (
    Assignment,
    AutomationAudit,
    AutomationStatus,
    Item,
    ItemEmbedding,
    Job,
    Microtask,
    QuestionType,
)
from tasks.scheduling import pool

from . import calibration
from .embeddings import device_label
from .solvers import Solver, get_solver

log = logging.getLogger(__name__)

ENCODE_CHUNK = 2048


def setting(name: str, default):
    return getattr(settings, f"QUORUM_AUTOMATION_{name}", default)


def first_sample_size(job: Job) -> int:
    """Human results needed before the first model: enough for cross-fitting and a calibration bound."""
    return max(int(setting("MIN_LABELS", 100)), math.ceil(float(setting("FIRST_SAMPLE_SHARE", 0.0)) * job.item_count))


def unsupported_reason(job: Job) -> str:
    """Why the machine cannot answer this job's items at all; empty when it can."""
    if job.question_type != QuestionType.SINGLE_CHOICE:
        return "automation answers single-choice questions only; people answer every item of this job"
    if not job.text_field:
        return (
            "the items have no text column (set the job's text_field); the machine answers text only,"
            " so people answer every item"
        )
    if len(job.options or []) < 2:
        return "the question has fewer than two options"
    return ""


def item_text(job: Job, data: object) -> str:
    value = data.get(job.text_field) if isinstance(data, dict) else None
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
        chunk.append((pk, item_text(job, data)))
        if len(chunk) >= ENCODE_CHUNK:
            flush()
    if chunk:
        flush()
    return done


def embeddings_load(job: Job, solver: Solver) -> dict[int, np.ndarray]:
    rows = ItemEmbedding.objects.filter(job=job, encoder=solver.feature_name).values_list("item_id", "vector")
    return {pk: np.frombuffer(bytes(vector), dtype=np.float32) for pk, vector in rows.iterator(chunk_size=10_000)}


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


def ranks_randomise(job: Job, seed: int | None) -> int:
    """Random ranks, so the first human answers are a random sample of the job, not the top of the file."""
    rng = random.Random(seed)
    # In index order: a seed then draws the same sample however the rows happen to lie in the table.
    microtasks = list(open_microtasks(job).only("pk", "rank").order_by("index"))
    for microtask in microtasks:
        microtask.rank = 1 + rng.random()
    Microtask.objects.bulk_update(microtasks, ["rank"], batch_size=5000)
    transaction.on_commit(lambda: pool.pool_invalidate(job.pk))
    return len(microtasks)


def automation_run(job_id: int, *, seed: int | None = None) -> RunSummary:
    """One automation round for a job. Safe to repeat; run one at a time per job (the automation Celery worker
    has concurrency 1)."""
    job = Job.objects.get(pk=job_id)
    if not job.automation_enabled:
        if job.automation_status != AutomationStatus.OFF:
            job_update(job, automation_status=AutomationStatus.OFF, automation_reason="")
        return RunSummary(AutomationStatus.OFF)
    if job.automation_status == AutomationStatus.STOPPED:
        return RunSummary(job.automation_status, job.automation_reason)
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

    options = [str(o) for o in job.options]
    ids, labels, humans = labelled_items(job, options)
    needed = first_sample_size(job)
    if len(ids) < needed or len(set(labels)) < 2:
        ranked = 0
        if job.automation_status != AutomationStatus.WAITING:
            ranked = ranks_randomise(job, seed)
        reason = f"people are answering a random first sample: {len(ids)} of {needed} human results so far"
        job_update(
            job, automation_status=AutomationStatus.WAITING, automation_reason=reason, automation_labelled=humans,
            automation_device=device_label(),
        )  # fmt: skip
        return RunSummary(AutomationStatus.WAITING, reason, len(ids), ranked_microtasks=ranked, embedded=embedded)

    started = time.perf_counter()
    vectors = embeddings_load(job, solver)
    x_train = np.stack([vectors[pk] for pk in ids])
    y_train = np.asarray(labels)
    run_seed = seed if seed is not None else job.automation_rounds
    folds = int(setting("FOLDS", 5))
    oof, models = cross_fit(solver, x_train, y_train, len(options), folds, run_seed)
    timings["train"] = time.perf_counter() - started

    # Candidates: items of open ordinary microtasks nobody has started, not audited already.
    started = time.perf_counter()
    microtasks = {
        m.index: m for m in open_microtasks(job).only("pk", "index", "answer_count", "answers_wanted", "rank")
    }
    audited = set(AutomationAudit.objects.filter(job=job).values_list("item_id", flat=True))
    items = [
        (pk, index)
        for pk, index, data in Item.objects.filter(
            job=job, gold__isnull=True, result__isnull=True, microtask_index__in=list(microtasks)
        )
        .order_by("position")
        .values_list("pk", "microtask_index", "data")
        .iterator(chunk_size=10_000)
        # An item without text is left to people.
        if item_text(job, data) and pk not in audited
    ]
    item_ids = [pk for pk, _ in items]
    probs = (
        ensemble_predict(models, np.stack([vectors[pk] for pk in item_ids]))
        if item_ids
        else np.zeros((0, len(options)))
    )
    confidence = probs.max(axis=1) if len(item_ids) else np.zeros(0)
    answer = probs.argmax(axis=1) if len(item_ids) else np.zeros(0, dtype=int)
    timings["predict"] = time.perf_counter() - started

    # The target holds for all the machine's answers on the job: those it already gave count in the bound.
    index = {option: i for i, option in enumerate(options)}
    given = list(Item.objects.filter(job=job, result_source=Item.Source.MACHINE).values_list("pk", "result"))
    given += list(AutomationAudit.objects.filter(job=job).values_list("item_id", "label"))
    given = [(pk, index[label]) for pk, label in given if label in index and pk in vectors]
    answered_scores = None
    if given:
        given_probs = ensemble_predict(models, np.stack([vectors[pk] for pk, _ in given]))
        answered_scores = given_probs[np.arange(len(given)), [label for _, label in given]]
    cal = calibration.select_threshold(
        oof.max(axis=1), oof.argmax(axis=1) == y_train, confidence,
        target=job.automation_target_accuracy, delta=float(setting("DELTA", 0.1)),
        answered_scores=answered_scores, seed=run_seed,
    )  # fmt: skip

    # Per microtask: its least confident item decides, and it is taken only when all its items are confident.
    by_microtask: dict[int, list[int]] = {}
    for row, (_, index) in enumerate(items):
        by_microtask.setdefault(index, []).append(row)
    item_counts = {m.index: m.item_count for m in Microtask.objects.filter(job=job, index__in=list(by_microtask))}
    mt_confidence = {index: float(confidence[rows].min()) for index, rows in by_microtask.items()}
    rng = random.Random(run_seed)
    take: list[int] = []
    audit: list[int] = []
    if cal.threshold is not None:
        for index, rows in by_microtask.items():
            m = microtasks[index]
            if m.answer_count or m.leased or mt_confidence[index] < cal.threshold:
                continue
            if len(rows) < item_counts[index]:
                continue  # some of its items have no text, a result already, or an audit
            (audit if rng.random() < job.automation_audit_rate else take).append(index)

    now = timezone.now()
    method = f"automation:{solver.name}"
    taken_items = audited_items = saved = 0
    with transaction.atomic():
        # Lock the microtasks being taken; one the scheduler holds right now is skipped, not waited for.
        lockable = Microtask.objects.select_for_update(skip_locked=True).filter(
            job=job, index__in=take, status=Microtask.Status.OPEN, answer_count=0
        )
        locked = {m.index: m for m in lockable}
        still_free = set(
            open_microtasks(job).filter(index__in=list(locked), leased=False).values_list("index", flat=True)
        )
        taken = [index for index in take if index in still_free]
        updates: list[Item] = []
        for index in taken:
            for r in by_microtask[index]:
                updates.append(
                    Item(
                        pk=item_ids[r], result=options[int(answer[r])], confidence=float(confidence[r]),
                        result_source=Item.Source.MACHINE, result_method=method, result_updated_at=now,
                    )
                )  # fmt: skip
        Item.objects.bulk_update(
            updates, ["result", "confidence", "result_source", "result_method", "result_updated_at"], batch_size=2000
        )
        Microtask.objects.filter(job=job, index__in=taken).update(status=Microtask.Status.DONE, completed_at=now)
        taken_items = len(updates)
        saved = sum(locked[index].answers_wanted for index in taken)
        audits = [
            AutomationAudit(
                item_id=item_ids[r], job=job, label=options[int(answer[r])], confidence=float(confidence[r])
            )
            for index in audit
            for r in by_microtask[index]
        ]
        AutomationAudit.objects.bulk_create(audits, ignore_conflicts=True)
        audited_items = len(audits)

        # What stays open: audits first (their answers measure the machine), then least confident first.
        audit_set = set(audit) | set(
            Item.objects.filter(job=job, pk__in=audited, microtask_index__in=list(microtasks)).values_list(
                "microtask_index", flat=True
            )
        )
        # While the machine declines, people answer in random order instead: the labels then sample the whole
        # job, the items the next threshold would answer included, which the calibration needs to pass them.
        declined = cal.threshold is None
        ranked = []
        for index in sorted(microtasks):
            m = microtasks[index]
            if index in taken:
                continue
            if index in audit_set:
                m.rank = -1.0
            else:
                m.rank = rng.random() if declined else mt_confidence.get(index, 0.0)
            ranked.append(m)
        Microtask.objects.bulk_update(ranked, ["rank"], batch_size=5000)
        # The scheduler's window follows the new order (and forgets microtasks the machine took).
        transaction.on_commit(lambda: pool.pool_invalidate(job.pk))

        if not item_ids:
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
    log.info(
        "automation job %s: %s labelled, threshold %s, took %s items, %s audited, %s",
        job.pk, len(ids), cal.threshold, taken_items, audited_items, reason or "running",
    )  # fmt: skip
    return RunSummary(
        status, reason, len(ids), cal.threshold, taken_items, audited_items, len(ranked), embedded, timings
    )


# --- helpers ------------------------------------------------------------------------------------------------


def human_results_write(job: Job, results: dict[int, tuple[str, float]], method: str = "simulated") -> int:
    """Write human results for items directly ({item id: (label, confidence)}), and close microtasks whose
    items all have results. For benchmarks and tests: live results come from aggregation."""
    now = timezone.now()
    rows = [
        Item(
            pk=pk, result=label, confidence=conf, result_source=Item.Source.HUMAN, result_method=method,
            result_updated_at=now,
        )
        for pk, (label, conf) in results.items()
    ]  # fmt: skip
    with transaction.atomic():
        Item.objects.bulk_update(
            rows, ["result", "confidence", "result_source", "result_method", "result_updated_at"], batch_size=2000
        )
        indexes = set(Item.objects.filter(pk__in=list(results)).values_list("microtask_index", flat=True))
        unresolved = set(
            Item.objects.filter(job=job, microtask_index__in=indexes, result__isnull=True).values_list(
                "microtask_index", flat=True
            )
        )
        done = list(indexes - unresolved)
        for microtask in Microtask.objects.filter(job=job, index__in=done, status=Microtask.Status.OPEN):
            microtask.status = Microtask.Status.DONE
            microtask.answer_count = microtask.answers_wanted
            microtask.completed_at = now
            microtask.save(update_fields=["status", "answer_count", "completed_at"])
    return len(rows)
