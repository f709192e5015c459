"""Webhooks: a requester's endpoints, the outbox of events, and the deliveries made from it (docs/WEBHOOKS.md).

An ``Event`` is written in the transaction of the change it reports (the transactional outbox): nothing is lost
when a Celery worker dies or Redis is flushed, because the beat sweep (``background.webhooks_sweep``) turns
whatever is left into deliveries and sends whatever is due. A ``Delivery`` is one POST to one endpoint, with its
attempts, last response and next try; per (endpoint, job) deliveries go out in id order.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

EVENT_NAMES = [
    "upload.done",
    "upload.failed",
    "job.published",
    "job.paused",
    "job.done",
    "item.result",
    "worker.blocked",
]
ITEM_RESULT = "item.result"


class Endpoint(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    # None: every job of the owner, now and later.
    job = models.ForeignKey("tasks.Job", on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=128)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    batch_size = models.PositiveIntegerField(default=100, help_text="Item results per delivery, at most.")
    batch_seconds = models.FloatField(default=1.0, help_text="Item results wait at most this long for a batch.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


# The outbox: written with the change, turned into deliveries (and deleted) by the dispatcher, so it holds only
# what is still to dispatch.
class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey("tasks.Job", on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.CharField(max_length=32)
    # item.result: {"results": [...]} of one results pass chunk; others the event's own data.
    data = models.JSONField()
    item_count = models.IntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"{self.event} of job {self.job_id}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed, will retry"
        GAVE_UP = "gave_up", "Gave up"

    OPEN = [Status.PENDING, Status.DELIVERING, Status.FAILED]

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    job = models.ForeignKey("tasks.Job", on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.CharField(max_length=32)
    data = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # ``attempts`` when it was last queued (created or resent): the retry schedule counts from there.
    attempts_queued = models.PositiveIntegerField(default=0)
    response_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While delivering: after this, a Celery worker that died mid-attempt is presumed gone and the try is repeated.
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["endpoint", "job", "id"], name="webhook_delivery_endpoint_job"),
            # The sweep reads only the deliveries still to send.
            models.Index(
                fields=["endpoint", "job", "id"],
                name="webhook_delivery_open",
                condition=Q(status__in=["pending", "delivering", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.id} ({self.event})"
