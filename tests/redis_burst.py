"""A burst of commands beyond an async Redis client's connection cap, as a thousand sockets closing at once make."""

import asyncio

from quorum import redis_urls


def burst_of_increments(url: str, key: str, commands: int = 200, connections: int = 2) -> int:
    """INCR ``key`` ``commands`` times at once through a client of ``url`` capped at ``connections``; the last count
    (``commands`` when none failed)."""

    async def burst() -> int:
        client = redis_urls.async_client(url, decode_responses=True, max_connections=connections)
        try:
            await client.delete(key)
            counts = await asyncio.gather(*[client.incr(key) for _ in range(commands)])
            await client.delete(key)
            return max(counts)
        finally:
            await client.aclose()

    return asyncio.run(burst())
