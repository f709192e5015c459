#!/bin/sh
# The Celery worker for model work: one task at a time, as the launcher runs it (a model is memory- and CPU-heavy).
set -eu
exec celery -A quorum worker \
    -Q "${QUORUM_REDIS_PREFIX:-quorum}.automation" \
    --concurrency 1 \
    -n "automation@%h" --loglevel "${LOG_LEVEL:-INFO}"
