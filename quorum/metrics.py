"""Every Prometheus metric of Quorum, defined here and nowhere else, and the small functions the rest of the code
calls to move them (``metrics.answers_committed(n)``, ``metrics.webhook_delivery("ok")``, ...).

Two kinds of figures:

- Events (answers, commits, ingested rows, webhook deliveries, HTTP requests) are counted by the process where
  they happen. With ``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` and the containers set it) every process
  writes its values to its own memory-mapped file there and ``/metrics`` adds them up (prometheus_client's
  multiprocess mode), so the ASGI processes and the Celery workers are one set of counters. Without it the
  figures are those of the process that answers ``/metrics``.
- State (leases in flight, results due, queue depths, workers online, automation coverage) is read when
  ``/metrics`` is scraped (``StateCollector``): a few bounded queries, cached for ``STATE_CACHE_SECONDS``, so
  however often anyone scrapes, PostgreSQL and Redis are asked at most once in that time per process.

The answer path (the group committer, thousands of answers a second) never touches a metric object: a batch adds
a few integers to ``_tally`` (well under a microsecond), and the scheduler runtime moves the tally into the
metrics once a second (``flush``).
"""

import hmac
import logging
import os
import socket
import threading
import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
STATE_CACHE_SECONDS = 5.0
# Counting stops here: a count this large already says what it needs to, and the query stays bounded.
STATE_COUNT_LIMIT = 1_000_000


def process_identifier(pid: int | None = None) -> str:
    """This process's name in the multiprocess directory: host and pid, so that containers sharing the directory
    (each with its own pid 1) never write to one file. Underscores would break prometheus_client's file names."""
    host = socket.gethostname().replace("_", "-") or "host"
    return f"{host}-{os.getpid() if pid is None else pid}"


if MULTIPROCESS_DIR:
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)
    # A process starts with no open sockets: live gauges a dead process of the same name left behind go.
    prometheus_multiprocess.mark_process_dead(process_identifier(), MULTIPROCESS_DIR)


# --- the answer path ----------------------------------------------------------------------------------------------
ANSWERS = Counter("quorum_answers", "Answers stored (one per item answered), counted after their commit.")
SUBMISSIONS = Counter("quorum_submissions_accepted", "Accepted submissions (one per microtask answered).")
COMMIT_BATCH_SIZE = Histogram(
    "quorum_commit_batch_size",
    "Statements (leases, submits, releases) per group commit of the scheduler.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
COMMIT_SECONDS = Histogram(
    "quorum_commit_seconds",
    "Time of one group commit of the scheduler (one round trip to PostgreSQL and its fsync).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SOCKETS = Gauge("quorum_sockets_open", "Worker WebSockets registered with the scheduler.", multiprocess_mode="livesum")

# --- intake, background, HTTP, webhooks ---------------------------------------------------------------------------
INGEST_ROWS = Counter("quorum_ingest_rows", "Data rows stored by ingests that committed.")
INGESTS = Counter("quorum_ingests", "Ingests that ended, by outcome (ok, failed).", ["outcome"])
BACKGROUND_TASKS = Counter(
    "quorum_background_tasks", "Celery jobs that ended, by task and outcome (ok, failed).", ["task", "outcome"]
)
HTTP_REQUESTS = Counter("quorum_http_requests", "HTTP requests answered by Django, by method and status class.",
                        ["method", "status"])  # fmt: skip
HTTP_SECONDS = Histogram(
    "quorum_http_request_seconds",
    "Time Django took to answer an HTTP request.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_DELIVERIES = Counter(
    "quorum_webhook_deliveries", "Webhook delivery attempts, by result (an HTTP status class, or an error).", ["status"]
)
WEBHOOK_FAILURES = Counter("quorum_webhook_failures", "Webhook deliveries given up after their last attempt.")

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Tally:
    """What the answer path counted since the last flush: plain integers and floats, no locks, no metric calls."""

    __slots__ = ("answers", "submissions", "size_sum", "size_buckets", "seconds_sum", "seconds_buckets")

    def __init__(self) -> None:
        self.answers = 0
        self.submissions = 0
        self.size_sum = 0
        self.size_buckets = [0] * len(COMMIT_BATCH_SIZE._upper_bounds)
        self.seconds_sum = 0.0
        self.seconds_buckets = [0] * len(COMMIT_SECONDS._upper_bounds)


# Bucket bounds as the histograms hold them (the last is +Inf): bisect_left finds the first bound >= a value,
# the bucket Histogram.observe would pick.
_SIZE_BOUNDS = tuple(COMMIT_BATCH_SIZE._upper_bounds)
_SECONDS_BOUNDS = tuple(COMMIT_SECONDS._upper_bounds)
_tally = Tally()


def commit_batch(size: int, seconds: float) -> None:
    """One group commit of ``size`` statements took ``seconds`` (called by the committer, once per batch)."""
    tally = _tally
    tally.size_sum += size
    tally.size_buckets[bisect_left(_SIZE_BOUNDS, size)] += 1
    tally.seconds_sum += seconds
    tally.seconds_buckets[bisect_left(_SECONDS_BOUNDS, seconds)] += 1


def answers_committed(answers: int, submissions: int) -> None:
    """A commit stored ``answers`` answers in ``submissions`` accepted submissions."""
    tally = _tally
    tally.answers += answers
    tally.submissions += submissions


def flush() -> None:
    """Move the answer path's tally into the metrics (the scheduler runtime calls this every second, on the event
    loop that also fills the tally, so no count is lost between the two). Histograms get whole bucket counts at once: one write per bucket that moved,
    not one observation per batch."""
    global _tally
    tally, _tally = _tally, Tally()
    if tally.answers:
        ANSWERS.inc(tally.answers)
    if tally.submissions:
        SUBMISSIONS.inc(tally.submissions)
    for histogram, total, buckets in (
        (COMMIT_BATCH_SIZE, tally.size_sum, tally.size_buckets),
        (COMMIT_SECONDS, tally.seconds_sum, tally.seconds_buckets),
    ):
        moved = False
        for at, count in enumerate(buckets):
            if count:
                histogram._buckets[at].inc(count)
                moved = True
        if moved:
            histogram._sum.inc(total)


def socket_opened() -> None:
    SOCKETS.inc()


def socket_closed() -> None:
    SOCKETS.dec()


def ingest_finished(rows: int) -> None:
    INGEST_ROWS.inc(rows)
    INGESTS.labels("ok").inc()


def ingest_failed() -> None:
    INGESTS.labels("failed").inc()


def background_task_finished(task: str, ok: bool) -> None:
    BACKGROUND_TASKS.labels(task, "ok" if ok else "failed").inc()


def http_request(method: str, status: int, seconds: float) -> None:
    """One answered request; methods outside the usual few are one label, so a client cannot add series."""
    HTTP_REQUESTS.labels(method if method in HTTP_METHODS else "other", f"{status // 100}xx").inc()
    HTTP_SECONDS.observe(seconds)


def webhook_delivery(status: int | str) -> None:
    """One delivery attempt: an HTTP status (counted by class, ``2xx``...) or a short error word (``timeout``,
    ``connection``). Error words are the caller's constants, never text from the receiver."""
    WEBHOOK_DELIVERIES.labels(f"{status // 100}xx" if isinstance(status, int) else status).inc()


def webhook_failed() -> None:
    """A delivery given up for good (every retry failed)."""
    WEBHOOK_FAILURES.inc()


# --- state, read when scraped ------------------------------------------------------------------------------------


class StateCollector:
    """Gauges of what is, not of what happened: read from PostgreSQL and Redis at scrape time, at most once per
    ``STATE_CACHE_SECONDS``, each query bounded (``STATE_COUNT_LIMIT``, a statement timeout)."""

    def __init__(self, cache_seconds: float = STATE_CACHE_SECONDS):
        self.cache_seconds = cache_seconds
        self.lock = threading.Lock()
        self.read_at = -1e9
        self.families: list = []

    def collect(self):
        with self.lock:  # scrapes that arrive together share one read
            if time.monotonic() - self.read_at >= self.cache_seconds:
                self.families = self.read()
                self.read_at = time.monotonic()
            return list(self.families)

    def read(self) -> list:
        families = []
        up = GaugeMetricFamily("quorum_state_up", "1 when the state gauges below could be read, by source.",
                               labels=["source"])  # fmt: skip
        try:
            families += database_state()
            up.add_metric(["postgresql"], 1)
        except Exception:
            log.warning("metrics: could not read the state from PostgreSQL", exc_info=True)
            up.add_metric(["postgresql"], 0)
        try:
            families += redis_state()
            up.add_metric(["redis"], 1)
        except Exception:
            log.warning("metrics: could not read the state from Redis", exc_info=True)
            up.add_metric(["redis"], 0)
        return [*families, up]


def database_state() -> list:
    from tasks.selectors import operations_state

    state = operations_state(limit=STATE_COUNT_LIMIT)
    jobs = GaugeMetricFamily("quorum_jobs", "Jobs by status.", labels=["status"])
    for status, count in sorted(state["jobs"].items()):
        jobs.add_metric([status], count)
    taken, items = state["automation_items_taken"], state["automation_items"]
    return [
        jobs,
        GaugeMetricFamily("quorum_leases_in_flight", "Assignments leased and not yet submitted, skipped or expired.",
                          value=state["leases"]),
        GaugeMetricFamily("quorum_results_pending", "Finished microtasks whose results are not written yet.",
                          value=state["results_due"]),
        GaugeMetricFamily("quorum_automation_items", "Items of open and paused jobs with automation on.",
                          value=items),
        GaugeMetricFamily("quorum_automation_items_taken", "Of those, items the model answered.", value=taken),
        GaugeMetricFamily("quorum_automation_coverage", "Share of the items of automated live jobs the model answered.",
                          value=taken / items if items else 0.0),
    ]  # fmt: skip


def redis_state() -> list:
    from django.conf import settings

    from quorum.redis import get_redis
    from tasks.scheduling import keys

    prefix = keys.prefix()
    queues = {
        "celery-default": settings.CELERY_TASK_DEFAULT_QUEUE,
        "celery-automation": f"{settings.REDIS_PREFIX}.automation",
    }
    celery_prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for queue in queues.values():
        # Kombu keeps a queue's priorities 3, 6, 9 in lists of their own beside the plain one.
        for name in (queue, *(f"{queue}\x06\x16{p}" for p in (3, 6, 9))):
            pipe.llen(f"{celery_prefix}{name}")
    pipe.llen(f"{prefix}:aggregate")
    pipe.llen(f"{prefix}:goldcheck")
    pipe.scard(f"{prefix}:dirty")
    pipe.zcard(keys.online())
    replies = pipe.execute()
    depth = GaugeMetricFamily("quorum_queue_depth", "Entries waiting in a queue.", labels=["queue"])
    for at, label in enumerate(queues):
        depth.add_metric([label], sum(replies[at * 4 : at * 4 + 4]))
    aggregate, goldcheck, dirty, online = replies[len(queues) * 4 :]
    depth.add_metric(["microtasks-to-aggregate"], aggregate)
    depth.add_metric(["gold-answers-to-check"], goldcheck)
    depth.add_metric(["jobs-to-refresh"], dirty)
    return [depth, GaugeMetricFamily("quorum_workers_online", "Workers with an open socket.", value=online)]


_state = StateCollector()


def exposition() -> bytes:
    """The text ``/metrics`` answers: every process's figures (multiprocess mode) or this one's, and the state.
    The answer path's tally is not flushed from here: this runs in a thread, the tally belongs to the event loop
    (the runtime flushes it every second)."""
    registry = CollectorRegistry()
    if MULTIPROCESS_DIR:
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry.register(_Forward(REGISTRY))
    registry.register(_state)
    return generate_latest(registry)


class _Forward:
    """This process's own metrics (the default registry) inside another registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


def token_matches(given: str, expected: str) -> bool:
    """Constant-time: how much of a guess was right does not show in the time taken."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
