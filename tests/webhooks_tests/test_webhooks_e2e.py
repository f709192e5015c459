"""End to end: a real Celery worker and Celery beat (processes, as deployed) deliver to a real local HTTP receiver
that fails the first three attempts. Every delivery arrives signed, retries carry the same delivery id, and per
job nothing overtakes a delivery that is still being retried."""

import contextlib
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from quorum.celery import app as celery_app
from tasks import services as task_services
from tasks.models import Item
from tests.servers import ROOT, server_env
from webhooks import services
from webhooks.models import Delivery

from .receiver import Receiver
from .test_webhooks import job_with_items, results_pass, verify

pytestmark = pytest.mark.django_db(transaction=True)

# The Celery processes see the loopback receiver, and retry after 1, 3, 9 s (the default 4, 12, 36 s is checked in
# the unit tests).
CELERY_ENV = {"QUORUM_WEBHOOK_ALLOW_PRIVATE": "1", "QUORUM_WEBHOOK_RETRY_BASE_SECONDS": "1"}


@pytest.fixture
def celery_processes(tmp_path):
    """A Celery worker on the default queue and Celery beat, as separate processes."""
    env = server_env(**CELERY_ENV)
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "quorum", "worker", "-P", "threads", "-c", "4", "-Q", queue,
         "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "quorum", "beat", "-s", str(tmp_path / "beat"), "-l", "WARNING"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    yield
    for proc in (beat, worker):
        proc.terminate()
    for proc in (beat, worker):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        if proc.poll() is None:
            proc.kill()
    # What beat queued for this test's Celery worker is not left for the session's one.
    with celery_app.connection_for_write() as conn:
        for name in (queue, f"{django_settings.REDIS_PREFIX}.automation"):
            with contextlib.suppress(Exception):
                conn.default_channel.queue_purge(name)


def test_deliveries_survive_three_failures_in_order_and_signed(requester, settings, celery_processes):
    # Here too: the session's Celery worker (threads in this process) may take one of the attempts.
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = True
    settings.QUORUM_WEBHOOK_RETRY_BASE_SECONDS = 1
    job = job_with_items(requester, 30)
    with Receiver(fail_first=3) as receiver:
        endpoint = services.endpoint_create(
            owner=requester,
            url=receiver.url,
            events=["job.published", "item.result", "job.paused"],
            job=job,
            batch_size=20,
            batch_seconds=0.2,
        )
        started = time.monotonic()
        task_services.job_publish(job)
        results_pass(job)
        task_services.job_pause(job)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Delivery.objects.filter(status="delivered").count() == 4:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    deliveries = list(Delivery.objects.order_by("id"))
    assert [(d.event, d.status) for d in deliveries] == [
        ("job.published", "delivered"),
        ("item.result", "delivered"),
        ("item.result", "delivered"),
        ("job.paused", "delivered"),
    ], [(d.event, d.status, d.error) for d in deliveries]
    assert deliveries[0].attempts == 4 and elapsed < 30
    ids = [r.payload["id"] for r in receiver.received]
    # Three failed tries and the success of the first delivery, then the others, each once, in order.
    assert ids == [deliveries[0].pk] * 4 + [d.pk for d in deliveries[1:]]
    assert all(verify(endpoint.secret, r) for r in receiver.received)
    results = [
        x for r in receiver.successes() if r.payload["event"] == "item.result" for x in r.payload["data"]["results"]
    ]
    assert sorted((x["item"], x["version"]) for x in results) == sorted(
        (pk, 1) for pk in Item.objects.filter(job=job).values_list("pk", flat=True)
    )
