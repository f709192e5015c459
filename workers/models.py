"""The people: users with a role (requester or worker), worker profiles and skills."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    class Role(models.TextChoices):
        REQUESTER = "requester", _("Requester")
        WORKER = "worker", _("Worker")

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.WORKER)
    # The username reduced to what a reader sees (workers/usernames.py): a new name must not share it.
    username_skeleton = models.CharField(max_length=150, db_index=True, editable=False, default="")

    def save(self, *args, **kwargs) -> None:
        from .tokens import token_revoke_all
        from .usernames import username_skeleton

        self.username_skeleton = username_skeleton(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_skeleton"}
        # set_password() leaves the new password in _password until the save (Django's hash upgrades clear it
        # first): a changed password ends every API token, whichever path changed it (admin, changepassword,
        # a form). Sessions already end by their auth hash.
        password_changed = self._password is not None and not self._state.adding
        super().save(*args, **kwargs)
        if password_changed:
            token_revoke_all(self)

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


class PayoutBatch(models.Model):
    """One payout run by staff: every worker whose balance reached `minimum` got one payout entry in it."""

    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="payout_batches")
    created_at = models.DateTimeField(auto_now_add=True)
    minimum = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=8)
    total = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    count = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"payout batch {self.pk}"


class LedgerEntry(models.Model):
    """Money owed to a worker: a reward per accepted microtask, bonuses, adjustments, and payouts (negative).
    The balance is the sum."""

    class Kind(models.TextChoices):
        REWARD = "reward", _("Reward")
        BONUS = "bonus", _("Bonus")
        ADJUSTMENT = "adjustment", _("Adjustment")
        PAYOUT = "payout", _("Paid")

    worker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="ledger")
    job = models.ForeignKey("tasks.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="ledger")
    assignment = models.OneToOneField(
        "tasks.Assignment", on_delete=models.SET_NULL, null=True, blank=True, related_name="ledger_entry"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REWARD)
    amount = models.DecimalField(max_digits=12, decimal_places=4)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts")

    class Meta:
        indexes = [
            models.Index(fields=["worker", "created_at"], name="ledger_worker_time"),
            models.Index(fields=["job", "kind"], name="ledger_job_kind"),
        ]
        constraints = [
            # A worker is paid at most once per batch.
            models.UniqueConstraint(
                fields=["batch", "worker"], condition=models.Q(batch__isnull=False), name="ledger_one_payout_per_batch"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} to {self.worker_id}"


class Qualification(models.Model):
    """A requester's test: a worker who passes it gets the skill ``skill`` at ``level`` (a ``WorkerSkill``), which
    jobs ask for in ``Job.required_skill``. Questions are a short bounded list kept with the test (see
    workers/qualifications.py for their shape and limits)."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="qualifications")
    name = models.CharField(max_length=200)
    skill = models.SlugField(max_length=64)
    level = models.FloatField(default=1.0)
    pass_mark = models.FloatField(default=0.8, help_text="Share of questions right to pass, 0 to 1.")
    retry_hours = models.PositiveIntegerField(default=24, help_text="Hours a worker who failed waits to try again.")
    # [{"prompt": str, "options": [str, ...], "answer": int (index of the right option), "explanation": str}]
    questions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["skill", "level"], name="qualification_skill_level")]

    def __str__(self) -> str:
        return f"{self.name} ({self.skill}={self.level})"


class QualificationAttempt(models.Model):
    worker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="qualification_attempts")
    qualification = models.ForeignKey(Qualification, on_delete=models.CASCADE, related_name="attempts")
    answers = models.JSONField(default=list)  # the chosen option's index per question, None when left out
    score = models.FloatField()
    passed = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["worker", "qualification", "created_at"], name="qual_attempt_worker_time")]

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.qualification_id}: {self.score:.2f}"
