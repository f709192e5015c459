"""Every write of webhooks: endpoints, the outbox (events recorded in the transaction of the change they report),
its dispatch into deliveries, and each delivery's attempts (docs/WEBHOOKS.md)."""

import json
import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from quorum import metrics

from . import delivery as http
from .models import EVENT_NAMES, ITEM_RESULT, Delivery, Endpoint, Event
from .selectors import event_subscribed

log = logging.getLogger(__name__)

# A claim on a delivery outlives its longest possible attempt; past it, a dead Celery worker's try is repeated.
CLAIM_MARGIN_SECONDS = 30
# Item results per outbox row: a results pass over a million items writes a thousand rows, each in one statement.
RESULTS_PER_EVENT = 1000
# Outbox rows one dispatch transaction takes (at most RESULTS_PER_EVENT results each).
DISPATCH_BATCH = 100
# Seconds one send task goes on with one (endpoint, job) before it queues the rest as a new task.
SEND_BUDGET_SECONDS = 10.0
# pg_try_advisory_xact_lock key of the dispatcher ("qwhk").
DISPATCH_LOCK = 0x7177686B


class EndpointError(ValueError):
    """An endpoint's settings are not acceptable; the message says which and why."""


# --- endpoints ------------------------------------------------------------------------------------------------------
def endpoint_problems(*, url: str | None = None, events: list | None = None) -> dict[str, str]:
    problems = {}
    if url is not None:
        problem = http.url_problem(url)
        if problem:
            problems["url"] = problem
    if events is not None:
        unknown = [e for e in events if e not in EVENT_NAMES]
        if not events:
            problems["events"] = "name at least one event"
        elif unknown:
            problems["events"] = f"unknown events {unknown}; known: {', '.join(EVENT_NAMES)}"
    return problems


def endpoint_create(*, owner, url: str, events: list[str], job=None, secret: str = "", **fields) -> Endpoint:
    """A new endpoint; without a secret one is drawn. The caller shows the secret once."""
    problems = endpoint_problems(url=url, events=events)
    if problems:
        raise EndpointError(problems)
    if Endpoint.objects.filter(owner=owner).count() >= settings.QUORUM_WEBHOOK_MAX_ENDPOINTS:
        raise EndpointError({"url": f"at most {settings.QUORUM_WEBHOOK_MAX_ENDPOINTS} endpoints per requester"})
    return Endpoint.objects.create(
        owner=owner, url=url, events=list(dict.fromkeys(events)), job=job,
        secret=secret or secrets.token_urlsafe(32), **fields,
    )  # fmt: skip


def endpoint_update(endpoint: Endpoint, **changes) -> Endpoint:
    problems = endpoint_problems(url=changes.get("url"), events=changes.get("events"))
    if problems:
        raise EndpointError(problems)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save()
    if changes.get("active"):
        transaction.on_commit(lambda: deliveries_enqueue(list(_heads_of_endpoint(endpoint.pk))))
    return endpoint


def endpoint_delete(endpoint: Endpoint) -> None:
    endpoint.delete()


def _heads_of_endpoint(endpoint_id: int):
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status__in=Delivery.OPEN)
        .values_list("endpoint_id", "job_id")
        .distinct()
    )


# --- the outbox -----------------------------------------------------------------------------------------------------
def event_record(job_id: int, event: str, data: dict) -> bool:
    """Record an event for a job's requester, inside the caller's transaction (the change it reports commits with
    it, or neither does). Nothing is written when no active endpoint wants it. Returns whether it was recorded."""
    if not event_subscribed(job_id, event):
        return False
    Event.objects.create(job_id=job_id, event=event, data=data)
    # The sweep would find it within a second; this sends it at once.
    transaction.on_commit(_enqueue_dispatch)
    return True


def _enqueue_dispatch() -> None:
    from .background import webhooks_dispatch

    try:
        webhooks_dispatch.delay()
    except Exception:  # the broker is down: the beat sweep dispatches it later
        log.warning("webhooks: could not queue a dispatch; the sweep will", exc_info=True)


# An UPDATE of tasks_item (aliased i) that raises result_version, made to record the items it changed in the outbox
# in the same statement: one row per RESULTS_PER_EVENT items, set-based, no per-item Python.
RECORD_RESULTS_SQL = """
WITH changed AS ({update} RETURNING i.id, i.external_id, i.result_version, i.result, i.confidence,
                                     i.microtask_index),
recorded AS (
    INSERT INTO webhooks_event (job_id, event, data, item_count, created_at)
    SELECT %s, 'item.result',
           jsonb_build_object('results', jsonb_agg(jsonb_build_object(
               'item', c.id, 'external_id', c.external_id, 'version', c.result_version, 'result', c.result,
               'confidence', c.confidence, 'final', {final}) ORDER BY c.id)),
           count(*), now()
    FROM (SELECT changed.*, (row_number() OVER (ORDER BY changed.id) - 1) / {per_event} AS chunk FROM changed) c
    LEFT JOIN tasks_microtask m ON m.job_id = %s AND m.index = c.microtask_index
    GROUP BY c.chunk
    RETURNING 1
)
SELECT count(*) FROM changed
"""
# "final": the item's microtask had all the answers it asks for when this version was written.
FINAL_IF_MICROTASK_DONE = "coalesce(m.status = 'done', false)"


def item_results_update(cursor, job_id: int, update_sql: str, params: list, *, final: str = FINAL_IF_MICROTASK_DONE):
    """Run ``update_sql`` (an UPDATE of tasks_item aliased ``i``, without RETURNING, that raises result_version)
    and, when the job's requester subscribes to item.result, record the changed items in the outbox in the same
    statement and transaction. Returns the items updated."""
    if not event_subscribed(job_id, ITEM_RESULT):
        cursor.execute(update_sql, params)
        return cursor.rowcount
    sql = RECORD_RESULTS_SQL.format(update=update_sql, final=final, per_event=RESULTS_PER_EVENT)
    cursor.execute(sql, [*params, job_id, job_id])
    return cursor.fetchone()[0]


# --- dispatch: outbox rows become deliveries --------------------------------------------------------------------------
def events_dispatch(limit: int = DISPATCH_BATCH) -> tuple[int, int]:
    """Turn recorded events into deliveries, per job in event order, and delete them from the outbox. Item results
    wait until an endpoint's batch fills (``batch_size``) or the oldest waited ``batch_seconds``; the events behind
    them wait too, so a job's deliveries keep the order of its events. Returns (events taken, deliveries made)."""
    now = timezone.now()
    made: list[Delivery] = []
    with transaction.atomic():
        # One dispatcher at a time: two taking alternate rows of one job could number its deliveries out of order.
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [DISPATCH_LOCK])
            if not cur.fetchone()[0]:
                return 0, 0
        events = list(Event.objects.order_by("id")[:limit])
        if not events:
            return 0, 0
        by_job: dict[int, list[Event]] = {}
        for event in events:
            by_job.setdefault(event.job_id, []).append(event)
        from tasks.models import Job

        owners = dict(Job.objects.filter(pk__in=list(by_job)).values_list("pk", "owner_id"))
        endpoints = list(
            Endpoint.objects.filter(active=True, owner_id__in=set(owners.values())).order_by("id")
        )  # fmt: skip
        taken: list[int] = []
        for job_id, job_events in by_job.items():
            owner = owners.get(job_id)
            wanted = [e for e in endpoints if e.owner_id == owner and e.job_id in (None, job_id)]
            taken += _job_events_dispatch(job_id, job_events, wanted, now, made)
        Delivery.objects.bulk_create(made, batch_size=500)
        Event.objects.filter(id__in=taken).delete()
    heads = sorted({(d.endpoint_id, d.job_id) for d in made})
    if heads:
        transaction.on_commit(lambda: deliveries_enqueue(heads))
    return len(taken), len(made)


def _job_events_dispatch(job_id: int, events: list[Event], endpoints: list[Endpoint], now, made: list) -> list[int]:
    results_to = [e for e in endpoints if ITEM_RESULT in e.events]
    waiting = [e for e in events if e.event == ITEM_RESULT]
    ready = True
    if waiting and results_to:
        count = sum(e.item_count for e in waiting)
        age = (now - waiting[0].created_at).total_seconds()
        ready = count >= min(e.batch_size for e in results_to) or age >= min(e.batch_seconds for e in results_to)
    buffers: dict[int, list] = {e.pk: [] for e in results_to}

    def flush(endpoint: Endpoint) -> None:
        results, size = buffers[endpoint.pk], max(1, endpoint.batch_size)
        for start in range(0, len(results), size):
            made.append(_delivery(endpoint, job_id, ITEM_RESULT, {"results": results[start : start + size]}, now))
        results.clear()

    taken = []
    for event in events:
        if event.event == ITEM_RESULT and not ready:
            break
        taken.append(event.id)
        for endpoint in endpoints:
            if event.event not in endpoint.events:
                continue
            if event.event == ITEM_RESULT:
                buffers[endpoint.pk].extend(event.data.get("results", []))
            else:
                if endpoint.pk in buffers:
                    flush(endpoint)  # results before this event go first
                made.append(_delivery(endpoint, job_id, event.event, event.data, now))
    for endpoint in results_to:
        flush(endpoint)
    return taken


def _delivery(endpoint: Endpoint, job_id: int, event: str, data: dict, now) -> Delivery:
    return Delivery(endpoint=endpoint, job_id=job_id, event=event, data=data, created_at=now)


def deliveries_enqueue(heads: list[tuple[int, int]]) -> None:
    from .background import deliveries_send

    for endpoint_id, job_id in heads:
        try:
            deliveries_send.delay(endpoint_id, job_id)
        except Exception:  # the broker is down: the beat sweep sends them later
            log.warning("webhooks: could not queue a send; the sweep will", exc_info=True)
            return


# --- attempts ---------------------------------------------------------------------------------------------------------
def retry_delays() -> list[float]:
    """Seconds before each retry: BASE, BASE*3, BASE*9, ... capped, until their sum reaches the span (a day)."""
    base = settings.QUORUM_WEBHOOK_RETRY_BASE_SECONDS
    cap, span = settings.QUORUM_WEBHOOK_RETRY_CAP_SECONDS, settings.QUORUM_WEBHOOK_RETRY_SPAN_SECONDS
    delays, total, delay = [], 0.0, base
    while total < span:
        delays.append(min(delay, cap))
        total += delays[-1]
        delay *= 3
    return delays


CLAIM_HEAD_SQL = """
UPDATE webhooks_delivery d
SET status = 'delivering', attempts = d.attempts + 1, locked_until = clock_timestamp() + make_interval(secs => %s)
WHERE d.id = (SELECT h.id FROM webhooks_delivery h WHERE h.endpoint_id = %s AND h.job_id = %s
              AND h.status IN ('pending', 'delivering', 'failed') ORDER BY h.id LIMIT 1)
  AND EXISTS (SELECT 1 FROM webhooks_endpoint e WHERE e.id = d.endpoint_id AND e.active)
  AND ((d.status IN ('pending', 'failed') AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= clock_timestamp()))
       OR (d.status = 'delivering' AND d.locked_until < clock_timestamp()))
RETURNING d.id
"""


def delivery_claim_head(endpoint_id: int, job_id: int) -> Delivery | None:
    """Claim the first delivery still to send of (endpoint, job) if it may be tried now. Only the first: a later
    one waits until it is delivered or given up. Two Celery workers racing for it: one wins, one gets None."""
    claim = settings.QUORUM_WEBHOOK_CONNECT_TIMEOUT + settings.QUORUM_WEBHOOK_TIMEOUT + CLAIM_MARGIN_SECONDS
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(CLAIM_HEAD_SQL, [claim, endpoint_id, job_id])
        row = cur.fetchone()
    return Delivery.objects.select_related("endpoint").get(pk=row[0]) if row else None


def delivery_body(d: Delivery) -> bytes:
    return json.dumps(
        {"id": d.id, "event": d.event, "job": d.job_id, "created_at": d.created_at.isoformat(), "data": d.data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def delivery_attempt(d: Delivery) -> http.Outcome:
    """Send a claimed delivery once and record the outcome. Returns it; on a failure with tries left the delivery
    is ``failed`` with ``next_attempt_at`` set, after the last one ``gave_up``."""
    body = delivery_body(d)
    timestamp = int(time.time())
    headers = {
        "X-Quorum-Event": d.event,
        "X-Quorum-Delivery": str(d.id),
        "X-Quorum-Timestamp": str(timestamp),
        "X-Quorum-Signature": http.sign(d.endpoint.secret, timestamp, body),
    }
    outcome = http.post(d.endpoint.url, body, headers)
    metrics.webhook_delivery(outcome.response_code if outcome.response_code is not None else outcome.kind)
    now = timezone.now()
    fields = {"response_code": outcome.response_code, "error": outcome.error[:1000], "locked_until": None}
    if outcome.ok:
        fields.update(status=Delivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None)
    else:
        delays = retry_delays()
        tried = d.attempts - d.attempts_queued  # attempts since it was (re)queued, this one included
        if tried > len(delays):
            fields.update(status=Delivery.Status.GAVE_UP, next_attempt_at=None)
            metrics.webhook_failed()
        else:
            fields.update(
                status=Delivery.Status.FAILED, next_attempt_at=now + timedelta(seconds=delays[tried - 1])
            )  # fmt: skip
    # Only while our claim stands: a resend meanwhile wins.
    Delivery.objects.filter(pk=d.pk, status=Delivery.Status.DELIVERING).update(**fields)
    for name, value in fields.items():
        setattr(d, name, value)
    if not outcome.ok:
        log.info("webhook delivery %s attempt %s failed: %s", d.pk, d.attempts, outcome.error)
    return outcome


def delivery_resend(d: Delivery) -> Delivery:
    """Queue a delivery again (attempts kept, a fresh retry schedule). It goes out after the earlier deliveries of
    its (endpoint, job) still to send, as any delivery does."""
    with transaction.atomic():
        d = Delivery.objects.select_for_update().get(pk=d.pk)
        d.status, d.next_attempt_at, d.locked_until = Delivery.Status.PENDING, None, None
        d.attempts_queued = d.attempts
        d.save(update_fields=["status", "next_attempt_at", "locked_until", "attempts_queued"])
        heads = [(d.endpoint_id, d.job_id)]
        transaction.on_commit(lambda: deliveries_enqueue(heads))
    return d


def deliveries_send(endpoint_id: int, job_id: int, *, limit: int = 100) -> int:
    """Send the due deliveries of one (endpoint, job) in order, until one fails or none is due. A failure's retry
    is queued by the beat sweep once its ``next_attempt_at`` comes (not by a Celery countdown: a message held for
    an hour outlives the broker's visibility timeout, and held messages stall a worker whose prefetch is 1).
    Returns the deliveries sent."""
    sent = 0
    started = time.monotonic()
    for _ in range(limit):
        if time.monotonic() - started > SEND_BUDGET_SECONDS:
            break  # a slow endpoint does not hold a Celery worker for long: the rest go in another turn
        d = delivery_claim_head(endpoint_id, job_id)
        if d is None:
            return sent
        outcome = delivery_attempt(d)
        if not outcome.ok:
            if d.status == Delivery.Status.FAILED:
                return sent
            continue  # gave up: the next one may go
        sent += 1
    # More may be left: another turn, behind other queued work, so one endpoint does not hold a Celery worker.
    deliveries_enqueue([(endpoint_id, job_id)])
    return sent


def deliveries_purge(days: int = 30) -> int:
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Delivery.objects.filter(
        status__in=[Delivery.Status.DELIVERED, Delivery.Status.GAVE_UP], created_at__lt=cutoff
    ).delete()
    return deleted
