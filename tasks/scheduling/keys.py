"""Redis key names of the scheduler, in one place, with their Redis Cluster hash tags.

A cluster stores a key in the slot of its hash tag (the part in braces), and a Lua script or a transaction may only
touch keys of one slot. So:

- the pick state (open jobs, epoch, each job's window: pool, slots, gold, loaded and exhausted markers, the seen
  sets, the fill locks) and the scheduler's queues share one tag per deployment, ``{<prefix>:sched}``: one pick
  walks several jobs, and one call picks for many workers (the Picker), which only one slot can do atomically;
- a job's live counters (counts, answer rate, active workers) carry the job's tag, ``{<prefix>:job:<id>}``;
- a worker's socket count carries the worker's tag, ``{<prefix>:worker:<id>}``.

On a single Redis the braces are only characters of the names.
"""

from django.conf import settings

# A microtask's place in its job's pool: rank first (three decimals, from -1: audits of the machine's answers),
# then index.
RANK_SCALE = 1000
RANK_MIN = -1.0
INDEX_SPAN = 2**32


def prefix() -> str:
    """The pick state's hash tag, which every key built on it shares (so it shares their slot)."""
    return f"{{{settings.REDIS_PREFIX}:sched}}"


def job_tag(job_id) -> str:
    return f"{{{settings.REDIS_PREFIX}:job:{job_id}}}"


def worker_tag(worker_id) -> str:
    return f"{{{settings.REDIS_PREFIX}:worker:{worker_id}}}"


def control_channel() -> str:
    """Pub/sub channel every ASGI process listens to: work available, job changed, lease expired, worker blocked."""
    return f"{prefix()}:control"


def pool_score(rank: float, index: int) -> int:
    return round((max(rank, RANK_MIN) - RANK_MIN) * RANK_SCALE) * INDEX_SPAN + index


def rank_index_from_score(score: float) -> tuple[float, int]:
    score = int(score)
    return (score // INDEX_SPAN) / RANK_SCALE + RANK_MIN, score % INDEX_SPAN


def jobs() -> str:
    return f"{prefix()}:jobs"


def epoch() -> str:
    return f"{prefix()}:epoch"


def pool(job_id) -> str:
    return f"{prefix()}:pool:{job_id}"


def gold(job_id) -> str:
    return f"{prefix()}:gold:{job_id}"


def slots(job_id) -> str:
    return f"{prefix()}:slots:{job_id}"


def loaded(job_id) -> str:
    return f"{prefix()}:loaded:{job_id}"


def exhausted(job_id) -> str:
    return f"{prefix()}:exhausted:{job_id}"


def seen(microtask_id) -> str:
    return f"{prefix()}:seen:{microtask_id}"


def fill_lock(job_id) -> str:
    return f"{prefix()}:lock:fill:{job_id}"


def counts(job_id) -> str:
    return f"{job_tag(job_id)}:count"


def rate(job_id, bucket: int) -> str:
    return f"{job_tag(job_id)}:rate:{bucket}"


def active(job_id) -> str:
    return f"{job_tag(job_id)}:active"


def online() -> str:
    return f"{prefix()}:online"


def connections(worker_id) -> str:
    return f"{worker_tag(worker_id)}:conn"
