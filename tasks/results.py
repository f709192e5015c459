"""The results pipeline: from answers to results, while a job runs.

The scheduler queues every microtask that reaches its answers (Redis list ``<prefix>:sched:aggregate``) and
marks its job dirty. Celery beat then runs:

- ``results_pending`` (every 2 s): results for the queued microtasks' items, then adaptive redundancy: a
  microtask whose items are still below the job's target confidence gets one more answer, up to
  ``max_answers`` (``tasks.aggregation.adaptive.needs_more_answers``, the policy ``manage.py replay`` measures);
  a job with nothing left to answer is marked done.
- ``results_refresh_dirty`` (every 30 s): a whole-job pass for jobs with new answers, as worker estimates
  improve; it also updates each worker's record on the job (answers, estimated accuracy, trust).
"""

import json
import logging
from collections import defaultdict

from django.db import connection, transaction

from quorum import events
from quorum.redis import get_redis

from .aggregation.adaptive import needs_more_answers
from .aggregation.gold import trust_score
from .aggregation.service import items_results_refresh, job_results_refresh
from .models import Job
from .quality import queue_take
from .scheduling import keys, pool

log = logging.getLogger(__name__)

MICROTASK_ITEMS_SQL = """
SELECT m.id, m.answer_count, m.rank, m.index, array_agg(i.confidence), array_agg(i.id)
FROM tasks_microtask m
JOIN tasks_item i ON i.job_id = m.job_id AND i.microtask_index = m.index
WHERE m.id = ANY(%s) AND NOT m.is_gold
GROUP BY m.id
"""

REOPEN_SQL = """
UPDATE tasks_microtask SET answers_wanted = answers_wanted + 1, status = 'open', completed_at = NULL
WHERE id = %s AND status = 'done' AND answers_wanted < %s
RETURNING id
"""


def results_pending() -> int:
    """Results for microtasks that just got their answers; one more answer where people still disagree."""
    by_job: dict[int, list[int]] = defaultdict(list)
    for entry in queue_take(f"{keys.prefix()}:aggregate"):
        job_id, microtask_id = entry.split(":")
        by_job[int(job_id)].append(int(microtask_id))
    for job_id, microtask_ids in by_job.items():
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            continue
        with connection.cursor() as cur:
            # Two index lookups: as one join, a job that fills the table got a scan of every item every 2 s.
            cur.execute("SELECT index FROM tasks_microtask WHERE id = ANY(%s) AND job_id = %s", [microtask_ids, job_id])
            indexes = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT id FROM tasks_item WHERE job_id = %s AND microtask_index = ANY(%s)", [job_id, indexes])
            items_results_refresh(job_id, [row[0] for row in cur.fetchall()])
        if job.max_answers and job.max_answers > job.redundancy:
            answers_adapt(job, microtask_ids)
        job_complete_if_finished(job)
    return sum(len(ids) for ids in by_job.values())


def answers_adapt(job: Job, microtask_ids: list[int]) -> list[int]:
    """Re-open the microtasks whose items are still below the target confidence (up to max_answers)."""
    reopened = []
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(MICROTASK_ITEMS_SQL, [microtask_ids])
        for microtask_id, answers, rank, index, confidences, _ in cur.fetchall():
            if needs_more_answers(confidences, answers, job.redundancy, job.max_answers, job.target_confidence):
                cur.execute(REOPEN_SQL, [microtask_id, job.answers_cap])
                if cur.fetchone():
                    reopened.append((microtask_id, rank, index))
    for microtask_id, rank, index in reopened:
        pool.return_slot(job.pk, microtask_id, rank, index)
    if reopened:
        pool.publish({"type": "work.available", "job_id": job.pk})
    return [m for m, _, _ in reopened]


def job_complete_if_finished(job: Job) -> bool:
    """An open job whose ordinary microtasks are all done (and none re-opened) is done."""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE tasks_job j SET status = 'done' WHERE j.id = %s AND j.status = 'open' AND NOT EXISTS"
            " (SELECT 1 FROM tasks_microtask m WHERE m.job_id = j.id AND m.status = 'open' AND NOT m.is_gold)"
            " RETURNING j.id",
            [job.pk],
        )
        finished = cur.fetchone() is not None
    if finished:
        pool.job_open_set(job.pk, False)
        events.send_to_group(events.job_group(job.pk), "job.status", {"job_id": job.pk, "status": "done"})
    return finished


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


def results_refresh_dirty() -> list[int]:
    """Whole-job refresh of the jobs that got answers since the last pass; worker records follow."""
    r = get_redis()
    name = f"{keys.prefix()}:dirty"
    pipe = r.pipeline(transaction=True)
    pipe.smembers(name)
    pipe.delete(name)
    dirty, _ = pipe.execute()
    refreshed = []
    for job_id in sorted(int(j) for j in dirty):
        if not Job.objects.filter(pk=job_id).exists():
            continue
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
        refreshed.append(job_id)
    return refreshed
