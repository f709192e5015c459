"""A strict Content-Security-Policy on every response: scripts and styles come from this server only, media from
this server and the origins media may come from (QUORUM_MEDIA_ORIGINS, and on the pages that show items the
open jobs' own ``media_origins``)."""

import time

from django.conf import settings

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{media}; media-src 'self'{media}; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# Pages that show items, and so media from the jobs' origins: the worker's page and a requester's job pages.
ITEM_PAGES = ("work", "job-detail", "job-results", "item-detail", "job-new")
# The open jobs' origins are read at most this often per process, and at most this many go into the header.
ORIGINS_TTL_SECONDS = 30.0
MAX_ORIGINS = 100

_open_origins: tuple[float, tuple[str, ...]] = (0.0, ())


def open_job_origins() -> tuple[str, ...]:
    """The media origins of open and paused jobs, cached for ORIGINS_TTL_SECONDS."""
    global _open_origins
    read_at, origins = _open_origins
    if time.monotonic() - read_at < ORIGINS_TTL_SECONDS:
        return origins
    from tasks.media import job_origins_open

    origins = job_origins_open(MAX_ORIGINS)
    _open_origins = (time.monotonic(), origins)
    return origins


def media_origins_for(request) -> list[str]:
    from tasks.media import deployment_origins, job_origins

    origins = list(deployment_origins())
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name in ITEM_PAGES:
        origins += open_job_origins()
        job_id = match.kwargs.get("job_id")
        if job_id is not None:
            origins += job_origins(job_id)
    return list(dict.fromkeys(origins))[:MAX_ORIGINS]


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The vendored API docs (Swagger UI) need inline styles.
        if not request.path.startswith("/api/docs") and "Content-Security-Policy" not in response:
            policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
            if policy is None:
                origins = media_origins_for(request) if response.get("Content-Type", "").startswith("text/html") else []
                policy = POLICY.format(media="".join(f" {o}" for o in origins))
            response["Content-Security-Policy"] = policy
        return response
