"""Simulated workers for end-to-end tests: real WebSocket clients (the `websockets` package) against uvicorn."""

import asyncio
import json
import random
import uuid

import websockets
from rest_framework.authtoken.models import Token


def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


class SimWorker:
    """Answers every task it gets; on a dropped socket it reconnects (to the next URL) and resends what was not
    acknowledged, with the same idempotency key."""

    def __init__(self, key: str, urls: list[str], think: float = 0.0):
        self.key = key
        self.urls = urls
        self.think = think
        self.acked: list[int] = []
        self.statuses: list[str] = []
        self.tasks_seen: list[int] = []
        self.unacked: dict | None = None
        self.reconnects = 0

    async def run(self, idle_timeout: float = 3.0, max_answers: int | None = None) -> "SimWorker":
        url_index = 0
        while True:
            try:
                async with websockets.connect(f"{self.urls[url_index]}/ws/work/?token={self.key}") as ws:
                    if self.unacked is not None:
                        await ws.send(json.dumps(self.unacked))
                    while True:
                        try:
                            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=idle_timeout))
                        except TimeoutError:
                            return self
                        if msg["type"] == "task.assigned":
                            if max_answers is not None and len(self.acked) >= max_answers:
                                return self
                            self.tasks_seen.append(msg["assignment"]["microtask_id"])
                            if self.think:
                                await asyncio.sleep(random.uniform(0, self.think))
                            self.unacked = {
                                "type": "answer.submit",
                                "key": uuid.uuid4().hex,
                                "assignment_id": msg["assignment"]["id"],
                                "answers": [{"item": i["id"], "value": msg["job"]["options"][0]} for i in msg["items"]],
                            }
                            await ws.send(json.dumps(self.unacked))
                        elif msg["type"] == "answer.ack":
                            if self.unacked and msg["key"] == self.unacked["key"]:
                                self.unacked = None
                            self.statuses.append(msg["status"])
                            if msg["status"] in ("accepted", "duplicate"):
                                self.acked.append(msg["assignment_id"])
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus, websockets.InvalidHandshake):
                self.reconnects += 1
                url_index = (url_index + 1) % len(self.urls)
                await asyncio.sleep(0.2)
                if self.reconnects > 50:
                    raise
