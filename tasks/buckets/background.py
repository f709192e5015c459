"""Celery jobs of bucket imports and exports: load by id, call a service.

Each records its own end (done or failed, with the error) before it returns, and every call to a bucket has
timeouts and a bounded number of attempts (settings QUORUM_S3_*), so a bucket that fails or does not answer ends
the job with a status instead of holding a Celery worker.
"""

from celery import shared_task

from .exports import bucket_export_run, bucket_exports_release
from .imports import bucket_import_run


@shared_task(acks_late=True, ignore_result=True)
def run_bucket_import(import_id: int) -> None:
    bucket_import_run(import_id)


@shared_task(acks_late=True, ignore_result=True)
def run_bucket_export(export_id: int) -> None:
    bucket_export_run(export_id)


@shared_task(ignore_result=True)
def release_bucket_exports(job_id: int) -> int:
    return bucket_exports_release(job_id)
