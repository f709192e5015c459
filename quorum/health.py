"""GET /healthz: is the platform up, and which database and Redis does it use?"""

from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from .redis import get_redis


def healthz(request):
    db = settings.DATABASES["default"]
    body = {
        "status": "ok",
        "database": {
            "vendor": connection.vendor,
            "name": db["NAME"],
            "host": db.get("HOST") or "local socket",
            "ok": True,
        },
        "redis": {"url": redis_display_url(settings.REDIS_URL), "ok": True},
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        body["database"].update(ok=False, error=str(exc))
        body["status"] = "degraded"
    try:
        get_redis().ping()
    except Exception as exc:
        body["redis"].update(ok=False, error=str(exc))
        body["status"] = "degraded"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


def redis_display_url(url: str) -> str:
    """The Redis URL without its password."""
    parsed = urlparse(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.hostname or ''}{port}{parsed.path}"
