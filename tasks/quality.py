"""Quality control: gold checks, per-job worker records, blocking, review with the ledger, budgets.

Gold checks: the scheduler queues each submitted gold answer (Redis list ``<prefix>:goldcheck``);
``gold_checks_pending`` (every 2 s) scores them and takes them off the queue only after the commit, and
``gold_checks_repair`` (every 30 s) finds from PostgreSQL the ones a flush or a dead Celery worker left unscored.
Each answer is scored once: the scoring transaction marks it (``Assignment.gold_checked_at``).

Writes go through these functions; each runs in one transaction and tells the scheduler afterwards (slots
back in the pool, sessions to reload). A blocked worker's answers stop counting and the microtasks they
answered are re-opened, so every microtask still ends with ``answers_wanted`` counting answers.
"""

import json
import logging
import uuid
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from quorum import events
from quorum.redis import get_redis
from webhooks import services as webhooks

from . import partitions
from .aggregation.gold import accuracy_interval, accuracy_surely_below, interval_text, percent_text
from .forms import Form
from .models import Job, JobWorker
from .results import QUEUE_DONE_LUA
from .scheduling import keys, leases, pool

log = logging.getLogger(__name__)

GOLD_SQL = """
SELECT a.job_id, a.worker_id, ans.value::text, i.gold::text
FROM tasks_answer ans
JOIN tasks_item i ON i.job_id = %(job)s AND i.id = ans.item_id
JOIN tasks_assignment a ON a.id = ans.assignment_id
WHERE ans.job_id = %(job)s AND ans.assignment_id = ANY(%(assignments)s) AND i.gold IS NOT NULL
"""


def gold_checks_of_answer(form: Form, answer: object, gold: object) -> tuple[int, int]:
    """(checks, right ones) of one answer to a gold item: one check per question with a known answer, judged by
    that question type's own rule of "same answer" (the same option; for spans and boxes, the type's score at its
    pass mark: span F1 >= 0.8, ...); a question left unanswered is wrong."""
    given = form.values(answer)
    checks = right = 0
    for name, known in form.values(gold).items():
        question = form.by_name.get(name)
        if question is None:
            continue
        checks += 1
        right += given.get(name) is not None and question.same(given[name], known)
    return checks, right


def gold_scores(rows) -> list[tuple[int, int, int, int]]:
    """(job, worker, gold checks, right ones) from GOLD_SQL's rows."""
    forms = {job.pk: Form.for_job(job) for job in Job.objects.filter(pk__in={row[0] for row in rows})}
    scores: dict[tuple[int, int], list[int]] = {}
    for job_id, worker_id, value, gold in rows:
        checks, right = gold_checks_of_answer(forms[job_id], json.loads(value), json.loads(gold))
        score = scores.setdefault((job_id, worker_id), [0, 0])
        score[0] += checks
        score[1] += right
    return [(job_id, worker_id, total, right) for (job_id, worker_id), (total, right) in scores.items()]


JOBWORKER_GOLD_SQL = """
INSERT INTO tasks_jobworker (job_id, worker_id, answers, gold_total, gold_correct, flagged, blocked,
                             blocked_reason, updated_at)
VALUES (%s, %s, 0, %s, %s, 0, false, '', now())
ON CONFLICT (job_id, worker_id) DO UPDATE SET
  gold_total = tasks_jobworker.gold_total + EXCLUDED.gold_total,
  gold_correct = tasks_jobworker.gold_correct + EXCLUDED.gold_correct,
  updated_at = now()
RETURNING gold_total, gold_correct, blocked
"""


# Queue entries one pass takes; a pass that dies holds the queue until its lock expires (the repair pass scores
# meanwhile, and scoring is idempotent).
GOLD_BATCH = 5000
GOLD_LOCK_SECONDS = 120
# The repair pass leaves answers submitted this recently to the queue, and takes at most this many a pass.
GOLD_REPAIR_SETTLE_SECONDS = 10
GOLD_REPAIR_BATCH = 5000

# The candidates' jobs and microtasks, then each job's gold microtasks among them: read in that job's table (a
# join would plan over every job's, on every pass).
GOLD_CANDIDATES_SQL = (
    "SELECT id, job_id, microtask_id FROM tasks_assignment"
    " WHERE id = ANY(%s) AND status = 'submitted' AND gold_checked_at IS NULL"
)
GOLD_MICROTASKS_SQL = "SELECT id FROM tasks_microtask WHERE job_id = %s AND id = ANY(%s) AND is_gold"

# Claims the submitted gold answers nobody scored yet, in id order (concurrent passes wait, then skip them).
GOLD_CLAIM_SQL = """
UPDATE tasks_assignment SET gold_checked_at = now()
WHERE id IN (
  SELECT id FROM tasks_assignment WHERE id = ANY(%s) AND status = 'submitted' AND gold_checked_at IS NULL
  ORDER BY id FOR NO KEY UPDATE
) AND gold_checked_at IS NULL
RETURNING id, job_id
"""

# Submitted answers to gold microtasks of the given jobs that were never scored: from the few gold microtasks
# (partial index ``microtask_gold_by_job``) to their assignments (the (microtask, worker) index). The jobs are
# named (tasks/partitions.py: job_chunks), so only their tables are read and locked.
GOLD_DUE_SQL = """
WITH gold AS MATERIALIZED (
  SELECT m.id FROM tasks_microtask m WHERE m.job_id = ANY(%s) AND m.is_gold
)
SELECT due.id FROM gold, LATERAL (
  SELECT a.id FROM tasks_assignment a
  WHERE a.microtask_id = gold.id AND a.status = 'submitted' AND a.gold_checked_at IS NULL
    AND a.submitted_at <= now() - make_interval(secs => %s)
  OFFSET 0  -- one index lookup per gold microtask, never a scan of every submitted assignment
) due
ORDER BY due.id
LIMIT %s
"""


def _goldcheck_queue() -> str:
    return f"{keys.prefix()}:goldcheck"


def gold_checks_pending() -> int:
    """Score the gold microtasks answered since the last run (the scheduler queues them).

    Entries leave the queue only after their scores are committed; a pass that fails leaves them all for the next
    one (the scores already committed are not counted twice). Returns the entries handled.
    """
    r = get_redis()
    lock, token = f"{_goldcheck_queue()}:lock", uuid.uuid4().hex
    if not r.set(lock, token, nx=True, ex=GOLD_LOCK_SECONDS):
        return 0  # another pass is at work on the same entries
    entries = r.lrange(_goldcheck_queue(), 0, GOLD_BATCH - 1)
    try:
        gold_checks_record([int(x) for x in entries])
    except Exception:
        log.exception("gold checks of %s answers failed; they stay queued", len(entries))
        r.eval(QUEUE_DONE_LUA, 2, lock, _goldcheck_queue(), token, 0)
        raise
    r.eval(QUEUE_DONE_LUA, 2, lock, _goldcheck_queue(), token, len(entries))
    return len(entries)


def gold_checks_due(settle_seconds: float = GOLD_REPAIR_SETTLE_SECONDS, limit: int = GOLD_REPAIR_BATCH) -> list[int]:
    """Submitted gold answers of open or paused jobs that were never scored (their queue entry lost)."""
    live = Job.objects.filter(status__in=[Job.Status.OPEN, Job.Status.PAUSED]).values_list("id", flat=True)

    def due_of(jobs: list[int], room: int) -> list[int]:
        with connection.cursor() as cur:
            cur.execute(GOLD_DUE_SQL, [jobs, settle_seconds, room])
            return [row[0] for row in cur.fetchall()]

    return sorted(partitions.rows_over_jobs(live, due_of, limit))


def gold_checks_repair(settle_seconds: float = GOLD_REPAIR_SETTLE_SECONDS) -> int:
    """From PostgreSQL alone: score the gold answers a lost queue entry or a failed pass left unscored."""
    scored = gold_checks_record(gold_checks_due(settle_seconds)).scored
    if scored:
        log.warning("scored %s gold answers the queue had lost", scored)
    return scored


def gold_block_reason(right: int, total: int, threshold: float) -> str:
    """'gold accuracy 2/10 (95 % interval 6-51 %) below 70 % (automatic)'."""
    interval = interval_text(*accuracy_interval(right, total))
    return f"gold accuracy {right}/{total} (95 % interval {interval}) below {percent_text(threshold)} % (automatic)"


class GoldChecks(NamedTuple):
    scored: int  # assignments scored by this call (none scored twice)
    blocked: list[tuple[int, int]]  # (job, worker) pairs blocked


def gold_answers_among(cur, assignment_ids: list[int]) -> list[int]:
    """The submitted, unscored assignments among these whose microtask is a gold one, in id order."""
    cur.execute(GOLD_CANDIDATES_SQL, [sorted(set(assignment_ids))])
    by_job: dict[int, dict[int, list[int]]] = {}
    for assignment_id, job_id, microtask_id in cur.fetchall():
        by_job.setdefault(job_id, {}).setdefault(microtask_id, []).append(assignment_id)
    gold = []
    for job_id, by_microtask in by_job.items():
        cur.execute(GOLD_MICROTASKS_SQL, [job_id, list(by_microtask)])
        gold += [a for (microtask_id,) in cur.fetchall() for a in by_microtask[microtask_id]]
    return sorted(gold)


def gold_checks_record(assignment_ids: list[int]) -> GoldChecks:
    """Score submitted gold microtasks against their known answers; block workers the job's rule says to: at
    least ``block_min_gold`` gold checks, and accuracy surely below ``block_below_accuracy`` (the whole 95 %
    interval under it, so one unlucky check blocks nobody).

    Safe to repeat: each assignment is claimed (``gold_checked_at``) in the transaction that scores it, so one
    already scored, or answered to no gold microtask, is skipped.
    """
    if not assignment_ids:
        return GoldChecks(0, [])
    blocked = []
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(GOLD_CLAIM_SQL, [gold_answers_among(cur, assignment_ids)])
        claimed_by_job: dict[int, list[int]] = {}
        for assignment_id, job_id in cur.fetchall():
            claimed_by_job.setdefault(job_id, []).append(assignment_id)
        if not claimed_by_job:
            return GoldChecks(0, [])
        claimed = [a for ids in claimed_by_job.values() for a in ids]
        answers = []
        for job_id, ids in claimed_by_job.items():
            cur.execute(GOLD_SQL, {"job": job_id, "assignments": ids})
            answers += cur.fetchall()
        rows = gold_scores(answers)
        for job_id, worker_id, total, correct in rows:
            cur.execute(JOBWORKER_GOLD_SQL, [job_id, worker_id, total, correct])
            gold_total, gold_correct, already = cur.fetchone()
            cur.execute(
                "UPDATE workers_workerprofile SET gold_total = gold_total + %s, gold_correct = gold_correct + %s"
                " WHERE user_id = %s",
                [total, correct, worker_id],
            )
            job = Job.objects.only("block_below_accuracy", "block_min_gold").get(pk=job_id)
            if (
                not already
                and job.block_below_accuracy is not None
                and gold_total >= job.block_min_gold
                and accuracy_surely_below(gold_correct, gold_total, job.block_below_accuracy)
            ):
                blocked.append((job_id, worker_id, gold_correct, gold_total, job.block_below_accuracy))
    for job_id, worker_id, right, total, threshold in blocked:
        worker_block_for_job(job_id, worker_id, gold_block_reason(right, total, threshold))
    for _, worker_id, _, _ in rows:
        worker_changed(worker_id)
    return GoldChecks(len(claimed), [(j, w) for j, w, *_ in blocked])


REOPEN_SQL = """
UPDATE tasks_microtask m SET answer_count = m.answer_count - 1, status = 'open', completed_at = NULL
FROM tasks_assignment a
WHERE a.microtask_id = m.id AND a.job_id = m.job_id AND a.id = ANY(%s) AND NOT m.is_gold AND m.status <> 'cancelled'
RETURNING m.job_id, m.id, m.rank, m.index
"""


def answers_stop_counting(assignment_ids: list[int]) -> list[tuple[int, int, float, int]]:
    """The answers of these submitted assignments no longer count: their microtasks need a replacement answer.

    Call inside a transaction; returns the re-opened microtasks (job, id, rank, index) for ``pool_return``.
    """
    if not assignment_ids:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE tasks_answer SET counts = false WHERE assignment_id = ANY(%s) AND counts RETURNING assignment_id",
            [assignment_ids],
        )
        still_counting = sorted({row[0] for row in cur.fetchall()})
        if not still_counting:
            return []
        # Their jobs' row locks first (results.job_complete_if_finished takes the same one before it looks), so no
        # job is marked done on the strength of microtasks this transaction is re-opening.
        cur.execute(
            "SELECT id FROM tasks_job WHERE id IN (SELECT job_id FROM tasks_assignment WHERE id = ANY(%s))"
            " ORDER BY id FOR NO KEY UPDATE",
            [still_counting],
        )
        cur.execute(REOPEN_SQL, [still_counting])
        reopened = cur.fetchall()
    jobs_reopen_if_done(sorted({job_id for job_id, *_ in reopened}))
    return reopened


def jobs_reopen_if_done(job_ids: list[int]) -> list[int]:
    """Done jobs whose microtasks re-opened (answers that stopped counting) are open again, so the scheduler
    asks people to replace those answers. Call inside the transaction that re-opened the microtasks.

    After the commit their Redis windows are rebuilt from PostgreSQL (the re-opened microtasks' seen-sets went
    with them when they were done) and every process learns the job is open (``job.changed``).
    """
    if not job_ids:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE tasks_job SET status = 'open', status_reason = '' WHERE id = ANY(%s) AND status = 'done'"
            " RETURNING id, priority, required_skill, required_skill_level",
            [job_ids],
        )
        rows = cur.fetchall()
    for job_id, priority, skill, level in rows:
        events.job_status(job_id, Job.Status.OPEN)

        def reopen(job_id=job_id, priority=priority, skill=skill, level=level) -> None:
            pool.pool_invalidate(job_id)
            pool.job_open_set(job_id, True, priority, skill, level)

        transaction.on_commit(reopen)
        log.info("job %s re-opened: answers stopped counting", job_id)
    return [row[0] for row in rows]


def pool_return(reopened: list[tuple[int, int, float, int]]) -> None:
    jobs = set()
    for job_id, microtask_id, rank, index in reopened:
        pool.return_slot(job_id, microtask_id, rank, index)
        jobs.add(job_id)
    for job_id in jobs:
        get_redis().sadd(f"{keys.prefix()}:dirty", job_id)
        pool.publish({"type": "work.available", "job_id": job_id})


def worker_block_for_job(job_id: int, worker_id: int, reason: str) -> int:
    """Block a worker on one job: no more of its work, their answers stop counting, their microtasks re-open.

    Returns how many microtasks were re-opened.
    """
    with transaction.atomic():
        record, _ = JobWorker.objects.select_for_update().get_or_create(job_id=job_id, worker_id=worker_id)
        record.blocked, record.blocked_reason, record.blocked_at = True, reason[:200], timezone.now()
        record.save(update_fields=["blocked", "blocked_reason", "blocked_at", "updated_at"])
        with connection.cursor() as cur:
            # The scheduler's order: the microtasks (in id order), then the worker's lock, then assignments. A
            # block that took the worker's assignment rows first deadlocked with a batch holding one of those
            # microtasks and waiting for the worker's row (the worker answering as they were blocked).
            cur.execute(
                "SELECT 1 FROM tasks_microtask WHERE job_id = %s AND id IN (SELECT microtask_id FROM tasks_assignment"
                " WHERE job_id = %s AND worker_id = %s AND status IN ('submitted', 'leased')) ORDER BY id"
                " FOR NO KEY UPDATE",
                [job_id, job_id, worker_id],
            )
            leases.worker_lock(cur, worker_id)
            cur.execute(
                "UPDATE tasks_assignment SET review = 'rejected', reviewed_at = now()"
                " WHERE job_id = %s AND worker_id = %s AND status = 'submitted' AND review = 'pending'",
                [job_id, worker_id],
            )
            cur.execute(
                # Answers a requester accepted keep counting: they vouched for them.
                "SELECT id FROM tasks_assignment WHERE job_id = %s AND worker_id = %s AND status = 'submitted'"
                " AND review <> 'accepted'",
                [job_id, worker_id],
            )
            submitted = [row[0] for row in cur.fetchall()]
            cur.execute(
                "UPDATE tasks_assignment a SET status = 'released' FROM tasks_microtask m"
                " WHERE a.job_id = %s AND a.worker_id = %s AND a.status = 'leased' AND m.job_id = %s"
                " AND m.id = a.microtask_id AND NOT m.is_gold RETURNING m.job_id, m.id, m.rank, m.index",
                [job_id, worker_id, job_id],
            )
            released = cur.fetchall()
        reopened = answers_stop_counting(submitted)
        webhooks.event_record(job_id, "worker.blocked", {"worker": worker_id, "reason": record.blocked_reason})
    pool_return(reopened + released)
    worker_changed(worker_id)
    log.info("worker %s blocked on job %s (%s): %s microtasks re-opened", worker_id, job_id, reason, len(reopened))
    return len(reopened)


def worker_unblock_for_job(job_id: int, worker_id: int) -> None:
    JobWorker.objects.filter(job_id=job_id, worker_id=worker_id).update(blocked=False, blocked_reason="")
    worker_changed(worker_id)


def worker_changed(worker_id: int) -> None:
    """Sessions of this worker reload their profile and blocks (and drop leases they may no longer hold)."""
    pool.publish({"type": "worker.changed", "worker_id": worker_id})


# An assignment pays the reward recorded when its lease was granted, not the job's reward now: a requester
# cannot cut (or raise) the pay of work already under way.
CREDIT_SQL = """
INSERT INTO workers_ledgerentry (worker_id, job_id, assignment_id, kind, amount, note, created_at)
SELECT a.worker_id, a.job_id, a.id, 'reward', a.reward, '', now()
FROM tasks_assignment a
WHERE a.id = ANY(%s) AND a.reward > 0
ON CONFLICT (assignment_id) DO NOTHING
RETURNING worker_id
"""


def assignments_review(assignment_ids: list[int], accepted: bool) -> int:
    """Accept (pay the reward) or reject (answers stop counting, microtasks re-open) submitted assignments."""
    return len(assignments_review_ids(assignment_ids, accepted))


def assignments_review_ids(assignment_ids: list[int], accepted: bool) -> list[int]:
    """As ``assignments_review``, in one transaction; returns the ids it decided (those still pending: a review
    is final, so assignments reviewed before are left as they are)."""
    with transaction.atomic(), connection.cursor() as cur:
        if not accepted:
            # Microtasks first, in id order, as the scheduler's batches take them (see worker_block_for_job).
            cur.execute(
                "SELECT 1 FROM tasks_microtask WHERE (job_id, id) IN (SELECT job_id, microtask_id FROM tasks_assignment"
                " WHERE id = ANY(%s)) ORDER BY job_id, id FOR NO KEY UPDATE",
                [list(assignment_ids)],
            )
        cur.execute(
            "UPDATE tasks_assignment SET review = %s, reviewed_at = now()"
            " WHERE id = ANY(%s) AND status = 'submitted' AND review = 'pending' RETURNING id",
            ["accepted" if accepted else "rejected", list(assignment_ids)],
        )
        changed = [row[0] for row in cur.fetchall()]
        reopened = []
        if accepted:
            cur.execute(CREDIT_SQL, [changed])
            earnings_changed({row[0] for row in cur.fetchall()})
        else:
            reopened = answers_stop_counting(changed)
    pool_return(reopened)
    return changed


AUTO_ACCEPT_SQL = """
WITH accepted AS (
  UPDATE tasks_assignment a SET review = 'accepted', reviewed_at = now()
  FROM tasks_job j
  WHERE j.id = a.job_id AND a.status = 'submitted' AND a.review = 'pending' AND a.flag = ''
    AND a.submitted_at < now() - make_interval(secs => j.auto_accept_hours * 3600)
  RETURNING a.id, a.worker_id, a.job_id, a.reward
)
INSERT INTO workers_ledgerentry (worker_id, job_id, assignment_id, kind, amount, note, created_at)
SELECT worker_id, job_id, id, 'reward', reward, 'accepted automatically', now() FROM accepted WHERE reward > 0
ON CONFLICT (assignment_id) DO NOTHING
RETURNING worker_id
"""


def assignments_auto_accept() -> int:
    """Accept answers nobody reviewed within the job's delay (flagged ones wait for a person)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(AUTO_ACCEPT_SQL)
        workers = [row[0] for row in cur.fetchall()]
        earnings_changed(set(workers))
        return len(workers)


# A worker's open pages re-read their earnings on this (workers' socket: `earnings.changed`); sent after commit,
# through the scheduler's control channel, which reaches the process holding each worker's socket.
EARNINGS_MESSAGE_MAX_WORKERS = 5000


def earnings_changed(worker_ids) -> None:
    ids = sorted(set(worker_ids))
    if not ids:
        return

    def send():
        for start in range(0, len(ids), EARNINGS_MESSAGE_MAX_WORKERS):
            try:
                pool.publish(
                    {"type": "earnings.changed", "worker_ids": ids[start : start + EARNINGS_MESSAGE_MAX_WORKERS]}
                )
            except Exception:
                # Only a nudge: the page also re-reads its earnings every 30 s.
                log.warning("could not announce earnings of %s workers", len(ids), exc_info=True)
                return

    transaction.on_commit(send)


# What a job ``j`` has committed: the rewards of live leases and of answers not rejected, and its bonuses. The
# budget check and a bonus (workers/ledger.py) count the same.
COMMITTED = """(
  SELECT coalesce(sum(a.reward), 0) FROM tasks_assignment a
  WHERE a.job_id = j.id AND (a.status = 'leased' OR (a.status = 'submitted' AND a.review <> 'rejected')))
  + (SELECT coalesce(sum(e.amount), 0) FROM workers_ledgerentry e WHERE e.job_id = j.id AND e.kind = 'bonus')"""
COMMITTED_SQL = f"SELECT j.id, j.budget, {COMMITTED} FROM tasks_job j WHERE j.status = 'open' AND j.budget IS NOT NULL"


def job_committed(job_id: int):
    """The money a job has committed (``COMMITTED``), as a Decimal."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT {COMMITTED} FROM tasks_job j WHERE j.id = %s", [job_id])
        return cur.fetchone()[0]


def budgets_enforce() -> list[int]:
    """Pause open jobs whose committed rewards and bonuses reached their budget: no new leases."""
    from .services import job_pause

    with connection.cursor() as cur:
        cur.execute(COMMITTED_SQL)
        spent = [job_id for job_id, budget, committed in cur.fetchall() if committed >= budget]
    for job_id in spent:
        job = job_pause(Job.objects.get(pk=job_id), reason="budget spent")
        log.info("job %s paused: %s", job.pk, job.status_reason)
    return spent
