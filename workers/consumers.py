"""``/ws/work/``: a worker's live task feed (protocol in docs/PROTOCOL.md). Thin: the scheduler runtime decides."""

import asyncio

import orjson
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from tasks.scheduling.runtime import Runtime, WorkerSession


class WorkerTaskConsumer(AsyncWebsocketConsumer):
    # No channel layer: replies go straight back on this socket; processes talk through Redis pub/sub.
    channel_layer_alias = "none"

    async def __call__(self, scope, receive, send):
        # One message source (the socket): read it in a plain loop instead of Channels' await_many_dispatch,
        # which builds and waits on a fresh task for every message.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            # However the socket ended (a close, a send to a socket already gone, an error while it opened), its
            # session is closed; close_session does its work once. Shielded: it must finish even when the server
            # cancels this task.
            session = getattr(self, "session", None)
            if session is not None:
                await asyncio.shield(self.runtime.close_session(session))

    async def dispatch(self, message):
        # Channels closes stale ORM connections in a thread before every message; the hot path here does not use
        # the ORM (the runtime owns its connections), and that hop cost a third of the CPU.
        handler = getattr(self, self.get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    @staticmethod
    def get_handler_name(message):
        return message["type"].replace(".", "_")

    async def connect(self):
        user = self.scope.get("user")
        # Accept first, then close with a code: a browser sees 4401/4403 only on an accepted socket.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not user.is_worker:
            await self.close(code=4403)
            return
        self.runtime = Runtime.get()
        self.session = WorkerSession(
            worker_id=user.pk,
            username=user.username,
            send=self.send_json,
            ahead=lease_ahead(self.scope),
            chosen_job=chosen_job(self.scope),
        )
        await self.runtime.open_session(self.session)

    async def disconnect(self, code):
        session = getattr(self, "session", None)
        if session is not None:
            await self.runtime.close_session(session)

    async def send_json(self, message: dict) -> None:
        await self.send(text_data=orjson.dumps(message).decode())

    async def receive(self, text_data=None, bytes_data=None):
        if getattr(self, "session", None) is None:
            return  # refused: a message that arrives before the close takes effect gets nothing
        try:
            msg = orjson.loads(text_data or "")
        except orjson.JSONDecodeError:
            await self.send_json({"type": "error", "code": "bad_json", "message": "messages are JSON objects"})
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "answer.submit":
            await self.runtime.submit(self.session, msg)
        elif kind == "task.skip":
            await self.runtime.skip(self.session, msg)
        elif kind == "task.request":
            await self.runtime.fill(self.session)
        else:
            await self.send_json({"type": "error", "code": "unknown_type", "message": f"unknown message type {kind!r}"})


def chosen_job(scope) -> int | None:
    """``?job=<id>``: the job the worker chose on the job board; anything else (or nothing) is any job."""
    for part in (scope.get("query_string") or b"")[:200].split(b"&"):
        name, _, value = part.partition(b"=")
        if name == b"job" and value.isdigit() and len(value) <= 18:
            return int(value)
    return None


def lease_ahead(scope) -> int:
    """``?ahead=1``: the socket holds one microtask more than the profile's limit, to preload its media."""
    return 1 if b"ahead=1" in (scope.get("query_string") or b"").split(b"&") else 0
