"""GET /healthz: is the platform up? Anyone (a load balancer, a container health check) gets the status; staff
also see which database and Redis it uses, and the errors."""

import json
import logging
import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from .redis import get_redis

log = logging.getLogger(__name__)
BACKGROUND_ERRORS_KEPT = 50


def healthz(request):
    """200 when PostgreSQL and Redis answer, else 503. Names, addresses and error texts tell an attacker what to
    aim at, so only a staff session sees them."""
    db = settings.DATABASES["default"]
    database = {"vendor": connection.vendor, "name": db["NAME"], "host": db.get("HOST") or "local socket", "ok": True}
    redis = {"url": redis_display_url(settings.SCHEDULER_REDIS_URL), "ok": True}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        database.update(ok=False, error=str(exc))
    try:
        get_redis().ping()
    except Exception as exc:
        redis.update(ok=False, error=str(exc))
    status = "ok" if database["ok"] and redis["ok"] else "degraded"
    if is_staff(request):
        body = {"status": status, "database": database, "redis": redis}
    else:
        body = {"status": status, "database": {"ok": database["ok"]}, "redis": {"ok": redis["ok"]}}
    return JsonResponse(body, status=200 if status == "ok" else 503)


def is_staff(request) -> bool:
    try:
        return request.user.is_authenticated and request.user.is_staff
    except Exception:  # the session lives in the database, which may be the thing that is down
        return False


def redis_display_url(url: str) -> str:
    """The Redis URL without its password or query (a Sentinel URL's may hold the sentinels' password)."""
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path.partition('?')[0]}"


def timed_check(check) -> dict:
    """Run one health check; its latency in milliseconds, or the error it raised."""
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return {"ok": False, "error": str(exc)[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def database_health() -> dict:
    def check():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    result = timed_check(check)
    if result["ok"]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            result["connections"] = cursor.fetchone()[0]
    return result


def redis_health() -> dict:
    result = timed_check(lambda: get_redis().ping())
    if result["ok"]:
        info = get_redis().info("memory")
        result["memory"] = info.get("used_memory_human")
    return result


def celery_queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue of this deployment (lists under the broker's key prefix)."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE, f"{settings.REDIS_PREFIX}.automation"}
    r = get_redis()
    try:
        for name in r.scan_iter(f"{prefix}{settings.REDIS_PREFIX}.*", count=1000):
            if r.type(name) == "list":
                queues.add(name[len(prefix) :])
        return {q: r.llen(f"{prefix}{q}") for q in sorted(queues)}
    except Exception:
        log.warning("could not read Celery queue lengths", exc_info=True)
        return {}


def background_errors_key() -> str:
    return f"{settings.REDIS_PREFIX}:background:errors"


def background_error_record(task_name: str, task_id: str, exception: BaseException) -> None:
    """Keep the last background-job failures in Redis, newest first, for the operations page."""
    entry = {
        "task": task_name,
        "id": task_id,
        "error": f"{type(exception).__name__}: {exception}"[:500],
        "at": timezone.now().isoformat(),
    }
    try:
        pipe = get_redis().pipeline()
        pipe.lpush(background_errors_key(), json.dumps(entry))
        pipe.ltrim(background_errors_key(), 0, BACKGROUND_ERRORS_KEPT - 1)
        pipe.execute()
    except Exception:
        log.warning("could not record a background error", exc_info=True)


def background_errors(limit: int = 10) -> list[dict]:
    try:
        return [json.loads(e) for e in get_redis().lrange(background_errors_key(), 0, limit - 1)]
    except Exception:
        return []
