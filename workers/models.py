"""The people: users with a role (requester or worker), worker profiles and skills."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class Role(models.TextChoices):
        REQUESTER = "requester", "Requester"
        WORKER = "worker", "Worker"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.WORKER)

    @property
    def is_requester(self) -> bool:
        return self.role == self.Role.REQUESTER

    @property
    def is_worker(self) -> bool:
        return self.role == self.Role.WORKER


class WorkerProfile(models.Model):
    """What the platform knows about one worker across all jobs."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="worker_profile")
    max_leases = models.PositiveSmallIntegerField(default=1, help_text="Microtasks this worker may hold at once.")
    blocked = models.BooleanField(default=False, help_text="A blocked worker gets no work from any job.")
    trust = models.FloatField(default=0.5)
    # Measured speed: median seconds per item answered (the cost model's r).
    seconds_per_item = models.FloatField(null=True, blank=True)
    answers_count = models.PositiveIntegerField(default=0)
    gold_total = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"worker {self.user.username}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_total if self.gold_total else None


class WorkerSkill(models.Model):
    worker = models.ForeignKey(WorkerProfile, on_delete=models.CASCADE, related_name="skills")
    name = models.SlugField(max_length=64)
    level = models.FloatField(default=1.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["worker", "name"], name="worker_skill_unique")]

    def __str__(self) -> str:
        return f"{self.name}={self.level}"
