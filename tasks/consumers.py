"""The requester's live job feed at ``/ws/jobs/<id>/`` (docs/PROTOCOL.md).

A snapshot read from PostgreSQL on connect, then the job group's events as they come. The heavier part of the
page (confidence histogram, per-worker table, cost) is re-read at most every few seconds, when progress arrives,
so a busy job costs one query burst per watcher every ``DETAILS_EVERY`` seconds, not one per answer.
"""

import asyncio
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from quorum import events

from . import selectors

CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
DETAILS_EVERY = 5.0


def _snapshot(user, job_id: int) -> dict | None:
    job = selectors.job_get_for_viewer(user, job_id)
    return None if job is None else selectors.job_snapshot(job)


def _details(job_id: int) -> dict:
    from .models import Job

    return selectors.job_details(Job.objects.get(pk=job_id))


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        self.group = None
        self.details_later = None
        user = self.scope.get("user")
        # Accept first so the close code reaches the browser (a refused handshake has none).
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        snapshot = await database_sync_to_async(_snapshot)(user, self.job_id)
        if snapshot is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = events.job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.details_at = time.monotonic()
        await self.send_json({"type": "job.snapshot", "job": snapshot})

    async def disconnect(self, code):
        if self.details_later is not None:
            self.details_later.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Anything but a JSON object is answered with an error; the feed stays open (a bad frame used to drop
        the socket without a close frame)."""
        if self.group is None:
            return  # refused: a message that arrives before the close takes effect gets nothing
        if text_data is None:
            await self.send_error("bad_frame", "send text frames holding JSON objects (a binary frame arrived)")
            return
        try:
            content = await self.decode_json(text_data)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            await self.send_error("bad_json", "messages are JSON objects (this one is not valid JSON)")
            return
        if not isinstance(content, dict):
            await self.send_error("bad_json", "messages are JSON objects, not arrays or plain values")
            return
        await self.receive_json(content, **kwargs)

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def receive_json(self, content, **kwargs):
        if self.group is None:
            return  # refused: a message that arrives before the close takes effect gets nothing
        if content.get("type") == "job.refresh":
            await self.send_details()
            return
        await self.send_error("unknown_type", "this feed only sends")

    async def send_details(self):
        self.details_at = time.monotonic()
        details = await database_sync_to_async(_details)(self.job_id)
        await self.send_json({"type": "job.details", "job_id": self.job_id, "details": details})

    async def job_progress(self, event):
        await self.send_json(event)
        wait = DETAILS_EVERY - (time.monotonic() - self.details_at)
        if wait <= 0:
            await self.send_details()
        elif self.details_later is None:
            # One trailing refresh, so the table matches the counts once a burst of answers ends.
            self.details_later = asyncio.get_running_loop().call_later(
                wait, lambda: asyncio.ensure_future(self.send_details_later())
            )

    async def send_details_later(self):
        self.details_later = None
        try:
            await self.send_details()
        except Exception:  # the socket closed meanwhile
            pass

    async def job_ingest(self, event):
        await self.send_json(event)
        if event.get("status") == "done":
            # The item and microtask totals changed: send the whole picture again.
            snapshot = await database_sync_to_async(_snapshot)(self.scope["user"], self.job_id)
            if snapshot is not None:
                await self.send_json({"type": "job.snapshot", "job": snapshot})

    async def job_status(self, event):
        await self.send_json(event)

    async def job_bucket(self, event):
        await self.send_json(event)
        if event.get("direction") == "import" and event.get("status") == "done":
            snapshot = await database_sync_to_async(_snapshot)(self.scope["user"], self.job_id)
            if snapshot is not None:
                await self.send_json({"type": "job.snapshot", "job": snapshot})

    async def job_details(self, event):
        await self.send_json(event)
