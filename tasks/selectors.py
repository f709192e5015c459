"""Reads for the requester pages, the job feed and the operations console.

Counts come straight from PostgreSQL in a few grouped queries; nothing here writes. Progress counts leave gold
microtasks out: they are checks on workers, not work the requester is waiting for.
"""

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from quorum.money import money

from . import partitions
from .aggregation.gold import accuracy_interval, enough_evidence, interval_text, percent_text
from .models import Answer, Assignment, Item, Job, JobWorker, Microtask, Upload

ACTIVE_WINDOW = timedelta(minutes=5)
HISTOGRAM_BINS = 10

COUNTS_SQL = """
SELECT count(*) FILTER (WHERE NOT is_gold),
       count(*) FILTER (WHERE NOT is_gold AND status = 'done'),
       coalesce(sum(item_count) FILTER (WHERE NOT is_gold), 0),
       coalesce(sum(item_count) FILTER (WHERE NOT is_gold AND status = 'done'), 0),
       coalesce(sum(greatest(answers_wanted - answer_count, 0) * item_count)
                FILTER (WHERE NOT is_gold AND status = 'open'), 0),
       job_id
FROM tasks_microtask WHERE job_id = ANY(%s) GROUP BY job_id
"""

WORKERS_SQL = """
SELECT a.worker_id, u.username,
       count(*) AS answers,
       count(*) FILTER (WHERE i.gold IS NOT NULL) AS gold_answers,
       count(*) FILTER (WHERE i.gold IS NOT NULL AND a.value = i.gold) AS gold_correct,
       count(*) FILTER (WHERE i.gold IS NULL AND i.result IS NOT NULL) AS judged,
       count(*) FILTER (WHERE i.gold IS NULL AND i.result IS NOT NULL AND a.value = i.result) AS agreed,
       count(*) FILTER (WHERE NOT a.counts) AS not_counting,
       p.trust, coalesce(p.blocked, false)
FROM tasks_answer a
JOIN tasks_item i ON i.job_id = a.job_id AND i.id = a.item_id
JOIN workers_user u ON u.id = a.worker_id
LEFT JOIN workers_workerprofile p ON p.user_id = a.worker_id
WHERE a.job_id = %s
GROUP BY a.worker_id, u.username, p.trust, p.blocked
ORDER BY answers DESC, u.username
LIMIT %s
"""


def job_list(user) -> QuerySet[Job]:
    """The jobs page's list: a requester's own jobs; every job for staff (as they may open any)."""
    return jobs_visible_to(user).select_related("owner").order_by("-created_at")


def jobs_visible_to(user) -> QuerySet[Job]:
    """The jobs a user may open: their own, or every job for staff. Pages, the API and the live feed all ask here."""
    if not user.is_authenticated:
        return Job.objects.none()
    return Job.objects.all() if user.is_staff else Job.objects.filter(owner=user)


def job_get_for_viewer(user, job_id: int) -> Job | None:
    """The job if this user may watch it (its owner, or staff); None otherwise."""
    return jobs_visible_to(user).filter(pk=job_id).first()


def job_get_or_404(user, job_id: int) -> Job:
    """A requester's own job; another requester's job is a 404, as in the API."""
    return get_object_or_404(jobs_visible_to(user), pk=job_id)


def _empty_counts(job: Job) -> dict:
    return {
        "items": 0,
        "items_done": 0,
        "microtasks": 0,
        "microtasks_done": 0,
        "answers": 0,
        "answers_remaining": 0,
        "workers_active": 0,
        "answers_per_minute": 0,
        "item_count": job.item_count,
    }


def job_counts_many(jobs: list[Job]) -> dict[int, dict]:
    """Progress counts of several jobs in four queries."""
    by_id = {job.pk: _empty_counts(job) for job in jobs}
    if not by_id:
        return by_id
    ids = list(by_id)
    with connection.cursor() as cursor:
        cursor.execute(COUNTS_SQL, [ids])
        for microtasks, microtasks_done, items, items_done, remaining, job_id in cursor.fetchall():
            by_id[job_id].update(
                microtasks=microtasks,
                microtasks_done=microtasks_done,
                items=items,
                items_done=items_done,
                answers_remaining=remaining,
            )
    now = timezone.now()
    for row in (
        Answer.objects.filter(job_id__in=ids)
        .values("job_id")
        .annotate(total=Count("id"), last_minute=Count("id", filter=Q(created_at__gte=now - timedelta(minutes=1))))
    ):
        by_id[row["job_id"]].update(answers=row["total"], answers_per_minute=row["last_minute"])
    for row in (
        Assignment.objects.filter(job_id__in=ids)
        .filter(Q(status=Assignment.Status.LEASED) | Q(submitted_at__gte=now - ACTIVE_WINDOW))
        .values("job_id")
        .annotate(workers=Count("worker_id", distinct=True))
    ):
        by_id[row["job_id"]]["workers_active"] = row["workers"]
    costs = job_costs(jobs)
    for job_id, cost in costs.items():
        by_id[job_id]["cost"] = str(cost)
    return by_id


def job_counts(job: Job) -> dict:
    return job_counts_many([job])[job.pk]


# Items whose results are written: those of finished ordinary microtasks whose results pass has run.
RESULTS_WRITTEN_SQL = """
SELECT coalesce(sum(item_count), 0) FROM tasks_microtask
WHERE job_id = %s AND NOT is_gold AND status = 'done' AND results_for = completed_at
"""


def job_progress(job: Job) -> dict:
    """What a script waiting on a job needs (GET /api/jobs/<id>/progress/): its status and counts, gold left out."""
    counts = job_counts(job)
    with connection.cursor() as cursor:
        cursor.execute(RESULTS_WRITTEN_SQL, [job.pk])
        (results,) = cursor.fetchone()
    names = ["items", "items_done", "microtasks", "microtasks_done", "answers", "answers_remaining"]
    return {
        "job": job.pk,
        "status": job.status,
        **{name: counts[name] for name in names},
        "results": int(results),
        "answers_per_minute": counts["answers_per_minute"],
        "workers_active": counts["workers_active"],
    }


def job_costs(jobs: list[Job]) -> dict[int, Decimal]:
    """Cost so far: the recorded reward of every submitted assignment a requester has not rejected, and the
    bonuses paid on the job."""
    from workers.models import LedgerEntry

    ids = [j.pk for j in jobs]
    paid = dict(
        Assignment.objects.filter(job_id__in=ids, status=Assignment.Status.SUBMITTED)
        .exclude(review=Assignment.Review.REJECTED)
        .values("job_id")
        .annotate(total=Sum("reward"))
        .values_list("job_id", "total")
    )
    bonuses = dict(
        LedgerEntry.objects.filter(job_id__in=ids, kind=LedgerEntry.Kind.BONUS)
        .values("job_id")
        .annotate(total=Sum("amount"))
        .values_list("job_id", "total")
    )
    return {
        job.pk: ((paid.get(job.pk) or Decimal("0")) + (bonuses.get(job.pk) or Decimal("0"))).quantize(Decimal("0.01"))
        for job in jobs
    }


NOT_ENOUGH_ANSWERS = gettext_noop("not enough answers yet")  # translated where shown


def accuracy_shown(right: float | None, total: float) -> dict:
    """An accuracy of ``right`` out of ``total`` with its 95 % interval, as every page shows it: ``accuracy`` (the
    share, None with no answers), ``accuracy_low`` / ``accuracy_high`` and ``accuracy_text`` ("82 % (64-92 %)",
    or "not enough answers yet" while it rests on too few answers to read)."""
    if right is None or not total:
        return {
            "accuracy": None,
            "accuracy_low": None,
            "accuracy_high": None,
            "accuracy_text": gettext(NOT_ENOUGH_ANSWERS),
        }
    low, high = accuracy_interval(right, total)
    text = (
        f"{percent_text(right / total)} % ({interval_text(low, high)})"
        if enough_evidence(total)
        else gettext(NOT_ENOUGH_ANSWERS)
    )
    return {"accuracy": right / total, "accuracy_low": low, "accuracy_high": high, "accuracy_text": text}


def job_workers(job: Job, limit: int = 100) -> list[dict]:
    """Per-worker table of one job: answers, accuracy (gold, else agreement with results), trust, blocked.

    Read from the job's worker records, which the results pipeline keeps (tasks/results.py); until its first
    pass over a new job, counted from the answers themselves.
    """
    records = list(
        JobWorker.objects.filter(job=job)
        .select_related("worker", "worker__worker_profile")
        .order_by("-answers")[:limit]
    )
    if not records:
        return job_workers_counted(job, limit)
    table = []
    for r in records:
        # The estimated accuracy stands for its share of the worker's answers right, so its interval is as wide
        # as that many answers' would be.
        if r.gold_total:
            accuracy, basis = accuracy_shown(r.gold_correct, r.gold_total), "gold"
        elif r.estimated_accuracy is not None:
            accuracy, basis = accuracy_shown(r.estimated_accuracy * r.answers, r.answers), "results"
        else:
            accuracy, basis = accuracy_shown(None, 0), ""
        profile = getattr(r.worker, "worker_profile", None)
        table.append(
            {
                "id": r.worker_id,
                "username": r.worker.username,
                "answers": r.answers,
                **accuracy,
                "accuracy_basis": basis,
                "not_counting": 0,
                "trust": r.trust if r.trust is not None else (profile.trust if profile else None),
                "blocked": r.blocked or bool(profile and profile.blocked),
                # The requester's block is on this job (r.blocked); staff's is on every job (the profile's).
                "blocked_everywhere": bool(profile and profile.blocked),
            }
        )
    return table


def job_workers_counted(job: Job, limit: int = 100) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(WORKERS_SQL, [job.pk, limit])
        rows = cursor.fetchall()
    table = []
    for worker_id, username, answers, gold_n, gold_ok, judged, agreed, not_counting, trust, blocked in rows:
        if gold_n:
            accuracy, basis = accuracy_shown(gold_ok, gold_n), "gold"
        elif judged:
            accuracy, basis = accuracy_shown(agreed, judged), "results"
        else:
            accuracy, basis = accuracy_shown(None, 0), ""
        table.append(
            {
                "id": worker_id,
                "username": username,
                "answers": answers,
                **accuracy,
                "accuracy_basis": basis,
                "not_counting": not_counting,
                "trust": trust,
                "blocked": blocked,
                "blocked_everywhere": blocked,  # no job record yet: only staff's block (on every job) is possible
            }
        )
    return table


def job_details(job: Job) -> dict:
    """What the job page shows beyond the counts: confidence histogram, agreement, cost, the workers."""
    bins = [0] * HISTOGRAM_BINS
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT least(width_bucket(confidence, 0, 1, %s), %s) AS b, count(*) FROM tasks_item"
            " WHERE job_id = %s AND confidence IS NOT NULL GROUP BY b",
            [HISTOGRAM_BINS, HISTOGRAM_BINS, job.pk],
        )
        for bucket, n in cursor.fetchall():
            bins[max(bucket, 1) - 1] += n
        cursor.execute("SELECT avg(agreement) FROM tasks_item WHERE job_id = %s AND agreement IS NOT NULL", [job.pk])
        (agreement,) = cursor.fetchone()
    cost = job_costs([job])[job.pk]
    return {
        "confidence_histogram": bins,
        "agreement": agreement,
        "cost": str(cost),
        "budget": str(job.budget.quantize(Decimal("0.01"))) if job.budget is not None else None,
        "cost_text": money(cost),
        "budget_text": money(job.budget) if job.budget is not None else None,
        "workers": job_workers(job),
    }


def upload_latest(job: Job) -> Upload | None:
    return job.uploads.order_by("-created_at").first()


def job_snapshot(job: Job) -> dict:
    """Everything the job page needs on connect; later changes arrive as events."""
    from .services import upload_rows_done

    upload = upload_latest(job)
    ingest = None
    if upload is not None:
        ingest = {
            "job_id": job.pk,
            "upload_id": upload.pk,
            "status": upload.status,
            "rows_done": upload_rows_done(upload),
            "rows_total": upload.rows_total,
            "error": upload.error,
        }
    return {
        "id": job.pk,
        "status": job.status,
        "counts": job_counts(job),
        "details": job_details(job),
        "ingest": ingest,
        "redundancy": job.redundancy,
        "items_per_microtask": job.items_per_microtask,
    }


def item_list(
    job: Job,
    *,
    confidence_below: float | None = None,
    disagreement: bool = False,
    source: str = "",
    search: str = "",
) -> QuerySet[Item]:
    """The results browser's filters: low confidence, disagreement, where the result came from, free text."""
    items = Item.objects.filter(job=job).order_by("position")
    if confidence_below is not None:
        items = items.filter(Q(confidence__lt=confidence_below) | Q(confidence__isnull=True, answer_count__gt=0))
    if disagreement:
        items = items.filter(agreement__lt=1)
    if source == Item.Source.GOLD:
        items = items.filter(Q(gold__isnull=False) | Q(result_source=Item.Source.GOLD))
    elif source in (Item.Source.HUMAN, Item.Source.MACHINE):
        items = items.filter(result_source=source, gold__isnull=True)
    if search:
        # The text people see, not the stored JSON (where key names would match every item and quotes are escaped).
        if job.text_field:
            items = items.annotate(shown=KeyTextTransform(job.text_field, "data"))
            items = items.filter(Q(external_id__icontains=search) | Q(shown__icontains=search))
        else:
            items = items.filter(Q(external_id__icontains=search) | Q(data__icontains=search))
    return items


def item_answer_counts(item_ids: list[int]) -> dict[int, int]:
    """Answers stored per item (the results table; Item.answer_count is the aggregator's count)."""
    rows = Answer.objects.filter(item_id__in=item_ids).values("item_id").annotate(n=Count("id"))
    return {row["item_id"]: row["n"] for row in rows}


def item_answers(item: Item) -> list[Answer]:
    """The item's answers, each with ``blocked_on_job``: whether its worker is blocked on this job (what the
    requester's Block does), and the worker's profile for a block on every job (staff's)."""
    answers = list(
        Answer.objects.filter(item=item)
        .select_related("worker", "worker__worker_profile", "assignment")
        .order_by("created_at", "id")
    )
    blocked = set(
        JobWorker.objects.filter(
            job_id=item.job_id, blocked=True, worker_id__in={a.worker_id for a in answers}
        ).values_list("worker_id", flat=True)
    )
    for answer in answers:
        answer.blocked_on_job = answer.worker_id in blocked
    return answers


def microtasks_waiting_by_job(limit: int = 20) -> list[dict]:
    """Open and paused jobs with how many microtasks still need answers: the console's queue view."""
    jobs = {job.pk: job for job in Job.objects.filter(status__in=["open", "paused"]).only("name", "status", "priority")}
    # A hundred jobs a query: one naming every job's table would lock them all.
    waiting = dict(
        partitions.rows_over_jobs(
            jobs,
            lambda chunk, room: (
                Microtask.objects.filter(job_id__in=chunk, status=Microtask.Status.OPEN, is_gold=False)
                .values("job_id")
                .annotate(waiting=Count("id"))
                .values_list("job_id", "waiting")
            ),
        )
    )
    top = sorted(waiting.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        {"job_id": job_id, "name": jobs[job_id].name, "status": jobs[job_id].status,
         "priority": jobs[job_id].priority, "waiting": n}
        for job_id, n in top
    ]  # fmt: skip


def leases_summary(expiring_within: timedelta = timedelta(seconds=60)) -> dict:
    now = timezone.now()
    leased = Assignment.objects.filter(status=Assignment.Status.LEASED)
    return leased.aggregate(
        in_flight=Count("id"),
        expiring=Count("id", filter=Q(expires_at__gte=now, expires_at__lt=now + expiring_within)),
        overdue=Count("id", filter=Q(expires_at__lt=now)),
    )


def answers_per_second(window_seconds: int = 10) -> float:
    since = timezone.now() - timedelta(seconds=window_seconds)
    return round(Answer.objects.filter(created_at__gte=since).count() / window_seconds, 2)


def uploads_failed_recent(limit: int = 5) -> list[Upload]:
    return list(
        Upload.objects.filter(status=Upload.Status.FAILED).select_related("job").order_by("-created_at")[:limit]
    )


def job_board(worker) -> list[dict]:
    """The open jobs a worker may choose from: pay, measured time (and so an hourly rate), what is left, who posted
    it and the qualification it needs. Jobs the worker is blocked on are left out; the demo job comes last."""
    from workers.qualifications import qualifications_for_skills

    jobs = list(_jobs_open_to(worker).select_related("owner").order_by("demo", "-priority", "-created_at")[:200])
    left = dict(
        Microtask.objects.filter(job__in=jobs, status=Microtask.Status.OPEN, is_gold=False)
        .values_list("job_id")
        .annotate(n=Count("id"))
    )
    skills = _skills_of(worker)
    tests = qualifications_for_skills({job.required_skill for job in jobs if job.required_skill})
    board = []
    for job in jobs:
        seconds = job.median_seconds_per_item * job.items_per_microtask if job.median_seconds_per_item else None
        hourly = job.reward * Decimal(3600) / Decimal(str(seconds)) if seconds and job.reward else None
        has = skills.get(job.required_skill) if job.required_skill else None
        # A test that grants the skill at the level the job needs: the job owner's own if there is one.
        granting = [q for q in tests.get(job.required_skill, ()) if q.level >= job.required_skill_level]
        test = next((q for q in granting if q.owner_id == job.owner_id), granting[0] if granting else None)
        board.append(
            {
                "job": job,
                "requester": job.owner.username,
                "reward": job.reward,
                "seconds": round(seconds) if seconds else None,
                "hourly": hourly.quantize(Decimal("0.01")) if hourly is not None else None,
                "left": left.get(job.pk, 0),
                "skill": job.required_skill,
                "skill_level": job.required_skill_level,
                "qualified": _qualified(job, skills),
                "skill_held": has,
                "qualification": test,
            }
        )
    return board


def job_for_worker(worker, job_id) -> Job | None:
    """The open job a worker chose on the board, if they may work on it now (else None: any job)."""
    try:
        job_id = int(job_id)
    except (TypeError, ValueError):
        return None
    job = _jobs_open_to(worker).filter(pk=job_id).first()
    return job if job is not None and _qualified(job, _skills_of(worker)) else None


def _jobs_open_to(worker) -> QuerySet[Job]:
    """Open jobs, less those the worker is blocked on."""
    blocked = JobWorker.objects.filter(worker=worker, blocked=True).values("job_id")
    return Job.objects.filter(status=Job.Status.OPEN).exclude(pk__in=blocked)


def _skills_of(worker) -> dict[str, float]:
    from workers.models import WorkerSkill

    return dict(WorkerSkill.objects.filter(worker__user=worker).values_list("name", "level"))


def _qualified(job: Job, skills: dict[str, float]) -> bool:
    """The scheduler's rule (WorkerSession.can_take): the job's skill at its level, if it names one."""
    held = skills.get(job.required_skill)
    return not job.required_skill or (held is not None and held >= job.required_skill_level)


def review_totals(assignment_ids: list[int]) -> dict:
    """What reviewing these assignments moves: how many assignments, answers and microtasks, and the rewards they
    recorded at their leases (what accepting pays; rejecting pays none of it)."""
    totals = Assignment.objects.filter(pk__in=assignment_ids).aggregate(
        assignments=Count("id"), microtasks=Count("microtask_id", distinct=True), amount=Sum("reward")
    )
    answers = Answer.objects.filter(assignment_id__in=assignment_ids).count() if assignment_ids else 0
    return {
        "assignments": totals["assignments"],
        "answers": answers,
        "microtasks": totals["microtasks"],
        "amount": str((totals["amount"] or Decimal("0")).quantize(Decimal("0.01"))),
        "amount_text": money(totals["amount"]),
    }


def assignments_pending_review(job: Job, *, worker_id: int | None = None, filters: dict | None = None):
    """A job's submitted assignments awaiting review: of one worker, and/or on the microtasks of the items the
    results filters show (``item_list``'s keyword arguments)."""
    pending = Assignment.objects.filter(job=job, status=Assignment.Status.SUBMITTED, review=Assignment.Review.PENDING)
    if worker_id is not None:
        pending = pending.filter(worker_id=worker_id)
    if filters is not None:
        indexes = item_list(job, **filters).order_by().values("microtask_index")
        pending = pending.filter(microtask__job=job, microtask__index__in=indexes)
    return pending


# /metrics reads these at most every few seconds (quorum/metrics.py); a statement that runs longer is cut short.
OPERATIONS_STATE_TIMEOUT_MS = 2000


def operations_state(limit: int) -> dict:
    """What the platform holds right now, for the metrics: live leases, finished microtasks whose results are
    due (the partial indexes ``assignment_leased_expiry`` and ``microtask_results_due`` hold only those rows;
    each count stops at ``limit``), jobs by status and the automation figures of live jobs."""
    from django.db import transaction

    from .models import RESULTS_DUE

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {OPERATIONS_STATE_TIMEOUT_MS}")
        leases = Assignment.objects.filter(status=Assignment.Status.LEASED)[:limit].count()
        results_due = Microtask.objects.filter(RESULTS_DUE)[:limit].count()
        jobs = dict(Job.objects.order_by().values_list("status").annotate(n=Count("id")))
        automation = Job.objects.filter(
            automation_enabled=True, status__in=[Job.Status.OPEN, Job.Status.PAUSED]
        ).aggregate(items=Sum("item_count"), taken=Sum("automation_items_taken"))
    return {
        "leases": leases,
        "results_due": results_due,
        "jobs": {status: jobs.get(status, 0) for status in Job.Status.values},
        "automation_items": automation["items"] or 0,
        "automation_items_taken": automation["taken"] or 0,
    }
