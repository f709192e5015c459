"""The automation Celery worker, for real: the job goes through Redis to the automation queue and its worker."""

import time

import pytest
import torch
from django.conf import settings

from quorum.celery import app as celery_app
from tasks.automation import embeddings
from tasks.automation.background import automation_run_job
from tasks.automation.solvers import HashingSolver
from tasks.models import AutomationStatus, Item, Job, Microtask

from .automation_data import answer_first, make_text_job


def test_model_work_is_routed_to_the_automation_queue():
    route = celery_app.amqp.router.route({}, automation_run_job.name)
    assert route["queue"].name == f"{settings.REDIS_PREFIX}.automation"


@pytest.mark.django_db(transaction=True)
def test_automation_worker_answers_a_small_job_end_to_end(celery_automation_worker, settings):
    settings.QUORUM_AUTOMATION_SOLVER = "hashing"
    settings.QUORUM_AUTOMATION_MIN_LABELS = 40
    job, truth = make_text_job(count=150, automation_audit_rate=0.0)
    automation_run_job.delay(job.pk)
    wait_for(lambda: Job.objects.get(pk=job.pk).automation_status == AutomationStatus.WAITING)
    answer_first(job, truth, 50)
    automation_run_job.delay(job.pk)
    wait_for(lambda: Job.objects.get(pk=job.pk).automation_rounds >= 1)
    job.refresh_from_db()
    assert job.automation_status == AutomationStatus.RUNNING, job.automation_reason
    assert job.automation_device.startswith("cuda" if torch.cuda.is_available() else "cpu")
    machine = Item.objects.filter(job=job, result_source=Item.Source.MACHINE)
    assert machine.count() == job.automation_items_taken > 50
    assert Microtask.objects.filter(job=job, status="done").count() == 50 + machine.count()


def wait_for(condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("the automation Celery worker did not finish in time")


def test_device_is_chosen_automatically():
    assert embeddings.device_name() == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_head_trains_on_the_gpu(settings):
    settings.QUORUM_AUTOMATION_DEVICE = ""
    solver = HashingSolver()
    assert solver.device == "cuda"
    x = solver.encode(["red apple", "yellow banana"] * 10)
    solver.fit(x, [0, 1] * 10, 2)
    assert solver.layer.weight.is_cuda
    assert solver.predict_proba(x).shape == (20, 2)
