#!/bin/sh
# The web process: migrations (one container at a time), then the ASGI server for HTTP and WebSockets.
# X-Forwarded-For / -Proto are believed only from FORWARDED_ALLOW_IPS (your proxy): rate limits count by client address.
set -eu
# Metrics of every process go to one directory on the shared volume; /metrics of any web process adds them up.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/app/var/metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# A restarted container keeps its host name: the open-socket counts its earlier processes left behind go.
rm -f "$PROMETHEUS_MULTIPROC_DIR"/gauge_live*_"$(hostname | tr _ -)"-*.db
# Replicas share /app/var: the lock keeps two of them from migrating at once.
flock /app/var/.migrate.lock python manage.py migrate --noinput
exec python -m uvicorn quorum.asgi:application \
    --host 0.0.0.0 --port "${PORT:-8000}" --workers "${WEB_PROCESSES:-2}" \
    --no-access-log --lifespan off \
    --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
