import os

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from rest_framework.test import APIClient

from quorum.celery import app as celery_app
from quorum.redis import get_redis

from . import factories
from . import redis_cluster as local_cluster


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """No connection pool in the test process itself: its sockets run on a fresh event loop per test, whose executor
    threads end with the loop, and a pooled connection such a thread took is never given back (the pool runs dry
    after about ten tests). Servers the tests start (tests/servers.py) keep the pool, as in production."""
    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session")
def redis_cluster():
    """A Redis Cluster of three masters on loopback ports (tests/redis_cluster.py), for the whole session."""
    if why := local_cluster.missing():
        pytest.skip(f"no Redis Cluster: {why}")
    yield local_cluster.start()
    local_cluster.stop()


def scheduler_redis_use(url: str) -> None:
    """Point this process's scheduler state, and that of the servers the tests start, at ``url``."""
    settings.SCHEDULER_REDIS_URL = os.environ["SCHEDULER_REDIS_URL"] = url
    get_redis.cache_clear()


@pytest.fixture
def scheduler_on_cluster(redis_cluster):
    """The scheduler's state on the local Redis Cluster for one test (here and in the servers it starts)."""
    before, env_before = settings.SCHEDULER_REDIS_URL, os.environ.get("SCHEDULER_REDIS_URL")
    scheduler_redis_use(redis_cluster.url)
    yield redis_cluster
    local_cluster_clean()
    scheduler_redis_use(before)
    if env_before is None:
        del os.environ["SCHEDULER_REDIS_URL"]


@pytest.fixture(scope="session", autouse=True)
def _scheduler_redis_of_the_session():
    """QUORUM_TEST_SCHEDULER_REDIS=cluster runs the session with the scheduler's state on a local Redis Cluster
    (``make test-cluster``: the scheduler's tests on a cluster)."""
    if os.environ.get("QUORUM_TEST_SCHEDULER_REDIS") != "cluster":
        yield
        return
    if why := local_cluster.missing():
        pytest.exit(f"QUORUM_TEST_SCHEDULER_REDIS=cluster, but no Redis Cluster can start: {why}", returncode=2)
    scheduler_redis_use(local_cluster.start().url)
    yield
    local_cluster.stop()


def local_cluster_clean() -> None:
    if cluster := local_cluster.current():
        redis_prefix_clean(cluster.client())


@pytest.fixture(autouse=True)
def _clean_redis_keys():
    """Each test starts with none of this deployment's hot state in Redis."""
    yield
    redis_prefix_clean(get_redis())
    local_cluster_clean()


def redis_prefix_clean(r) -> None:
    """Delete this deployment's keys: plain ones and those under a Redis Cluster hash tag (``{<prefix>:...}``)."""
    keys = [
        *r.scan_iter(f"{settings.REDIS_PREFIX}:*", count=1000),
        *r.scan_iter(f"{{{settings.REDIS_PREFIX}:*", count=1000),
    ]
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
