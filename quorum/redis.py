"""One Redis client per process for hot state (progress, presence, scheduling): SCHEDULER_REDIS_URL, plain,
through Sentinel, or a Redis Cluster (quorum/redis_urls.py)."""

from functools import cache

import redis
from django.conf import settings

from . import redis_urls


@cache
def get_redis() -> redis.Redis:
    return redis_urls.sync_client(settings.SCHEDULER_REDIS_URL, decode_responses=True)


def get_async_redis(**kwargs):
    """A new redis.asyncio client on the same server, for one event loop (the scheduler runtime)."""
    return redis_urls.async_client(settings.SCHEDULER_REDIS_URL, decode_responses=True, **kwargs)


def get_async_subscriber():
    """A redis.asyncio client for the control channel's subscription when the scheduler's Redis is a cluster (a
    plain client of one node: PUBLISH reaches them all); None otherwise (subscribe with ``get_async_redis``)."""
    return redis_urls.async_subscriber(settings.SCHEDULER_REDIS_URL, decode_responses=True)


def key(*parts: object) -> str:
    """A key under this deployment's prefix: key("upload", 7) -> "quorum:upload:7"."""
    return ":".join([settings.REDIS_PREFIX, *map(str, parts)])
