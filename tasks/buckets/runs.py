"""The status row of an import or export while a Celery job runs it: claimed once, kept fresh, and recognised as
interrupted when its Celery worker died.

With ``acks_late`` a Celery job's message comes back (after the broker's visibility timeout) when the worker that
took it ended without finishing. The row is then still ``running``; if nothing has moved it for
``QUORUM_BUCKET_STALE_SECONDS``, it is ended ``failed`` with a message saying so, instead of staying ``running``
for ever. A live run moves its row at every file or part, far more often.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

INTERRUPTED = "the {what} stopped midway (its Celery worker ended); start it again"


def claim(model, pk: int):
    """(the row or None, whether this call claimed it: pending -> running)."""
    claimed = model.objects.filter(pk=pk, status="pending").update(status="running", heartbeat_at=timezone.now())
    row = model.objects.select_related("job").filter(pk=pk).first()
    return row, bool(claimed)


def interrupted(row) -> bool:
    """A ``running`` row that nothing has moved for QUORUM_BUCKET_STALE_SECONDS: its Celery worker died."""
    if row.status != "running":
        return False
    stale = timezone.now() - timedelta(seconds=settings.QUORUM_BUCKET_STALE_SECONDS)
    return row.heartbeat_at is None or row.heartbeat_at < stale


def beat(model, pk: int, **fields) -> None:
    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now(), **fields)
