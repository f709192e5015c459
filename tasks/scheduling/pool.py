"""The Redis pool: a window of each open job's microtasks, picked and returned by Lua scripts.

``PICK`` walks the candidate jobs in the order the caller chose (priority lottery) and takes, for the first
job that has one, the lowest-scored microtask this worker has not seen and that has a free slot. Lower scores
are microtasks already in progress, so a microtask collects its answers before a new one is started.

The window is filled from PostgreSQL in slices of ``FILL_SIZE`` (``pool_fill``). When a job has no window yet
(first use, or Redis was flushed), ``PICK`` answers ``fill`` and the caller fills it and asks again.
"""

import json
import logging
import time

from django.db import connection

from quorum.redis import get_redis

from . import keys

log = logging.getLogger(__name__)

FILL_SIZE = 5000
LOW_WATER = 2000
SCAN_LIMIT = 3000
GOLD_SCAN = 300

# Picks for several sessions in one call (the runtime batches the picks that arrive together).
# KEYS[1]: the open-job set (keys.jobs()), which routes the call in a Redis Cluster; every key the script builds
# from ARGV[1] (keys.prefix()) carries the same hash tag, so all lie in KEYS[1]'s slot.
# ARGV: prefix, count, then per pick: worker id, try gold first (0/1), number of jobs, job ids in preference order.
# Returns one string per pick: "task:<job>:<microtask>:<low 0/1>" | "gold:<job>:<microtask>:0" | "fill:<job>"
# | "resync" | "none".
PICK = (
    """
local P = ARGV[1]

local function pick(w, try_gold, jobs)
  if redis.call('EXISTS', P .. ':epoch') == 0 then return 'resync' end
  for _, j in ipairs(jobs) do
    if redis.call('HEXISTS', P .. ':jobs', j) == 1 then
      if redis.call('EXISTS', P .. ':loaded:' .. j) == 0 then return 'fill:' .. j end
      if try_gold then
        local golds = redis.call('ZRANGE', P .. ':gold:' .. j, 0, %(gold_scan)d)
        for _, mt in ipairs(golds) do
          if redis.call('SADD', P .. ':seen:' .. mt, w) == 1 then return 'gold:' .. j .. ':' .. mt .. ':0' end
        end
      end
      local pool = P .. ':pool:' .. j
      local offset = 0
      while offset < %(scan_limit)d do
        local mts = redis.call('ZRANGE', pool, offset, offset + 199)
        if #mts == 0 then break end
        for _, mt in ipairs(mts) do
          if redis.call('SISMEMBER', P .. ':seen:' .. mt, w) == 0 then
            local left = redis.call('HINCRBY', P .. ':slots:' .. j, mt, -1)
            if left <= 0 then
              redis.call('ZREM', pool, mt)
              redis.call('HDEL', P .. ':slots:' .. j, mt)
            end
            if left >= 0 then
              redis.call('SADD', P .. ':seen:' .. mt, w)
              local low = '0'
              if redis.call('ZCARD', pool) < %(low_water)d and redis.call('EXISTS', P .. ':exhausted:' .. j) == 0 then
                low = '1'
              end
              return 'task:' .. j .. ':' .. mt .. ':' .. low
            end
          end
        end
        offset = offset + 200
      end
      if redis.call('EXISTS', P .. ':exhausted:' .. j) == 0 and redis.call('ZCARD', pool) < %(low_water)d then
        return 'fill:' .. j
      end
    end
  end
  return 'none'
end

local results = {}
local i = 3
for n = 1, tonumber(ARGV[2]) do
  local w, try_gold, k = ARGV[i], ARGV[i + 1] == '1', tonumber(ARGV[i + 2])
  local jobs = {}
  for x = 1, k do jobs[x] = ARGV[i + 2 + x] end
  results[n] = pick(w, try_gold, jobs)
  i = i + 3 + k
end
return results
""".replace("%(gold_scan)d", str(GOLD_SCAN))
    .replace("%(scan_limit)d", str(SCAN_LIMIT))
    .replace("%(low_water)d", str(LOW_WATER))
)

# Give a microtask's slot back (expired, released or skipped lease) if it lies inside the loaded window;
# beyond the window the next fill counts it from PostgreSQL. KEYS[1]: the job's slots (keys.slots(job)); the
# keys built from ARGV[1] (keys.prefix()) share its hash tag. ARGV: prefix, job, microtask, score[, count].
RETURN_SLOT = """
local P, j, mt, score = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = tonumber(ARGV[5] or '1')
local cursor = redis.call('GET', P .. ':loaded:' .. j)
if not cursor or score > tonumber(cursor) then return -1 end
local left = redis.call('HINCRBY', P .. ':slots:' .. j, mt, n)
if left > 0 then redis.call('ZADD', P .. ':pool:' .. j, score, mt) end
return left
"""

# Take a slot without a pick: a late answer was accepted for a lease whose slot had gone back (or, with a count,
# slots Redis holds beyond PostgreSQL's, pool_reconcile). KEYS[1]: the job's slots (keys.slots(job)); the keys built
# from ARGV[1] share its hash tag. ARGV: prefix, job, mt[, count].
TAKE_SLOT = """
local P, j, mt = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4] or '1')
if redis.call('HEXISTS', P .. ':slots:' .. j, mt) == 0 then return -1 end
local left = redis.call('HINCRBY', P .. ':slots:' .. j, mt, -n)
if left <= 0 then
  redis.call('ZREM', P .. ':pool:' .. j, mt)
  redis.call('HDEL', P .. ':slots:' .. j, mt)
end
return left
"""

# Live leases are counted through the (microtask, worker) index: a filter on status would tempt the planner
# into the partial index of leased rows, which grows with dead entries between vacuums.
FILL_SQL = """
SELECT m.id, m.rank, m.index,
       m.answers_wanted - m.answer_count
         - (SELECT count(*) FILTER (WHERE a.status = 'leased') FROM tasks_assignment a WHERE a.microtask_id = m.id)
FROM tasks_microtask m
WHERE m.job_id = %s AND m.status = 'open' AND NOT m.is_gold AND (m.rank, m.index) > (%s, %s)
ORDER BY m.rank, m.index
LIMIT %s
"""

GOLD_SQL = "SELECT id, rank, index FROM tasks_microtask WHERE job_id = %s AND status = 'open' AND is_gold LIMIT 5000"

SEEN_SQL = "SELECT microtask_id, worker_id FROM tasks_assignment WHERE microtask_id = ANY(%s)"


def pool_fill(job_id: int) -> bool:
    """Load the next slice of a job's open microtasks into Redis. False if another process is filling it.

    Sync on purpose: it runs rarely (once per FILL_SIZE leases) and is shared by Celery and the ASGI runtime.
    """
    r = get_redis()
    lock = keys.fill_lock(job_id)
    if not r.set(lock, "1", nx=True, px=15000):
        return False
    try:
        cursor_score = r.get(keys.loaded(job_id))
        fresh = cursor_score is None
        after = (-1.0, -1) if fresh else keys.rank_index_from_score(float(cursor_score))
        with connection.cursor() as cur:
            cur.execute(FILL_SQL, [job_id, after[0], after[1], FILL_SIZE])
            rows = cur.fetchall()
            golds = []
            if fresh:
                cur.execute(GOLD_SQL, [job_id])
                golds = cur.fetchall()
            ids = [row[0] for row in rows] + [row[0] for row in golds]
            seen: dict[int, list[int]] = {}
            if ids:
                cur.execute(SEEN_SQL, [ids])
                for mt, worker in cur.fetchall():
                    seen.setdefault(mt, []).append(worker)
        pipe = r.pipeline(transaction=True)
        if fresh:
            pipe.delete(keys.pool(job_id), keys.slots(job_id), keys.gold(job_id))
        last = -1 if fresh else int(float(cursor_score))
        pool_members, slot_values = {}, {}
        for mt, rank, index, free in rows:
            score = keys.pool_score(rank, index)
            last = max(last, score)
            if free > 0:
                pool_members[mt] = score
                slot_values[mt] = free
        if pool_members:
            pipe.zadd(keys.pool(job_id), pool_members)
            pipe.hset(keys.slots(job_id), mapping=slot_values)
        if golds:
            pipe.zadd(keys.gold(job_id), {mt: keys.pool_score(rank, index) for mt, rank, index in golds})
        for mt, workers in seen.items():
            pipe.sadd(keys.seen(mt), *workers)
        if len(rows) < FILL_SIZE:
            pipe.set(keys.exhausted(job_id), "1")
        else:
            pipe.delete(keys.exhausted(job_id))
        pipe.set(keys.loaded(job_id), last)
        pipe.execute()
        if pool_members and not fresh:
            # Workers who found the window empty while it was being filled are waiting: wake them.
            publish({"type": "work.available", "job_id": job_id})
        return True
    finally:
        r.delete(lock)


def pool_invalidate(job_id: int) -> None:
    """Forget a job's window (ranks changed, microtasks added); the next pick rebuilds it from PostgreSQL."""
    r = get_redis()
    r.delete(keys.loaded(job_id), keys.exhausted(job_id), keys.pool(job_id), keys.slots(job_id), keys.gold(job_id))
    publish({"type": "work.available", "job_id": job_id})


def return_slot(job_id: int, microtask_id: int, rank: float, index: int) -> int:
    r = get_redis()
    return r.eval(RETURN_SLOT, 1, keys.slots(job_id), keys.prefix(), job_id, microtask_id, keys.pool_score(rank, index))


WINDOW_FREE_SQL = """
SELECT m.id, m.rank, m.index,
       m.answers_wanted - m.answer_count
         - (SELECT count(*) FILTER (WHERE a.status = 'leased') FROM tasks_assignment a WHERE a.microtask_id = m.id)
FROM tasks_microtask m
WHERE m.job_id = %s AND m.status = 'open' AND NOT m.is_gold AND (m.rank, m.index) <= (%s, %s)
"""


# The free slots of given open microtasks (those Redis holds outside the window's query).
MICROTASKS_FREE_SQL = """
SELECT m.id, m.rank, m.index,
       m.answers_wanted - m.answer_count
         - (SELECT count(*) FILTER (WHERE a.status = 'leased') FROM tasks_assignment a WHERE a.microtask_id = m.id)
FROM tasks_microtask m
WHERE m.job_id = %s AND m.id = ANY(%s) AND m.status = 'open' AND NOT m.is_gold
"""


def slot_differences(job_id: int) -> dict[int, tuple[int, int]]:
    """Microtasks of the loaded window whose free slots in Redis differ from PostgreSQL's: {id: (score, free in
    PostgreSQL - free in Redis)}; above zero Redis lost slots, below zero it holds slots no longer there (a microtask
    done or leased in PostgreSQL while Redis wrote elsewhere, as a Redis failover can do)."""
    r = get_redis()
    cursor = r.get(keys.loaded(job_id))
    if cursor is None:
        return {}
    rank, index = keys.rank_index_from_score(float(cursor))
    with connection.cursor() as cur:
        cur.execute(WINDOW_FREE_SQL, [job_id, rank, index])
        free = {mt: (keys.pool_score(rank, index), max(0, n)) for mt, rank, index, n in cur.fetchall()}
    in_redis = {int(mt): int(n) for mt, n in r.hgetall(keys.slots(job_id)).items()}
    others = [mt for mt in in_redis if mt not in free]
    if others:  # re-ranked past the window's end since it was loaded, done, or gone
        with connection.cursor() as cur:
            cur.execute(MICROTASKS_FREE_SQL, [job_id, others])
            free.update({mt: (keys.pool_score(rank, index), max(0, n)) for mt, rank, index, n in cur.fetchall()})
    differences = {}
    for mt in free.keys() | in_redis.keys():
        score, want = free.get(mt, (None, 0))
        have = max(0, in_redis.get(mt, 0))
        if want != have:
            differences[mt] = (score, want - have)
    return differences


def pool_reconcile(job_id: int, settle: float = 2.0) -> int:
    """Make Redis's free slots PostgreSQL's where they differ for longer than ``settle`` seconds: give back slots
    Redis lost (a process that died between its pick and its commit took a slot no lease holds) and take away
    slots it holds beyond PostgreSQL's (writes lost in a Redis failover), which would hand out microtasks whose
    answers are then refused. A pick or a late answer in flight closes its gap in milliseconds. Returns the
    number of slots changed."""
    first = slot_differences(job_id)
    if not first:
        return 0
    time.sleep(settle)
    restored = taken = 0
    r = get_redis()
    for mt, (score, difference) in slot_differences(job_id).items():
        if mt not in first or (difference > 0) != (first[mt][1] > 0):
            continue
        if difference > 0:
            n = min(difference, first[mt][1])
            r.eval(RETURN_SLOT, 1, keys.slots(job_id), keys.prefix(), job_id, mt, score, n)
            restored += n
        else:
            n = min(-difference, -first[mt][1])
            r.eval(TAKE_SLOT, 1, keys.slots(job_id), keys.prefix(), job_id, mt, n)
            taken += n
    if restored:
        publish({"type": "work.available", "job_id": job_id})
    if restored or taken:
        log.warning(
            "job %s: Redis pool reconciled with PostgreSQL (%s slots given back, %s taken away)",
            job_id,
            restored,
            taken,
        )
    return restored + taken


def pools_reconcile(settle: float = 2.0) -> int:
    return sum(pool_reconcile(int(job_id), settle) for job_id in get_redis().hkeys(keys.jobs()))


def publish(message: dict) -> None:
    get_redis().publish(keys.control_channel(), json.dumps(message))


OPEN_JOBS_SQL = """
SELECT id, priority, required_skill, required_skill_level FROM tasks_job WHERE status = 'open'
"""


def jobs_sync() -> int:
    """Write the set of open jobs to Redis from PostgreSQL; returns how many are open."""
    with connection.cursor() as cur:
        cur.execute(OPEN_JOBS_SQL)
        rows = cur.fetchall()
    r = get_redis()
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.jobs())
    if rows:
        pipe.hset(
            keys.jobs(),
            mapping={
                job_id: json.dumps({"priority": priority, "skill": skill, "level": level})
                for job_id, priority, skill, level in rows
            },
        )
    pipe.set(keys.epoch(), int(time.time()))
    pipe.execute()
    return len(rows)


def job_open_set(job_id: int, is_open: bool, priority: int = 5, skill: str = "", level: float = 0) -> None:
    """Open or close one job for new leases, at once."""
    r = get_redis()
    if is_open:
        r.hset(keys.jobs(), job_id, json.dumps({"priority": priority, "skill": skill, "level": level}))
    else:
        r.hdel(keys.jobs(), job_id)
    publish({"type": "job.changed", "job_id": job_id, "open": is_open})


def job_microtasks_added(job_id: int) -> None:
    """New microtasks lie beyond the loaded window: let the next pick fill it, and wake idle workers."""
    get_redis().delete(keys.exhausted(job_id))
    publish({"type": "work.available", "job_id": job_id})
