"""The Celery application. Background jobs live in each app's ``background.py``."""

import os

from celery import Celery
from celery.signals import task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="background")


@task_failure.connect
def remember_failure(sender=None, task_id=None, exception=None, **kwargs):
    """The operations page lists the last failures of background jobs."""
    from quorum.health import background_error_record

    background_error_record(getattr(sender, "name", str(sender)), task_id or "", exception)
