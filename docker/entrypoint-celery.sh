#!/bin/sh
# A Celery worker for the default queue (ingest and the other background jobs). Scale it with replicas.
set -eu
exec celery -A quorum worker \
    -Q "${QUORUM_REDIS_PREFIX:-quorum}.default" \
    --concurrency "${CELERY_CONCURRENCY:-2}" \
    -n "default@%h" --loglevel "${LOG_LEVEL:-INFO}"
