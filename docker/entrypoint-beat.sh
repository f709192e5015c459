#!/bin/sh
# Celery beat, the periodic-task clock. Run exactly one: two would schedule every periodic task twice.
set -eu
# Metrics of every process go to one directory on the shared volume; /metrics of any web process adds them up.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/app/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec celery -A quorum beat --loglevel "${LOG_LEVEL:-INFO}" -s /app/var/celerybeat-schedule
