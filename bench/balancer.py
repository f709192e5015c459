"""A small round-robin TCP load balancer for the scale rehearsal (bench/scale.py), standing in for the proxy of a
multi-host deployment: each client connection goes to the next backend in turn, and its bytes pass through both
ways untouched (HTTP, WebSocket upgrades and frames alike). A backend that refuses the connection is skipped for
the next one and marked down for DOWN_SECONDS: new connections go to the others first (as a proxy's passive health
check does), so a dead host costs the reconnect wave no failed connects. Only when every backend refuses is the
client's connection closed.

    python bench/balancer.py --port 8080 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002
"""

import argparse
import asyncio
import itertools
import time

CHUNK = 65536
CONNECT_TIMEOUT = 2.0
DOWN_SECONDS = 1.0  # then a backend marked down is tried again in its turn


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]):
        self.backends = backends
        self.turn = itertools.cycle(range(len(backends)))
        self.refused = 0  # backend connections refused (a dead backend skipped)
        self.down_until = [0.0] * len(backends)  # monotonic time until which a backend that refused is tried last
        self.server: asyncio.base_events.Server | None = None

    async def open_backend(self):
        """The next backend that takes the connection, trying each at most once: those not marked down first, in
        turn."""
        first, count, now = next(self.turn), len(self.backends), time.monotonic()
        order = sorted(((first + n) % count for n in range(count)), key=lambda i: self.down_until[i] > now)
        for i in order:
            host, port = self.backends[i]
            try:
                connection = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (OSError, TimeoutError):
                self.refused += 1
                self.down_until[i] = time.monotonic() + DOWN_SECONDS
                continue
            self.down_until[i] = 0.0
            return connection
        return None

    async def handle(self, client_reader, client_writer) -> None:
        backend = await self.open_backend()
        if backend is None:
            client_writer.close()
            return
        backend_reader, backend_writer = backend
        await asyncio.gather(
            pipe(client_reader, backend_writer), pipe(backend_reader, client_writer), return_exceptions=True
        )

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self.handle, host, port, backlog=2048)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or an error on either side, then close the writing side: a dead peer closes both."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def parse_backend(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", type=parse_backend, required=True, help="host:port, repeated")
    args = parser.parse_args()

    async def serve():
        balancer = Balancer(args.backend)
        await balancer.start(args.host, args.port)
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve())


if __name__ == "__main__":
    main()
