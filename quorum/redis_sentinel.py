"""Sentinel connection pools that follow a failover within a second, for the clients quorum/redis_urls.py builds.

redis-py's Sentinel pools ask the sentinels for the master only when a connection connects. A connection that
stays open keeps talking to the master it connected to, and after a failover where the old master stays up
(``SENTINEL FAILOVER``, a master cut off and back) that one still takes writes until the sentinel demotes it,
about 10 s later: the scheduler's writes of those seconds are thrown away when it resyncs from the new master
(docs/DEPLOYMENT.md). These pools ask again at most every MASTER_CHECK_SECONDS, when a connection is taken, and
when the answer changes they close their idle connections and close each busy one as it comes back, so every next
command goes to the new master. A command already on its way finishes where it was sent.
"""

import asyncio
import logging
import time

import redis
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelConnectionPool
from redis.sentinel import SentinelConnectionPool

log = logging.getLogger(__name__)

MASTER_CHECK_SECONDS = 1.0
# How long one sentinel may take to answer before the next one is asked (redis-py waits without limit).
SENTINEL_TIMEOUT_SECONDS = 1.0
_CHECK_ERRORS = (redis.ConnectionError, redis.TimeoutError)
# How long a caller of a full async pool waits for a connection to come back.
POOL_WAIT_SECONDS = 10.0


def _check_due(pool) -> bool:
    """True at most once per MASTER_CHECK_SECONDS, and only once the pool has found a master."""
    now = time.monotonic()
    if pool.master_address is None or now - pool.master_checked_at < MASTER_CHECK_SECONDS:
        return False
    pool.master_checked_at = now
    return True


class FollowingSentinelPool(SentinelConnectionPool):
    """redis-py's Sentinel pool (sync) that looks for a new master every second. A connection to the old master is
    closed when it is released: redis-py's ``release`` drops connections whose address is not the master's."""

    master_checked_at = 0.0

    def get_connection(self, *args, **kwargs):
        if _check_due(self):
            try:
                # On a change: the new address is kept and the idle connections are closed.
                self.get_master_address()
            except _CHECK_ERRORS:
                log.warning("no sentinel named a master for %s; staying on %s", self.service_name, self.master_address)
        return super().get_connection(*args, **kwargs)


class AsyncFollowingSentinelPool(AsyncSentinelConnectionPool):
    """The same for redis.asyncio, whose ``release`` keeps every connection: one to the old master is closed here
    as it comes back, and reconnects (to the new master) when next taken. At its ``max_connections`` a caller
    waits (up to POOL_WAIT_SECONDS) for one to come back, as redis-py's BlockingConnectionPool does for a plain
    URL, instead of failing with "Too many connections" (a thousand sockets closing at once)."""

    master_checked_at = 0.0
    _returned: asyncio.Condition | None = None

    async def get_connection(self, *args, **kwargs):
        if _check_due(self):
            try:
                await self.get_master_address()
            except _CHECK_ERRORS:
                log.warning("no sentinel named a master for %s; staying on %s", self.service_name, self.master_address)
        deadline = time.monotonic() + POOL_WAIT_SECONDS
        while True:
            if self.can_get_connection():
                try:
                    return await super().get_connection(*args, **kwargs)
                except redis.ConnectionError:
                    if self.can_get_connection():
                        raise  # not the cap: a real connection error
                    # Another task took the last one between the check and the taking: wait as below.
            if self._returned is None:
                self._returned = asyncio.Condition()
            try:
                async with self._returned:
                    await asyncio.wait_for(self._returned.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise redis.ConnectionError("No connection available.") from None

    async def release(self, connection) -> None:
        # Closed while still this caller's: once released, another task may take it at the next await.
        if self.master_address is not None and (connection.host, connection.port) != self.master_address:
            await connection.disconnect()
        await super().release(connection)
        if self._returned is not None:
            async with self._returned:
                self._returned.notify()
