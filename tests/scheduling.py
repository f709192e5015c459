"""Helpers for scheduler tests: WebSocket clients on the real ASGI app, and a loop per test."""

import asyncio
import json

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from quorum.asgi import application
from tasks.scheduling.runtime import Runtime


def run(coro_fn):
    """Run an async test body on a fresh loop and stop that loop's scheduler afterwards."""

    async def main():
        try:
            return await coro_fn()
        finally:
            await Runtime.shutdown_current()

    return asyncio.run(main())


async def token_for(user) -> str:
    token, _ = await sync_to_async(Token.objects.get_or_create)(user=user)
    return token.key


class Client:
    """A worker's socket, speaking docs/PROTOCOL.md."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.ws = communicator

    @classmethod
    async def open(cls, user, path: str = "/ws/work/"):
        key = await token_for(user)
        ws = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Token {key}".encode())])
        connected, code = await ws.connect(timeout=10)
        client = cls(ws)
        client.connected, client.code = connected, code
        return client

    async def recv(self, timeout: float = 10) -> dict:
        return await self.ws.receive_json_from(timeout=timeout)

    async def recv_type(self, *types: str, timeout: float = 10) -> dict:
        while True:
            msg = await self.recv(timeout)
            if msg["type"] in types:
                return msg

    async def silent(self, timeout: float = 0.5) -> bool:
        return await self.ws.receive_nothing(timeout=timeout)

    async def send(self, msg: dict) -> None:
        await self.ws.send_to(text_data=json.dumps(msg))

    async def submit(self, task: dict, value, key: str) -> dict:
        await self.send(
            {
                "type": "answer.submit",
                "key": key,
                "assignment_id": task["assignment"]["id"],
                "answers": [{"item": item["id"], "value": value} for item in task["items"]],
            }
        )
        return await self.recv_type("answer.ack")

    async def close(self) -> None:
        await self.ws.disconnect()
