"""Measured pace, for the cost model: each job's median seconds per item and each worker's relative speed.

Celery beat runs ``pace_refresh`` every minute. A job's median goes to ``Job.median_seconds_per_item``; a
worker's speed r (the job's median time over theirs, so r > 1 is faster than the crowd) goes to Redis, where
the scheduler reads it when it sizes a lease (``runtime.lease_seconds_for``).
"""

from django.db import connection

from quorum.redis import get_redis

from . import keys, pool

# Items per answer: its answer rows, one per item (the (assignment, item) key). Not the microtask's item count: a
# join to microtasks over many jobs would lock every job's table (tasks/partitions.py).
ITEMS = "CROSS JOIN LATERAL (SELECT count(*) AS n FROM tasks_answer x WHERE x.assignment_id = a.id) items"

JOB_MEDIANS_SQL = f"""
UPDATE tasks_job j SET median_seconds_per_item = s.med
FROM (
  SELECT a.job_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY a.seconds_taken / items.n) AS med
  FROM tasks_assignment a {ITEMS}
  WHERE a.status = 'submitted' AND a.seconds_taken IS NOT NULL AND a.submitted_at > now() - interval '1 day'
    AND items.n > 0
  GROUP BY a.job_id HAVING count(*) >= %(min_answers)s
) s
WHERE j.id = s.job_id AND j.median_seconds_per_item IS DISTINCT FROM s.med
RETURNING j.id
"""

WORKER_SPEED_SQL = f"""
SELECT a.worker_id,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY j.median_seconds_per_item * items.n / greatest(a.seconds_taken, 0.1)) AS speed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.seconds_taken / items.n) AS seconds_per_item
FROM tasks_assignment a
{ITEMS}
JOIN tasks_job j ON j.id = a.job_id
WHERE a.status = 'submitted' AND a.seconds_taken IS NOT NULL AND j.median_seconds_per_item IS NOT NULL
  AND a.submitted_at > now() - interval '1 day' AND items.n > 0
GROUP BY a.worker_id HAVING count(*) >= %(min_answers)s
"""


def pace_refresh(min_job_answers: int = 20, min_worker_answers: int = 10) -> dict[str, int]:
    with connection.cursor() as cur:
        cur.execute(JOB_MEDIANS_SQL, {"min_answers": min_job_answers})
        changed_jobs = [row[0] for row in cur.fetchall()]
        cur.execute(WORKER_SPEED_SQL, {"min_answers": min_worker_answers})
        speeds = cur.fetchall()
        if speeds:
            cur.execute(
                "UPDATE workers_workerprofile p SET seconds_per_item = s.spi"
                " FROM unnest(%s::bigint[], %s::float8[]) AS s(worker_id, spi) WHERE p.user_id = s.worker_id",
                [[w for w, _, _ in speeds], [spi for _, _, spi in speeds]],
            )
    if speeds:
        get_redis().hset(f"{keys.prefix()}:speed", mapping={w: round(speed, 3) for w, speed, _ in speeds})
    for job_id in changed_jobs:
        pool.publish({"type": "job.changed", "job_id": job_id, "open": True})
    return {"jobs": len(changed_jobs), "workers": len(speeds)}
