"""Periodic passes that never overlap themselves.

Beat sends a pass every few seconds; a slow Celery worker, a backlog in the queue, or two beats during a failover
can start a pass while its previous run is still going. ``one_at_a_time`` makes each run take a Redis lock named
after the pass first: when the lock is held the run is skipped (the next tick comes soon), never queued. The lock
expires after ``ttl`` seconds, so a run killed mid-way holds up the pass at most that long; ``ttl`` must exceed the
longest run a pass may honestly take. A run releases only its own token (compare-and-delete in Lua), so a run that
outlived its ttl cannot free the lock of the run after it.
"""

import functools
import logging
import secrets

from quorum.redis import get_redis, key

log = logging.getLogger(__name__)

# Delete the lock only if it still holds this run's token.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
SKIPPED = None


def pass_lock_key(name: str) -> str:
    return key("periodic", name)


def one_at_a_time(name: str, ttl: int):
    """Decorate a periodic pass: a run while another run of ``name`` holds the lock returns None at once."""

    def decorate(run):
        @functools.wraps(run)
        def guarded(*args, **kwargs):
            r = get_redis()
            lock = pass_lock_key(name)
            token = secrets.token_hex(16)
            if not r.set(lock, token, nx=True, ex=ttl):
                log.info("periodic pass %s skipped: its previous run is still going", name)
                return SKIPPED
            try:
                return run(*args, **kwargs)
            finally:
                r.eval(RELEASE, 1, lock, token)

        return guarded

    return decorate
