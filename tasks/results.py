"""The results pipeline: from answers to results, while a job runs.

The scheduler queues every microtask that reaches its answers (Redis list ``<prefix>:sched:aggregate``) and
marks its job dirty. Celery beat then runs:

- ``results_pending`` (every 2 s): results for the queued microtasks' items, then adaptive redundancy: a
  microtask whose items are still below the job's target (on the consensus confidence, ``stop_confidence``)
  gets one more answer, up to
  ``max_answers`` (``tasks.aggregation.adaptive.needs_more_answers``, the policy ``manage.py replay`` measures);
  a job with nothing left to answer is marked done.
- ``results_refresh_dirty`` (every 30 s): a whole-job pass for jobs with new answers, as worker estimates
  improve; it also updates each worker's record on the job (answers, estimated accuracy, trust).
- ``results_repair`` (every 30 s): the same work found from PostgreSQL alone, for when Redis lost the queue or
  a Celery worker died mid-pass: finished microtasks whose results are not from their latest answers
  (``models.RESULTS_DUE``, a small partial index), and open jobs with nothing left to do.

Redis is only the fast path: work leaves a queue after its commit, and a microtask's ``results_for`` is written
in the same transaction as its items' results, so nothing acknowledged is lost to a flush or a crash.
"""

import json
import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from quorum import events
from quorum.redis import get_redis
from webhooks import services as webhooks

from . import partitions
from .aggregation.adaptive import needs_more_answers
from .aggregation.gold import trust_score
from .aggregation.service import items_results_refresh, job_results_refresh, stop_confidence
from .models import RESULTS_DUE, Job, Microtask
from .pairs import pairs_draw_next
from .scheduling import keys, pool

log = logging.getLogger(__name__)

# Queue entries one pass takes; a pass that dies holds the queue until its lock expires (the repair pass does the
# work meanwhile), so the lock outlives a slow pass by far.
PENDING_BATCH = 5000
PENDING_LOCK_SECONDS = 120
# The repair pass leaves microtasks finished this recently to the queue, and takes at most this many a pass.
REPAIR_SETTLE_SECONDS = 10
REPAIR_BATCH = 5000

MICROTASK_ITEMS_SQL = """
SELECT m.id, m.answer_count, m.rank, m.index, array_agg(i.confidence), array_agg(i.id)
FROM tasks_microtask m
JOIN tasks_item i ON i.job_id = m.job_id AND i.microtask_index = m.index
WHERE m.job_id = %s AND m.id = ANY(%s) AND NOT m.is_gold
GROUP BY m.job_id, m.id
"""

REOPEN_SQL = """
UPDATE tasks_microtask SET answers_wanted = answers_wanted + 1, status = 'open', completed_at = NULL
WHERE job_id = %s AND id = %s AND status = 'done' AND answers_wanted < %s
RETURNING id
"""

# The results are from the answers that came with this completed_at (read before the answers were): a microtask
# completed again meanwhile keeps its new completed_at and stays due.
RESULTS_FOR_SQL = """
UPDATE tasks_microtask m SET results_for = t.completed_at
FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(id, completed_at)
WHERE m.job_id = %s AND m.id = t.id AND m.completed_at = t.completed_at AND m.results_for IS DISTINCT FROM t.completed_at
"""

# Takes the queue's head off only if this pass still holds the lock (one that outlived it lets the next pass
# redo the work: results are idempotent); entries of jobs that failed go to the back, for the next pass.
QUEUE_DONE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
for i = 3, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('DEL', KEYS[1])
return 1
"""

# The dirty jobs move to a set of their own while a pass works on them, and leave it one by one as each job's
# refresh commits: a pass that dies leaves them there for the next.
DIRTY_TAKE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
return redis.call('SMEMBERS', KEYS[2])
"""


def _aggregate_queue() -> str:
    return f"{keys.prefix()}:aggregate"


def _dirty() -> str:
    return f"{keys.prefix()}:dirty"


def results_pending() -> int:
    """Results for microtasks that just got their answers; one more answer where people still disagree.

    Entries stay on the queue until their job's results are committed; a job that fails keeps its entries (at
    the back) and the error is raised once the other jobs are done. Returns the microtasks handled.
    """
    r = get_redis()
    lock, token = f"{keys.prefix()}:aggregate:lock", uuid.uuid4().hex
    if not r.set(lock, token, nx=True, ex=PENDING_LOCK_SECONDS):
        return 0  # another pass is at work on the same entries
    entries = r.lrange(_aggregate_queue(), 0, PENDING_BATCH - 1)
    by_job: dict[int, list[int]] = defaultdict(list)
    for entry in entries:
        job_id, microtask_id = entry.split(":")
        by_job[int(job_id)].append(int(microtask_id))
    failed: list[str] = []
    error: Exception | None = None
    handled = 0
    for job_id, microtask_ids in by_job.items():
        try:
            job = Job.objects.filter(pk=job_id).first()
            if job is not None:
                microtasks_results_write(job, microtask_ids)
            handled += len(microtask_ids)
        except Exception as exc:
            log.exception("results for %s microtasks of job %s failed; they stay queued", len(microtask_ids), job_id)
            failed += [f"{job_id}:{m}" for m in microtask_ids]
            error = error or exc
    r.eval(QUEUE_DONE_LUA, 2, lock, _aggregate_queue(), token, len(entries), *failed)
    if error is not None:
        raise error
    return handled


def microtasks_results_write(job: Job, microtask_ids: list[int]) -> bool:
    """Results for the items of these microtasks of one job, adaptive redundancy, then the job done if it is.

    One transaction writes the results, re-opens the microtasks people still disagree on, and records on each
    microtask which completion its results are from (``results_for``). Safe to repeat. Returns whether this
    finished the job.
    """
    with connection.cursor() as cur:
        # Two index lookups: as one join, a job that fills the table got a scan of every item every 2 s.
        # completed_at is read before the answers are, so the answers read include those it stands for.
        cur.execute(
            "SELECT id, index, completed_at FROM tasks_microtask WHERE id = ANY(%s) AND job_id = %s",
            [microtask_ids, job.pk],
        )
        microtasks = cur.fetchall()
        cur.execute(
            "SELECT id FROM tasks_item WHERE job_id = %s AND microtask_index = ANY(%s)",
            [job.pk, [index for _, index, _ in microtasks]],
        )
        item_ids = [row[0] for row in cur.fetchall()]
    ids = sorted(m for m, _, _ in microtasks)
    with transaction.atomic():
        items_results_refresh(job.pk, item_ids)
        with connection.cursor() as cur:
            # The scheduler's commits lock microtasks in id order; so do we, and only now, for the short rest.
            cur.execute(
                "SELECT 1 FROM tasks_microtask WHERE job_id = %s AND id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                [job.pk, ids],
            )
            reopened = (
                microtasks_reopen_uncertain(job, ids) if job.max_answers and job.max_answers > job.redundancy else []
            )
            done = [(m, completed) for m, _, completed in microtasks if completed is not None]
            cur.execute(RESULTS_FOR_SQL, [[m for m, _ in done], [c for _, c in done], job.pk])
    for microtask_id, rank, index in reopened:
        pool.return_slot(job.pk, microtask_id, rank, index)
    if reopened:
        pool.publish({"type": "work.available", "job_id": job.pk})
    # job_complete_if_finished first draws a drawn-pairs job's next pairs when few are open.
    return job_complete_if_finished(job)


def microtasks_reopen_uncertain(job: Job, microtask_ids: list[int]) -> list[tuple[int, float, int]]:
    """Re-open the microtasks whose items are still below the target confidence (up to max_answers).

    Call inside the transaction that wrote their results; returns (id, rank, index) of the re-opened ones, whose
    slots go back to the pool after the commit.
    """
    reopened = []
    target = stop_confidence(job)
    with connection.cursor() as cur:
        cur.execute(MICROTASK_ITEMS_SQL, [job.pk, microtask_ids])
        for microtask_id, answers, rank, index, confidences, _ in cur.fetchall():
            if needs_more_answers(confidences, answers, job.redundancy, job.max_answers, target):
                cur.execute(REOPEN_SQL, [job.pk, microtask_id, job.answers_cap])
                if cur.fetchone():
                    reopened.append((microtask_id, rank, index))
    return reopened


def job_complete_if_finished(job: Job) -> bool:
    """An open job whose ordinary microtasks are all done (and none re-opened) and whose results are all written
    is done; its workers' records get a last whole-job pass."""
    # A job of drawn pairs gets its next pairs once few are open (chosen by the answers so far); with budget left
    # it goes on with them.
    if pairs_draw_next(job):
        return False
    due = Microtask.objects.filter(RESULTS_DUE, job_id=job.pk).values("id")
    due_sql, due_params = due.query.sql_with_params()
    finished_sql = (
        "NOT EXISTS (SELECT 1 FROM tasks_microtask m WHERE m.job_id = j.id AND m.status = 'open' AND NOT m.is_gold)"
        f" AND NOT EXISTS ({due_sql})"
    )
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT 1 FROM tasks_job j WHERE j.id = %s AND j.status = 'open' AND {finished_sql}", [job.pk, *due_params]
        )
        if cur.fetchone() is None:
            return False
    # The results from the whole job's answers before it is done, so that nothing (a webhook's item.result, an
    # export) changes after "done"; the pass that follows it finds nothing to rewrite.
    job_results_refresh(job.pk)
    with transaction.atomic(), connection.cursor() as cur:
        # The job's row lock first, as answers that stop counting take it before they re-open microtasks
        # (quality.answers_stop_counting): the check below then sees their commit, so a job is never marked done
        # by a look at microtasks that were being re-opened.
        cur.execute("SELECT 1 FROM tasks_job WHERE id = %s AND status = 'open' FOR NO KEY UPDATE", [job.pk])
        if cur.fetchone() is None:
            return False
        cur.execute(
            f"UPDATE tasks_job j SET status = 'done' WHERE j.id = %s AND j.status = 'open' AND {finished_sql} RETURNING j.id",
            [job.pk, *due_params],
        )
        finished = cur.fetchone() is not None
        if finished:
            webhooks.event_record(job.pk, "job.done", {"status": "done"})
    if finished:
        from .buckets.exports import bucket_exports_release

        bucket_exports_release(job.pk)  # results exports waiting for the job to be done
        pool.job_open_set(job.pk, False)
        get_redis().sadd(_dirty(), job.pk)
        events.send_to_group(events.job_group(job.pk), "job.status", {"job_id": job.pk, "status": "done"})
    return finished


class Repair(NamedTuple):
    microtasks: int  # finished microtasks whose results were written by this pass
    jobs_done: list[int]


def results_due_query(job_ids: list[int], before):
    """(job, microtask) of the jobs' finished microtasks whose results are not from their latest answers: a read
    of the partial index ``microtask_results_due`` (each job's copy), which holds only them."""
    return Microtask.objects.filter(RESULTS_DUE, job_id__in=job_ids, completed_at__lte=before).values_list(
        "job_id", "id"
    )


def microtasks_results_due(settle_seconds: float = REPAIR_SETTLE_SECONDS, limit: int = REPAIR_BATCH) -> list:
    """Those of every job, a hundred jobs a query (tasks/partitions.py: job_chunks)."""
    before = timezone.now() - timedelta(seconds=settle_seconds)
    return partitions.rows_over_jobs(
        Job.objects.values_list("id", flat=True),
        lambda jobs, room: results_due_query(jobs, before).order_by()[:room],
        limit,
    )


# Of the given jobs, those with an ordinary microtask open; the jobs are named so that only their tables are read.
JOBS_WITH_OPEN_WORK_SQL = """
SELECT j FROM unnest(%(jobs)s::bigint[]) j
WHERE EXISTS (SELECT 1 FROM tasks_microtask m
              WHERE m.job_id = ANY(%(jobs)s::bigint[]) AND m.job_id = j AND m.status = 'open' AND NOT m.is_gold)
"""


def jobs_with_open_work(job_ids) -> set[int]:
    def open_among(jobs: list[int], room) -> list[int]:
        with connection.cursor() as cur:
            cur.execute(JOBS_WITH_OPEN_WORK_SQL, {"jobs": jobs})
            return [row[0] for row in cur.fetchall()]

    return set(partitions.rows_over_jobs(job_ids, open_among))


def results_repair(settle_seconds: float = REPAIR_SETTLE_SECONDS) -> Repair:
    """From PostgreSQL alone: the results that a lost queue entry or a failed pass left unwritten, and the jobs
    that are in fact done. Each job is repaired on its own, so one that fails does not hold up the others."""
    by_job: dict[int, list[int]] = defaultdict(list)
    for job_id, microtask_id in microtasks_results_due(settle_seconds):
        by_job[job_id].append(microtask_id)
    repaired, done, error = 0, [], None
    for job_id, microtask_ids in sorted(by_job.items()):
        try:
            job = Job.objects.get(pk=job_id)
            if microtasks_results_write(job, microtask_ids):
                done.append(job_id)
        except Exception as exc:
            log.exception("repair of the results of job %s failed", job_id)
            error = error or exc
            continue
        get_redis().sadd(_dirty(), job_id)  # the whole-job pass and worker records, whose marks went too
        repaired += len(microtask_ids)
    if repaired:
        log.warning("results written for %s finished microtasks the queue had lost", repaired)
    open_jobs = set(Job.objects.filter(status=Job.Status.OPEN).values_list("id", flat=True))
    candidates = open_jobs - jobs_with_open_work(open_jobs)
    done += [job.pk for job in Job.objects.filter(pk__in=candidates).order_by("pk") if job_complete_if_finished(job)]
    jobs_reopen_unfinished()
    if error is not None:
        raise error
    return Repair(repaired, done)


def jobs_reopen_unfinished() -> list[int]:
    """From PostgreSQL: re-open done jobs that have an ordinary microtask open (answers stopped counting and their
    re-opening was lost), so people are asked for the answers they still need."""
    from .quality import jobs_reopen_if_done

    job_ids = sorted(jobs_with_open_work(Job.objects.filter(status=Job.Status.DONE).values_list("id", flat=True)))
    if not job_ids:
        return []
    with transaction.atomic():
        reopened = jobs_reopen_if_done(job_ids)
    if reopened:
        log.warning("done jobs %s had open microtasks; re-opened", reopened)
    return reopened


JOBWORKER_SQL = """
INSERT INTO tasks_jobworker (job_id, worker_id, answers, gold_total, gold_correct, estimated_accuracy, trust,
                             flagged, blocked, blocked_reason, updated_at)
SELECT %(job)s, s.worker_id, s.answers, 0, 0, s.accuracy, NULL, s.flagged, false, '', now()
FROM (
  SELECT a.worker_id, count(*) AS answers, count(*) FILTER (WHERE g.flag <> '') AS flagged,
         (%(accuracy)s::jsonb ->> a.worker_id::text)::float AS accuracy
  FROM tasks_answer a JOIN tasks_assignment g ON g.id = a.assignment_id
  WHERE a.job_id = %(job)s GROUP BY a.worker_id
) s
ON CONFLICT (job_id, worker_id) DO UPDATE SET
  answers = EXCLUDED.answers, flagged = EXCLUDED.flagged,
  estimated_accuracy = coalesce(EXCLUDED.estimated_accuracy, tasks_jobworker.estimated_accuracy), updated_at = now()
RETURNING worker_id, answers, gold_total, gold_correct, estimated_accuracy
"""


# Each worker's answers over every job (the admin's and console's count), from the job records just written.
PROFILE_ANSWERS_SQL = """
UPDATE workers_workerprofile p SET answers_count = t.total
FROM (SELECT worker_id, sum(answers) AS total FROM tasks_jobworker WHERE worker_id = ANY(%s) GROUP BY worker_id) t
WHERE p.user_id = t.worker_id AND p.answers_count IS DISTINCT FROM t.total
"""


def results_refresh_dirty() -> list[int]:
    """Whole-job refresh of the jobs that got answers since the last pass; worker records follow."""
    r = get_redis()
    taking = f"{_dirty()}:taking"
    dirty = r.eval(DIRTY_TAKE_LUA, 2, _dirty(), taking)
    refreshed, error = [], None
    for job_id in sorted(int(j) for j in dirty):
        try:
            if job_worker_records_refresh(job_id):
                refreshed.append(job_id)
        except Exception as exc:
            log.exception("whole-job results of job %s failed; tried again next pass", job_id)
            error = error or exc
            continue
        r.srem(taking, job_id)
    if error is not None:
        raise error
    return refreshed


def job_worker_records_refresh(job_id: int) -> bool:
    """Whole-job results, then each worker's record on the job; False if the job is gone."""
    if not Job.objects.filter(pk=job_id).exists():
        return False
    summary = job_results_refresh(job_id)
    accuracy = {str(w): a for w, a in summary.worker_accuracy.items()}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(JOBWORKER_SQL, {"job": job_id, "accuracy": json.dumps(accuracy)})
        workers, trusts = [], []
        for worker_id, answers, gold_total, gold_correct, estimated in cur.fetchall():
            estimated_correct = (estimated or 0) * answers if estimated is not None else 0
            workers.append(worker_id)
            trusts.append(
                trust_score(gold_total, gold_correct, answers if estimated is not None else 0, estimated_correct)
            )
        # One statement for the job's whole crowd (a round trip per worker was thousands of them).
        cur.execute(
            "UPDATE tasks_jobworker w SET trust = t.trust"
            " FROM unnest(%s::bigint[], %s::float8[]) AS t(worker_id, trust)"
            " WHERE w.job_id = %s AND w.worker_id = t.worker_id",
            [workers, trusts, job_id],
        )
        cur.execute(PROFILE_ANSWERS_SQL, [workers])
    return True
