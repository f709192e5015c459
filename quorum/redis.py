"""One Redis client per process for hot state (progress, presence, scheduling): SCHEDULER_REDIS_URL, plain or
through Sentinel (quorum/redis_urls.py)."""

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


def key(*parts: object) -> str:
    """A key under this deployment's prefix: key("upload", 7) -> "quorum:upload:7"."""
    return ":".join([settings.REDIS_PREFIX, *map(str, parts)])
