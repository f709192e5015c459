"""One Redis client per process for hot state (progress, presence, scheduling)."""

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def key(*parts: object) -> str:
    """A key under this deployment's prefix: key("upload", 7) -> "quorum:upload:7"."""
    return ":".join([settings.REDIS_PREFIX, *map(str, parts)])
