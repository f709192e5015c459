#!/bin/sh
# Celery beat, the periodic-task clock, with RedBeat: the schedule lives in Redis under a lock, so a second beat
# replica stands by and takes over within QUORUM_BEAT_LOCK_TIMEOUT seconds (default 10) when the first one dies.
set -eu
# Metrics of every process go to one directory on the shared volume; /metrics of any web process adds them up.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/app/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec celery -A quorum beat -S quorum.beat.Scheduler --loglevel "${LOG_LEVEL:-INFO}"
