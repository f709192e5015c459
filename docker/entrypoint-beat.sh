#!/bin/sh
# Celery beat, the periodic-task clock. Run exactly one: two would schedule every periodic task twice.
set -eu
exec celery -A quorum beat --loglevel "${LOG_LEVEL:-INFO}" -s /app/var/celerybeat-schedule
