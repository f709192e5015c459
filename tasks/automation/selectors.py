"""Reads about automation for the dashboard, the API and the sweep. No model code here: importing this module
keeps PyTorch out of the web process."""

import math

from django.conf import settings
from django.db.models import Count, Q

from tasks.models import AutomationStatus, Item, Job, Microtask

from .questions import questions_support


def retrain_every(open_items: int) -> int:
    """New human results that make a job due for another run: a share of the items still without a result.

    Of the work left, not of the job: once the machine has taken most items, the next model comes after a few
    dozen new results instead of a share of the whole job, so people answer fewer items the next model could
    have taken.
    """
    least = int(getattr(settings, "QUORUM_AUTOMATION_RETRAIN_MIN", 25))
    share = float(getattr(settings, "QUORUM_AUTOMATION_RETRAIN_SHARE", 0.01))
    return max(least, math.ceil(share * open_items))


def automation_summary(job: Job) -> dict:
    """What the dashboard shows about the machine's work on a job."""
    reward = job.reward or 0
    return {
        "enabled": job.automation_enabled,
        "status": job.automation_status,
        "reason": job.automation_reason,
        "target_accuracy": job.automation_target_accuracy,
        "audit_rate": job.automation_audit_rate,
        "measured_accuracy": job.automation_audit_accuracy,
        "audits_judged": job.automation_audits_judged,
        "items_taken": job.automation_items_taken,
        "human_answers_saved": job.automation_answers_saved,
        "reward_saved": str(reward * job.automation_answers_saved),
        "threshold": job.automation_threshold,
        "human_results_used": job.automation_labelled,
        "rounds": job.automation_rounds,
        "device": job.automation_device,
        # What the machine does with each question, or why people answer it.
        "questions": [support.as_dict() for support in questions_support(job)],
    }


def unranked_microtasks(job: Job):
    """Open ordinary microtasks still at the default rank 0: none once automation ranked the job."""
    return Microtask.objects.filter(job=job, status=Microtask.Status.OPEN, is_gold=False, rank=0)


def jobs_due() -> list[int]:
    """Jobs with automation on whose human results grew enough since the last run."""
    due = []
    jobs = Job.objects.filter(automation_enabled=True, status=Job.Status.OPEN).exclude(
        automation_status__in=[AutomationStatus.STOPPED, AutomationStatus.UNSUPPORTED]
    )
    for job in jobs:
        counts = Item.objects.filter(job=job).aggregate(
            humans=Count("pk", filter=Q(result_source=Item.Source.HUMAN)),
            open=Count("pk", filter=Q(result__isnull=True)),
        )
        if job.automation_rounds == 0 and job.automation_status != AutomationStatus.WAITING:
            due.append(job.pk)
        elif job.automation_status == AutomationStatus.WAITING and unranked_microtasks(job).exists():
            due.append(job.pk)  # a later upload's microtasks take their place in the random first sample
        elif counts["humans"] - job.automation_labelled >= retrain_every(counts["open"]):
            due.append(job.pk)
    return due
