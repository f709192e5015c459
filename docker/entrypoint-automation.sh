#!/bin/sh
# The Celery worker for model work: one task at a time, as the launcher runs it (a model is memory- and CPU-heavy).
set -eu
# Metrics of every process go to one directory on the shared volume; /metrics of any web process adds them up.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/app/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec celery -A quorum worker \
    -Q "${QUORUM_REDIS_PREFIX:-quorum}.automation" \
    --concurrency 1 \
    -n "automation@%h" --loglevel "${LOG_LEVEL:-INFO}"
