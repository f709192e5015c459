from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Work"

    def ready(self) -> None:
        from . import partitions
        from .models import Job

        post_delete.connect(partitions.on_job_deleted, sender=Job, dispatch_uid="tasks.job_partitions_drop")
        post_migrate.connect(partitions.on_migrated, sender=self, dispatch_uid="tasks.orphan_partitions")
