"""GET /metrics: the Prometheus text format (quorum/metrics.py), for a staff session or a scraper that sends
``Authorization: Bearer <QUORUM_METRICS_TOKEN>``. Figures of every process are there, so nobody else may read
them; and nothing may cache them."""

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from quorum import metrics

BEARER = "bearer "
MAX_AUTHORIZATION_CHARS = 512


def metrics_caller(request) -> str:
    """``ok``; ``unauthenticated`` (no credentials, or a wrong token: 401); ``forbidden`` (signed in, not staff)."""
    header = request.headers.get("Authorization", "")
    if header:
        if len(header) > MAX_AUTHORIZATION_CHARS or not header.lower().startswith(BEARER):
            return "unauthenticated"
        given = header[len(BEARER) :].strip()
        return "ok" if metrics.token_matches(given, settings.QUORUM_METRICS_TOKEN) else "unauthenticated"
    user = request.user
    if not user.is_authenticated:
        return "unauthenticated"
    return "ok" if user.is_staff else "forbidden"


@never_cache
@require_GET
def metrics_view(request):
    caller = metrics_caller(request)
    if caller == "unauthenticated":
        response = HttpResponse("a staff session or a metrics token is required\n", status=401,
                                content_type="text/plain")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if caller == "forbidden":
        return HttpResponse("only staff may read the metrics\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
