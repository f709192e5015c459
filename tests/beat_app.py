"""A Celery app for the beat failover test: Quorum's configuration, with one pass every second (tests/beat_settings.py)
that counts its runs in Redis instead of the real schedule. ``celery -A tests.beat_app beat|worker``."""

import os
import time

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.beat_settings"


from quorum.beat import Scheduler  # noqa: E402
from quorum.celery import app  # noqa: E402

RUNS_KEY = f"{os.environ.get('QUORUM_REDIS_PREFIX', 'quorum')}:beat-test:runs"
ACTIVE_KEY = f"{os.environ.get('QUORUM_REDIS_PREFIX', 'quorum')}:beat-test:active"


@app.task(name="beat_test.count", ignore_result=True)
def count() -> None:
    from quorum.redis import get_redis

    get_redis().rpush(RUNS_KEY, f"{time.time():.3f}")


class TickScheduler(Scheduler):
    """RedBeat as configured, telling which beat ticks: only the one holding the lock gets to tick."""

    def tick(self, *args, **kwargs):
        from quorum.redis import get_redis

        get_redis().set(ACTIVE_KEY, os.getpid())
        return super().tick(*args, **kwargs)
