"""The operations console: staff only, and it reports what an operator needs when something feels slow."""

from pathlib import Path

import pytest
from celery.signals import task_failure
from django.test import Client
from django.utils import timezone

from tasks.models import Assignment, Microtask
from tests import factories

pytestmark = pytest.mark.django_db

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def staff_client() -> Client:
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    return client


def test_operations_json_reports_leases_waiting_work_queues_and_health():
    job = factories.make_job(redundancy=1)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(5)))
    job.status = "open"
    job.save()
    worker = factories.make_worker()
    now = timezone.now()
    microtask = Microtask.objects.get(job=job, index=0)
    Assignment.objects.create(
        microtask=microtask, job=job, worker=worker, leased_at=now, expires_at=now + timezone.timedelta(seconds=20)
    )
    other = Microtask.objects.get(job=job, index=1)
    Assignment.objects.create(
        microtask=other,
        job=job,
        worker=factories.make_worker(),
        leased_at=now,
        expires_at=now - timezone.timedelta(seconds=5),
    )
    ops = staff_client().get("/console/operations.json").json()
    assert ops["leases"] == {"in_flight": 2, "expiring": 1, "overdue": 1}
    assert ops["waiting"] == [{"job_id": job.pk, "name": job.name, "status": "open", "priority": 5, "waiting": 5}]
    assert ops["database"]["ok"] and ops["redis"]["ok"]
    assert any(name.endswith(".default") for name in ops["queues"])
    assert ops["workers"]["registered"] == 2


def test_the_last_background_failures_are_listed():
    task_failure.send(
        sender=type("T", (), {"name": "tasks.background.ingest_upload"})(),
        task_id="abc",
        exception=ValueError("disk full"),
    )
    ops = staff_client().get("/console/operations.json").json()
    assert ops["errors"][0]["task"] == "tasks.background.ingest_upload"
    assert ops["errors"][0]["error"] == "ValueError: disk full"
    page = staff_client().get("/console/").content.decode()
    assert "ValueError: disk full" in page


def test_no_page_loads_more_than_300_kb_of_javascript():
    # Every page loads at most all of frontend/js (modules, no bundles, nothing from elsewhere).
    total = sum(p.stat().st_size for p in (FRONTEND / "js").glob("*.js"))
    assert total < 300 * 1024, total
