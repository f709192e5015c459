"""Quorum's settings with one pass every second instead of the real schedule (tests/beat_app.py)."""

import os

from quorum.settings import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {
    "count-pass": {
        "task": "beat_test.count",
        "schedule": 1.0,
        "options": {"queue": f"{os.environ.get('QUORUM_REDIS_PREFIX', 'quorum')}.beat-test"},
    }
}
