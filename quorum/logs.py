"""Who and what a log line is about, and the JSON lines of ``LOG_FORMAT=json``.

Each HTTP request gets an id (``RequestContextMiddleware``: the caller's ``X-Request-ID`` when it is a sane one,
else a new one; returned in the response's ``X-Request-ID``), and each Celery job its task id. They, the user and
the job the URL or the task names, live in context variables: under ASGI each request runs in a context of its
own, so lines of requests served together never mix. ``ContextFilter`` (on the console handler) writes them into
every record; ``JsonFormatter`` writes one JSON object per line (time, level, logger, message, request_id, user,
job, task_id, exception). Every request is also counted and timed for /metrics here.
"""

import contextvars
import inspect
import logging
import re
import time
import uuid

from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from quorum import metrics

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("quorum_request_id", default=None)
request_var: contextvars.ContextVar[object | None] = contextvars.ContextVar("quorum_request", default=None)
job_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("quorum_job", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("quorum_task_id", default=None)

# An incoming id is kept only if it is short and plain (a proxy's UUID or trace id); anything else could forge or
# break log lines, so it is replaced.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Log lines of the request log: one per request in JSON mode (settings.py sets its level).
request_log = logging.getLogger("quorum.request")


def request_id_for(incoming: str | None) -> str:
    if incoming and REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def user_of(request) -> int | None:
    """The signed-in user's id if the request already knows it: never a query from inside logging (DRF sets the
    user on the request once it authenticated a token; the session's user is read once something asked)."""
    if request is None:
        return None
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # a SimpleLazyObject that nothing evaluated yet holds `empty`
    if not getattr(wrapped, "is_authenticated", False) or not isinstance(getattr(wrapped, "pk", None), int):
        return None
    return wrapped.pk


class ContextFilter(logging.Filter):
    """Adds request_id, user, job and task_id (None where unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user = user_of(request_var.get())
        record.job = job_var.get()
        record.task_id = task_id_var.get()
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line. The request object some Django loggers attach is left out (its id, user and job
    are already there)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "exc_info": "exception"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("reserved_attrs", [*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "request",
                                             "message", "asctime", "color_message"])  # fmt: skip
        super().__init__("%(levelname)s %(name)s %(message)s %(request_id)s %(user)s %(job)s %(task_id)s",
                         *args, **kwargs)  # fmt: skip


def job_from_view(view_kwargs: dict, url_name: str | None) -> int | None:
    job = view_kwargs.get("job_id")
    if job is None and url_name and url_name.startswith("job-"):
        job = view_kwargs.get("pk")  # the API's /api/jobs/<pk>/ routes
    try:
        return int(job) if job is not None else None
    except (TypeError, ValueError):
        return None


class RequestContextMiddleware:
    """First in MIDDLEWARE: the request id, the request (for its user) and its job for log lines; the response's
    ``X-Request-ID``; the request counted and timed for /metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = request_id_for(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        request_id_var.set(request_id)
        request_var.set(request)
        job_var.set(None)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        seconds = time.perf_counter() - started
        metrics.http_request(request.method, response.status_code, seconds)
        request_log.info(
            "%s %s %s %.1f ms", request.method, request.path, response.status_code, seconds * 1000,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": round(seconds * 1000, 1)},
        )  # fmt: skip
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = getattr(request, "resolver_match", None)
        job_var.set(job_from_view(view_kwargs, match.url_name if match else None))


# --- Celery -----------------------------------------------------------------------------------------------------

_job_positions: dict[str, int | None] = {}


def job_of_task(task, args, kwargs) -> int | None:
    """The job a Celery job works on: its ``job_id`` argument, by name or position."""
    if kwargs and isinstance(kwargs.get("job_id"), int):
        return kwargs["job_id"]
    name = getattr(task, "name", "")
    if name not in _job_positions:
        try:
            params = list(inspect.signature(task.run).parameters)
            _job_positions[name] = params.index("job_id") if "job_id" in params else None
        except (TypeError, ValueError):
            _job_positions[name] = None
    at = _job_positions[name]
    if at is not None and args and len(args) > at and isinstance(args[at], int):
        return args[at]
    return None


def task_started(task_id=None, task=None, args=None, kwargs=None, **_) -> None:
    task_id_var.set(task_id)
    job_var.set(job_of_task(task, args, kwargs))
    request_id_var.set(None)
    request_var.set(None)


def task_ended(task=None, state=None, **_) -> None:
    metrics.background_task_finished(getattr(task, "name", "unknown"), state == "SUCCESS")
    task_id_var.set(None)
    job_var.set(None)
