"""The scale rehearsal's round-robin balancer (bench/balancer.py): HTTP and WebSocket traffic pass through it, and
a backend that refuses connections is skipped, and tried last for a while."""

import asyncio
import http

import pytest
import websockets
from websockets.asyncio.server import serve

from bench import balancer as balancer_module
from bench.balancer import Balancer
from tests.servers import free_port


async def backend(name: str):
    """A server that answers GET /who with its name and echoes WebSocket messages prefixed with it."""

    def who(connection, request):
        if request.path == "/who":
            return connection.respond(http.HTTPStatus.OK, name)
        return None  # a WebSocket handshake

    async def echo(ws):
        async for message in ws:
            await ws.send(f"{name}:{message}")

    return await serve(echo, "127.0.0.1", 0, process_request=who)


async def http_get(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_http_and_websockets_pass_through_in_turn():
    async def scenario():
        servers = [await backend("one"), await backend("two")]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        balancer = Balancer([("127.0.0.1", p) for p in ports])
        port = await balancer.start("127.0.0.1", 0)
        try:
            assert [await http_get(port, "/who") for _ in range(4)] == ["one", "two", "one", "two"]
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/") as ws:
                await ws.send("hello")
                assert await ws.recv() == "one:hello"
                big = "x" * 200_000  # more than one read of the pipe
                await ws.send(big)
                assert await ws.recv() == f"one:{big}"
        finally:
            await balancer.stop()
            for s in servers:
                s.close()

    run(scenario())


def test_a_backend_that_refuses_is_skipped():
    async def scenario():
        alive = await backend("alive")
        dead_port = free_port()  # nothing listens there
        balancer = Balancer([("127.0.0.1", dead_port), ("127.0.0.1", alive.sockets[0].getsockname()[1])])
        port = await balancer.start("127.0.0.1", 0)
        try:
            assert [await http_get(port, "/who") for _ in range(3)] == ["alive"] * 3
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/") as ws:
                await ws.send("still here")
                assert await ws.recv() == "alive:still here"
            assert balancer.refused >= 1
        finally:
            await balancer.stop()
            alive.close()

    run(scenario())


def test_a_backend_that_refused_is_tried_last_until_its_down_time_ends(monkeypatch):
    async def scenario():
        alive = await backend("alive")
        dead_port = free_port()
        balancer = Balancer([("127.0.0.1", dead_port), ("127.0.0.1", alive.sockets[0].getsockname()[1])])
        port = await balancer.start("127.0.0.1", 0)
        try:
            monkeypatch.setattr(balancer_module, "DOWN_SECONDS", 60.0)
            assert [await http_get(port, "/who") for _ in range(6)] == ["alive"] * 6
            assert balancer.refused == 1  # marked down at its first refusal, then left out of its turns
            monkeypatch.setattr(balancer_module, "DOWN_SECONDS", 0.0)
            balancer.down_until[0] = 0.0
            assert [await http_get(port, "/who") for _ in range(4)] == ["alive"] * 4
            assert balancer.refused == 3  # tried again in its turn once the down time is over
        finally:
            await balancer.stop()
            alive.close()

    run(scenario())


def test_every_backend_down_closes_the_client_connection():
    async def scenario():
        balancer = Balancer([("127.0.0.1", free_port())])
        port = await balancer.start("127.0.0.1", 0)
        try:
            with pytest.raises((websockets.exceptions.InvalidHandshake, ConnectionError, EOFError)):
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws/", open_timeout=10):
                    pass
        finally:
            await balancer.stop()

    run(scenario())
