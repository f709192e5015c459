"""The Celery application. Background jobs live in each app's ``background.py``."""

import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_failure,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")

# The database server is on this machine (a socket directory also says so), so its processes can be reniced.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="background")


@after_setup_logger.connect
@after_setup_task_logger.connect
def json_log_lines(logger=None, **kwargs):
    """With LOG_FORMAT=json a Celery process writes the lines the web processes write (one JSON object per line,
    with each job's task id and job); in text mode Celery keeps its own format."""
    from django.conf import settings

    from quorum.logs import ContextFilter, JsonFormatter

    if settings.LOG_FORMAT != "json" or logger is None:
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
        handler.addFilter(ContextFilter())


@task_prerun.connect
def task_context(**kwargs):
    """Log lines of a Celery job carry its task id and job."""
    from quorum.logs import task_started

    task_started(**kwargs)


@task_postrun.connect
def task_counted(**kwargs):
    from quorum.logs import task_ended

    task_ended(**kwargs)


@worker_process_shutdown.connect
def metrics_process_gone(pid=None, **kwargs):
    """A pool process that ends takes its live gauges with it (quorum/metrics.py)."""
    from quorum import metrics

    if metrics.MULTIPROCESS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(metrics.process_identifier(pid or os.getpid()), metrics.MULTIPROCESS_DIR)


@app.on_after_configure.connect
def redbeat_options(sender, **kwargs):
    """RedBeat reads its options under their bare names (redbeat_redis_url, ...), which the CELERY_ names of the
    settings are not: without this it falls back to the broker's URL and transport options."""
    conf = sender.conf
    for name in ("redis_url", "redis_options", "key_prefix", "lock_timeout"):
        conf[f"redbeat_{name}"] = conf.get(f"CELERY_REDBEAT_{name.upper()}", conf.get(f"redbeat_{name}"))


@task_failure.connect
def remember_failure(sender=None, task_id=None, exception=None, **kwargs):
    """The operations page lists the last failures of background jobs."""
    from quorum.health import background_error_record

    background_error_record(getattr(sender, "name", str(sender)), task_id or "", exception)


@worker_process_init.connect
def background_database_sessions(**kwargs):
    """On a machine shared with its PostgreSQL server, a Celery worker's SQL runs at the Celery worker's own
    lower CPU priority, as its Python code does: the scheduler's commits come first. Elsewhere (another host,
    no permission) nothing changes."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_lower_backend_priority, weak=False)


def _lower_backend_priority(sender, connection, **kwargs):
    host = connection.settings_dict.get("HOST") or ""
    if connection.vendor != "postgresql" or not (host in LOCAL_HOSTS or host.startswith("/")):
        return
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        os.setpriority(os.PRIO_PROCESS, backend, niceness)
    except OSError:
        pass  # the server runs as another user: leave it
