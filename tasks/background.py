"""Celery jobs of the tasks app: load by id, call a service."""

from celery import shared_task

from . import quality, results, services
from .aggregation.reliability import gold_reliability_refresh
from .models import Job
from .scheduling import leases, pace, pool


@shared_task(acks_late=True)
def ingest_upload(upload_id: int) -> None:
    services.upload_ingest(upload_id)


@shared_task(ignore_result=True)
def purge_upload_files() -> int:
    return services.upload_files_purge()


@shared_task(ignore_result=True)
def expire_leases() -> int:
    return leases.leases_expire()


@shared_task(ignore_result=True)
def sync_open_jobs() -> int:
    return pool.jobs_sync()


@shared_task(ignore_result=True)
def reconcile_pools() -> int:
    return pool.pools_reconcile()


@shared_task(ignore_result=True)
def refresh_pace() -> dict:
    return pace.pace_refresh()


@shared_task(ignore_result=True)
def check_gold_answers() -> int:
    return quality.gold_checks_pending()


@shared_task(ignore_result=True)
def repair_gold_checks() -> int:
    return quality.gold_checks_repair()


@shared_task(ignore_result=True)
def auto_accept_answers() -> int:
    return quality.assignments_auto_accept()


@shared_task(ignore_result=True)
def enforce_budgets() -> list[int]:
    return quality.budgets_enforce()


@shared_task(ignore_result=True)
def refresh_pending_results() -> int:
    return results.results_pending()


@shared_task(ignore_result=True)
def refresh_job_results() -> list[int]:
    return results.results_refresh_dirty()


@shared_task(ignore_result=True)
def repair_results() -> int:
    return results.results_repair().microtasks


# Autodiscovery imports this module only; the automation jobs live with their package.
from .automation.background import automation_run_job, automation_sweep  # noqa: E402, F401
from .buckets.background import release_bucket_exports, run_bucket_export, run_bucket_import  # noqa: E402, F401


@shared_task(ignore_result=True)
def refresh_gold_reliability(job_id: int) -> None:
    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        gold_reliability_refresh(job)
