"""Reads for the webhooks API and page, and the cheap checks that decide whether an event is recorded at all."""

from django.db import connection
from django.db.models import Q, QuerySet

from .models import Delivery, Endpoint

# Whether the job's requester has an active endpoint for this event on this job (one index-backed query).
SUBSCRIBED_SQL = """
SELECT EXISTS (
    SELECT 1 FROM webhooks_endpoint e JOIN tasks_job j ON j.owner_id = e.owner_id
    WHERE j.id = %s AND e.active AND (e.job_id IS NULL OR e.job_id = j.id) AND e.events @> %s::jsonb
)
"""


def event_subscribed(job_id: int, event: str) -> bool:
    with connection.cursor() as cur:
        cur.execute(SUBSCRIBED_SQL, [job_id, f'["{event}"]'])
        return cur.fetchone()[0]


def endpoints_visible_to(user) -> QuerySet[Endpoint]:
    """A requester's own endpoints; staff see every one."""
    endpoints = Endpoint.objects.select_related("job")
    return endpoints if user.is_staff else endpoints.filter(owner=user)


def endpoint_list(user, job_id: int | None = None) -> QuerySet[Endpoint]:
    """The endpoints a user lists: their own (staff too); with a job, those that receive its events."""
    endpoints = Endpoint.objects.filter(owner=user).select_related("job")
    if job_id is not None:
        endpoints = endpoints.filter(Q(job__isnull=True) | Q(job_id=job_id))
    return endpoints


def delivery_list(endpoint: Endpoint, *, status: str | None = None, job_id: int | None = None) -> QuerySet[Delivery]:
    deliveries = Delivery.objects.filter(endpoint=endpoint).order_by("-id")
    if status:
        deliveries = deliveries.filter(status=status)
    if job_id is not None:
        deliveries = deliveries.filter(job_id=job_id)
    return deliveries


def deliveries_visible_to(user) -> QuerySet[Delivery]:
    deliveries = Delivery.objects.select_related("endpoint")
    return deliveries if user.is_staff else deliveries.filter(endpoint__owner=user)


def deliveries_recent(user, *, job_id: int | None = None, limit: int = 100) -> list[Delivery]:
    """The latest deliveries to a user's own endpoints, for the page."""
    deliveries = Delivery.objects.filter(endpoint__owner=user).select_related("endpoint").order_by("-id")
    if job_id is not None:
        deliveries = deliveries.filter(job_id=job_id)
    return list(deliveries.defer("data")[:limit])


# Per (endpoint, job), the first delivery still to send, where it may be sent now: pending or failed and due, or
# delivering with a lapsed claim (its Celery worker died). Read through the partial index webhook_delivery_open.
DUE_HEADS_SQL = """
SELECT head.endpoint_id, head.job_id FROM (
    SELECT DISTINCT ON (d.endpoint_id, d.job_id) d.endpoint_id, d.job_id, d.status, d.next_attempt_at, d.locked_until
    FROM webhooks_delivery d
    WHERE d.status IN ('pending', 'delivering', 'failed')
    ORDER BY d.endpoint_id, d.job_id, d.id
) head JOIN webhooks_endpoint e ON e.id = head.endpoint_id AND e.active
WHERE (head.status IN ('pending', 'failed') AND (head.next_attempt_at IS NULL OR head.next_attempt_at <= clock_timestamp()))
   OR (head.status = 'delivering' AND head.locked_until < clock_timestamp())
LIMIT %s
"""


def delivery_heads_due(limit: int = 1000) -> list[tuple[int, int]]:
    with connection.cursor() as cur:
        cur.execute(DUE_HEADS_SQL, [limit])
        return [tuple(row) for row in cur.fetchall()]
