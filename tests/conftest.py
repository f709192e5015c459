import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from rest_framework.test import APIClient

from quorum.celery import app as celery_app
from quorum.redis import get_redis

from . import factories


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """No connection pool in the test process itself: its sockets run on a fresh event loop per test, whose executor
    threads end with the loop, and a pooled connection such a thread took is never given back (the pool runs dry
    after about ten tests). Servers the tests start (tests/servers.py) keep the pool, as in production."""
    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _clean_redis_keys():
    """Each test starts with none of this deployment's hot state in Redis."""
    yield
    r = get_redis()
    keys = list(r.scan_iter(f"{settings.REDIS_PREFIX}:*", count=1000))
    keys = [k for k in keys if ":celery:" not in k]
    if keys:
        r.delete(*keys)


@pytest.fixture
def requester(db):
    return factories.make_requester()


@pytest.fixture
def worker(db):
    return factories.make_worker()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def requester_api(requester):
    client = APIClient()
    client.force_authenticate(requester)
    client.user = requester
    return client


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker (threads in this process) consuming the real Redis broker: the default queue and the
    automation queue. One worker serves both: two test workers of one app in one process do not shut down
    cleanly. Queues are emptied first, so nothing left by an earlier run is executed."""
    settings.QUORUM_AUTOMATION_PRELOAD = False  # tests choose their solver; most never need the real model
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE, f"{settings.REDIS_PREFIX}.automation"]
    with celery_app.connection_for_write() as conn:
        for queue in queues:
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # a queue that does not exist yet has nothing to purge
                pass
    with django_db_blocker.unblock():
        with start_worker(
            celery_app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            queues=queues,
            shutdown_timeout=60,
        ) as worker:
            yield worker


@pytest.fixture(scope="session", autouse=True)
def _end_stray_connections(django_db_setup, django_db_blocker):
    """Threads of Celery workers and async tests leave connections open; end them so the test database can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def celery_automation_worker(celery_worker_process):
    """The test Celery worker, which also consumes the automation queue (in production: its own process)."""
    return celery_worker_process


@pytest.fixture(scope="session")
def s3_server():
    """A local S3-compatible server (moto, with key checks on) for the tests that ask for it (tests/s3.py)."""
    from tests.s3 import running_s3_server

    with running_s3_server() as server:
        yield server
