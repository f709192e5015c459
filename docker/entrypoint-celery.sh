#!/bin/sh
# A Celery worker for the default queue (ingest and the other background jobs). Scale it with replicas.
set -eu
# Metrics of every process go to one directory on the shared volume; /metrics of any web process adds them up.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/app/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec celery -A quorum worker \
    -Q "${QUORUM_REDIS_PREFIX:-quorum}.default" \
    --concurrency "${CELERY_CONCURRENCY:-2}" \
    -n "default@%h" --loglevel "${LOG_LEVEL:-INFO}"
