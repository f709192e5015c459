"""Celery beat's scheduler: RedBeat (the schedule and a lock in Redis, so a second beat stands by and takes over),
made to ride out a Redis outage instead of dying in it.

RedBeat renews its lock at every tick; a tick that cannot reach Redis would end the process. Here it waits and
tries again, as the other processes do. If the lock expired meanwhile, the beat takes it back when nobody else
holds it, and stops when another beat does (that one now runs the schedule; this one is restarted as a standby).
Settings: CELERY_BEAT_SCHEDULER and CELERY_REDBEAT_* in quorum/settings.py; docs/DEPLOYMENT.md.
"""

import logging

import redis
from redbeat import RedBeatScheduler
from redis.exceptions import LockNotOwnedError

log = logging.getLogger(__name__)


class Scheduler(RedBeatScheduler):
    def tick(self, *args, **kwargs):
        try:
            return super().tick(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("beat: Redis unreachable (%s); trying again in %s s", exc, self.max_interval)
            return self.max_interval
        except LockNotOwnedError:
            if self.lock is not None and self.lock.acquire(blocking=False):
                log.warning("beat: the lock expired while Redis was unreachable; taken back")
                return 0
            log.warning("beat: another beat holds the lock now; stopping")
            raise
