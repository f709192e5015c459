"""Live job counts for dashboards: kept in Redis by the scheduler, seeded from PostgreSQL when missing."""

import time

from django.db import connection

from quorum.redis import get_redis

from . import keys

COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM tasks_answer WHERE job_id = %(job)s) AS answers,
  (SELECT count(*) FROM tasks_microtask WHERE job_id = %(job)s AND status = 'done') AS microtasks_done,
  (SELECT coalesce(sum(item_count), 0) FROM tasks_microtask WHERE job_id = %(job)s AND status = 'done') AS items_done
"""


SEED_SECONDS = 300


def job_counts_seed(job_id: int) -> dict[str, int]:
    """Count from PostgreSQL and store in Redis (first use, or after Redis lost its state)."""
    with connection.cursor() as cur:
        cur.execute(COUNTS_SQL, {"job": job_id})
        answers, microtasks_done, items_done = cur.fetchone()
    counts = {"answers": answers, "microtasks_done": microtasks_done, "items_done": int(items_done)}
    r = get_redis()
    pipe = r.pipeline()
    pipe.hset(keys.counts(job_id), mapping={**counts, "seeded": 1})
    # Counted again from PostgreSQL every few minutes, so the increments never drift far.
    pipe.expire(keys.counts(job_id), SEED_SECONDS)
    pipe.execute()
    return counts


async def job_live_counts(r, job_id: int) -> dict:
    """answers, microtasks_done, items_done, workers_active (last 2 minutes), answers_per_minute."""
    now = time.time()
    bucket = int(now // 10)
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.counts(job_id))
    pipe.zcount(keys.active(job_id), now - 120, "+inf")
    for b in range(bucket - 5, bucket + 1):
        pipe.get(keys.rate(job_id, b))
    counts, active, *rates = await pipe.execute()
    out = {k: int(v) for k, v in (counts or {}).items() if k != "seeded"}
    out["workers_active"] = int(active)
    out["answers_per_minute"] = sum(int(x) for x in rates if x)
    return out
