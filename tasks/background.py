"""Celery jobs of the tasks app: load by id, call a service."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def ingest_upload(upload_id: int) -> None:
    services.upload_ingest(upload_id)


# Autodiscovery imports this module only; the automation jobs live with their package.
from .automation.background import automation_run_job, automation_sweep  # noqa: E402, F401
