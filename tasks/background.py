"""Celery jobs of the tasks app: load by id, call a service. The periodic passes (CELERY_BEAT_SCHEDULE) never
overlap themselves: a run while the previous one still goes is skipped (ttl: the longest honest run, in seconds)."""

from celery import shared_task

from quorum.periodic import one_at_a_time

from . import partitions, quality, results, services
from .aggregation.reliability import gold_reliability_refresh
from .models import Job
from .scheduling import leases, pace, pool


@shared_task(acks_late=True)
def ingest_upload(upload_id: int) -> None:
    services.upload_ingest(upload_id)


@shared_task(ignore_result=True)
@one_at_a_time("purge_upload_files", ttl=1800)
def purge_upload_files() -> int:
    return services.upload_files_purge()


@shared_task(ignore_result=True)
@one_at_a_time("drop_orphan_partitions", ttl=600)
def drop_orphan_partitions() -> int:
    return partitions.orphans_drop()


@shared_task(ignore_result=True)
@one_at_a_time("expire_leases", ttl=120)
def expire_leases() -> int:
    return leases.leases_expire()


@shared_task(ignore_result=True)
@one_at_a_time("sync_open_jobs", ttl=300)
def sync_open_jobs() -> int:
    return pool.jobs_sync()


@shared_task(ignore_result=True)
@one_at_a_time("reconcile_pools", ttl=300)
def reconcile_pools() -> int:
    return pool.pools_reconcile()


@shared_task(ignore_result=True)
@one_at_a_time("refresh_pace", ttl=300)
def refresh_pace() -> dict:
    return pace.pace_refresh()


@shared_task(ignore_result=True)
@one_at_a_time("check_gold_answers", ttl=300)
def check_gold_answers() -> int:
    return quality.gold_checks_pending()


@shared_task(ignore_result=True)
@one_at_a_time("repair_gold_checks", ttl=900)
def repair_gold_checks() -> int:
    return quality.gold_checks_repair()


@shared_task(ignore_result=True)
@one_at_a_time("auto_accept_answers", ttl=900)
def auto_accept_answers() -> int:
    return quality.assignments_auto_accept()


@shared_task(ignore_result=True)
@one_at_a_time("enforce_budgets", ttl=300)
def enforce_budgets() -> list[int]:
    return quality.budgets_enforce()


@shared_task(ignore_result=True)
@one_at_a_time("refresh_pending_results", ttl=300)
def refresh_pending_results() -> int:
    return results.results_pending()


@shared_task(ignore_result=True)
@one_at_a_time("refresh_job_results", ttl=900)
def refresh_job_results() -> list[int]:
    return results.results_refresh_dirty()


@shared_task(ignore_result=True)
@one_at_a_time("repair_results", ttl=900)
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
