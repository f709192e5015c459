"""The work: Job, Upload, Item, Microtask, Assignment, Answer (glossary in docs/ARCHITECTURE.md).

Items and microtasks are written in bulk by intake with PostgreSQL COPY, so every column that COPY leaves out
has a database default (``db_default``). An item belongs to the microtask ``(job, microtask_index)``: a
composite reference that lets intake slice a million rows while it streams them, without a round trip per
microtask.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .questions import QUESTION_TYPES

# The shorthand single question's type: any registered question type (tasks/questions/).
QUESTION_TYPE_CHOICES = [(plugin.name, plugin.label) for plugin in QUESTION_TYPES.values()]


class AutomationStatus(models.TextChoices):
    OFF = "off", "Off"
    WAITING = "waiting", "Waiting for human results"
    RUNNING = "running", "Answering items"
    DECLINED = "declined", "Declined: no threshold reaches the target"
    STOPPED = "stopped", "Stopped: audits fell below the target"
    UNSUPPORTED = "unsupported", "Not possible for this job"


class Job(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    question_type = models.CharField(max_length=32, choices=QUESTION_TYPE_CHOICES, default="single_choice")
    question = models.CharField(max_length=500, blank=True, help_text="The question shown above each item.")
    options = models.JSONField(default=list, blank=True, help_text="Answer options for choice questions.")
    text_field = models.CharField(max_length=200, blank=True, help_text="Column shown to workers; blank shows all.")
    # Workers receive only the columns a job shows (commit.sql filters them before they leave PostgreSQL).
    shown_fields = models.JSONField(
        default=list, blank=True, help_text="More columns shown to workers, after the text column."
    )
    gold_field = models.CharField(max_length=200, default="gold", help_text="Column that holds known answers.")
    # A form (docs/FORMS.md): display blocks over the columns and several questions. Empty: the shorthand fields
    # above (text_field, shown_fields; question_type, question, options) say it; tasks.forms.Form reads both.
    display = models.JSONField(default=list, blank=True, help_text="Display blocks: [{type, column, label}].")
    questions = models.JSONField(default=list, blank=True, help_text="Questions: [{name, type, prompt, ...}].")
    media_origins = models.JSONField(
        default=list, blank=True, help_text="Origins (https://host) that media URLs in the data may come from."
    )
    id_field = models.CharField(max_length=200, default="id", help_text="Column that identifies an item.")
    columns = models.JSONField(default=list, blank=True, help_text="Columns seen in the uploaded data.")

    items_per_microtask = models.PositiveIntegerField(default=1)
    redundancy = models.PositiveSmallIntegerField(default=3, help_text="Answers wanted per microtask (minimum).")
    max_answers = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Adaptive redundancy cap.")
    # On the consensus confidence (tasks/aggregation/calibration.py); the same default as manage.py replay's.
    target_confidence = models.FloatField(default=0.965)
    # The demo job (quorum/demo.py): workers on "any job" get it only when no real job has work for them.
    demo = models.BooleanField(default=False)
    aggregation_method = models.CharField(max_length=32, default="auto")

    priority = models.SmallIntegerField(default=5)
    lease_seconds = models.PositiveIntegerField(default=300)
    reward = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"), help_text="Per microtask.")
    budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    required_skill = models.SlugField(max_length=64, blank=True)
    required_skill_level = models.FloatField(default=0)

    # Quality rules: block a worker whose gold accuracy is surely below a threshold (its whole 95 % interval)
    # after enough gold answers;
    # flag answers faster than a plausible time; accept answers automatically after a delay.
    block_below_accuracy = models.FloatField(null=True, blank=True)
    block_min_gold = models.PositiveSmallIntegerField(default=5)
    min_seconds_per_item = models.FloatField(default=0)
    auto_accept_hours = models.FloatField(default=72)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.CharField(max_length=200, blank=True, help_text="Why the job was paused, if not by hand.")
    item_count = models.PositiveIntegerField(default=0)
    microtask_count = models.PositiveIntegerField(default=0)
    median_seconds_per_item = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    # Automation (tasks/automation/): a model answers the items it can answer at the target accuracy.
    automation_enabled = models.BooleanField(default=False, help_text="Off: people answer every item.")
    automation_target_accuracy = models.FloatField(default=0.95)
    automation_audit_rate = models.FloatField(default=0.02, help_text="Share of machine answers also sent to people.")
    automation_status = models.CharField(
        max_length=16, choices=AutomationStatus.choices, default=AutomationStatus.OFF, db_default=AutomationStatus.OFF
    )
    automation_reason = models.TextField(blank=True, default="", db_default="")
    automation_threshold = models.FloatField(null=True, blank=True)
    automation_rounds = models.PositiveIntegerField(default=0, db_default=0)
    automation_labelled = models.PositiveIntegerField(default=0, db_default=0, help_text="Human results at last run.")
    automation_items_taken = models.PositiveIntegerField(default=0, db_default=0)
    automation_answers_saved = models.PositiveIntegerField(default=0, db_default=0)
    automation_audits_judged = models.PositiveIntegerField(default=0, db_default=0)
    automation_audits_correct = models.PositiveIntegerField(default=0, db_default=0)
    automation_device = models.CharField(max_length=100, blank=True, default="", db_default="")
    automation_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(items_per_microtask__gte=1), name="job_items_per_microtask_positive"),
            models.CheckConstraint(condition=Q(redundancy__gte=1), name="job_redundancy_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.display:
            # Workers receive only the columns the blocks name: PostgreSQL filters them by shown_fields (commit.sql).
            self.shown_fields = list(dict.fromkeys(block["column"] for block in self.display))
            if kwargs.get("update_fields") is not None and "display" in kwargs["update_fields"]:
                kwargs["update_fields"] = {*kwargs["update_fields"], "shown_fields"}
        super().save(*args, **kwargs)

    @property
    def answers_cap(self) -> int:
        return max(self.redundancy, self.max_answers or self.redundancy)

    @property
    def automation_audit_accuracy(self) -> float | None:
        if not self.automation_audits_judged:
            return None
        return self.automation_audits_correct / self.automation_audits_judged


class Upload(models.Model):
    """One data file sent for a job; ingested by a Celery job, all rows or none."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="uploads")
    filename = models.CharField(max_length=255)
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    rows_total = models.BigIntegerField(null=True, blank=True, help_text="Estimated until the upload is done.")
    rows_done = models.BigIntegerField(default=0)
    items_created = models.BigIntegerField(default=0)
    microtasks_created = models.BigIntegerField(default=0)
    error = models.JSONField(null=True, blank=True, help_text="{file, line, field, message} when it failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename


class MediaFile(models.Model):
    """An image, audio or video file of a job, kept through Django's storage API (tasks/media.py).

    Items name it in a media column by ``name``; browsers get it only through signed URLs (quorum/media_serving.py).
    """

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        AUDIO = "audio", "Audio"
        VIDEO = "video", "Video"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="media_files", db_index=False)
    # The path as the requester gave it (in the archive, or with the file), normalised: what item data names.
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    content_type = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Where the storage keeps it: a random name, never one the requester chose.
    storage_name = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Also the index of the serving lookup (job, name).
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="media_file_job_name_unique")]

    def __str__(self) -> str:
        return self.name


class BucketLocation(models.Model):
    """A place in an S3-compatible bucket that a requester named, with the keys to reach it (tasks/buckets/).

    The secret is kept encrypted with a key derived from SECRET_KEY and never leaves through the API."""

    endpoint_url = models.CharField(max_length=200, blank=True, help_text="Empty: AWS S3 itself.")
    region = models.CharField(max_length=64, blank=True)
    bucket = models.CharField(max_length=63)
    prefix = models.CharField(max_length=512, blank=True)
    access_key_id = models.CharField(max_length=128)
    secret_encrypted = models.TextField()
    # Set when a Celery job claims the row and as it moves on: a row left ``running`` by a Celery worker that died
    # is recognised by its age when the message comes back (tasks/buckets/).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.url

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class BucketImport(BucketLocation):
    """Items (or media files listed into items) read from the objects under a bucket prefix into a job."""

    class Kind(models.TextChoices):
        ROWS = "rows", "CSV and JSON Lines files, ingested as uploads"
        MEDIA = "media", "Media files, one item each"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="bucket_imports")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ROWS)
    # Media imports: the item column that names the file (the job's one media column when empty).
    column = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.JSONField(null=True, blank=True, help_text="{file, line, field, message} when it failed.")
    files_total = models.IntegerField(default=0)
    files_done = models.IntegerField(default=0)
    items_created = models.BigIntegerField(default=0)
    # The uploads made from the prefix's data files, in key order.
    upload_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class BucketExport(BucketLocation):
    """A job's results written to ``<prefix><job id>-results.<csv|jsonl>`` in a bucket: now, or when it is done."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for the job to be done"
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="bucket_exports")
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.JSONField(null=True, blank=True, help_text="{message} when it failed.")
    key = models.CharField(max_length=1100, blank=True, help_text="The object written.")
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["job"], name="bucket_export_waiting", condition=Q(status="waiting"))]


class Item(models.Model):
    class Source(models.TextChoices):
        HUMAN = "human", "Human"
        MACHINE = "machine", "Machine"
        GOLD = "gold", "Gold"

    # Items are stored in a table per job, a partition of tasks_item (tasks/partitions.py): deleting a job drops
    # it, so Django never deletes a job's items row by row. No database-level foreign key: PostgreSQL checks one
    # with a trigger per inserted row, and intake writes items only while it holds the job's row lock.
    job = models.ForeignKey(Job, on_delete=models.DO_NOTHING, related_name="items", db_index=False, db_constraint=False)
    position = models.IntegerField(help_text="0-based order of the item within its job.")
    microtask_index = models.IntegerField()
    external_id = models.CharField(max_length=200, null=True, blank=True)
    data = models.JSONField()
    gold = models.JSONField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    result_method = models.CharField(max_length=32, blank=True, db_default="")
    result_source = models.CharField(max_length=16, blank=True, choices=Source.choices, db_default="")
    answer_count = models.IntegerField(default=0, db_default=0)
    agreement = models.FloatField(null=True, blank=True)
    result_updated_at = models.DateTimeField(null=True, blank=True)
    # A form with several questions: {question name: {result, confidence, method, answers, agreement}}; ``result``
    # then holds {question name: result} and ``confidence`` the lowest confidence of the questions that apply.
    results = models.JSONField(null=True, blank=True)
    # Raised by every write of the result (aggregation, automation): item.result webhooks name (item, version), so
    # a receiver tells a changed result from a resent one.
    result_version = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="item_job_position_unique")]
        indexes = [models.Index(fields=["job", "microtask_index"], name="item_job_microtask")]

    def __str__(self) -> str:
        return f"item {self.position} of job {self.job_id}"


# A finished microtask whose items' results are not yet computed from its latest answers. No column that a submit
# alone changes (answer_count) appears here: the scheduler's per-answer UPDATE of a microtask stays a HOT update.
RESULTS_DUE = Q(status="done", is_gold=False) & (Q(results_for__isnull=True) | ~Q(results_for=models.F("completed_at")))


class Microtask(models.Model):
    """A human-sized slice of a job: ``item_count`` items answered together by ``answers_wanted`` workers."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    # Stored per job like items (a partition of tasks_microtask), for the same reasons as Item.job.
    job = models.ForeignKey(
        Job, on_delete=models.DO_NOTHING, related_name="microtasks", db_index=False, db_constraint=False
    )
    index = models.IntegerField()
    is_gold = models.BooleanField(default=False, db_default=False)
    item_count = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_default=Status.OPEN)
    answers_wanted = models.IntegerField()
    answer_count = models.IntegerField(default=0, db_default=0)
    # Lower ranks are served first; automation ranks the microtasks the model is least sure of first.
    rank = models.FloatField(default=0, db_default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The ``completed_at`` whose answers its items' results were last computed from. The results pass copies it
    # after writing them, in the same transaction, so PostgreSQL alone tells which finished microtasks still
    # lack results (RESULTS_DUE) when Redis lost the queue or a Celery worker died mid-pass.
    results_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="microtask_job_index_unique"),
            # Gold microtasks are answered by every worker who is tested with them; others stop at answers_wanted.
            models.CheckConstraint(
                condition=Q(is_gold=True) | Q(answer_count__lte=models.F("answers_wanted")),
                name="microtask_answers_within_wanted",
            ),
        ]
        indexes = [
            models.Index(fields=["job", "rank", "index"], name="microtask_open_by_job", condition=Q(status="open")),
            # Holds only the few microtasks between their last answer and their results: the repair pass reads it
            # whole, however many microtasks the jobs have.
            models.Index(fields=["job", "completed_at"], name="microtask_results_due", condition=RESULTS_DUE),
            # The gold microtasks of a job (a few per job): the gold repair pass starts from them.
            models.Index(fields=["job"], name="microtask_gold_by_job", condition=Q(is_gold=True)),
        ]

    def __str__(self) -> str:
        return f"microtask {self.index} of job {self.job_id}"

    @property
    def items(self) -> models.QuerySet:
        return Item.objects.filter(job_id=self.job_id, microtask_index=self.index).order_by("position")


class Assignment(models.Model):
    """One worker's lease on one microtask, and the submission that ends it."""

    class Status(models.TextChoices):
        LEASED = "leased", _("Leased")
        SUBMITTED = "submitted", _("Submitted")
        EXPIRED = "expired", _("Expired")
        RELEASED = "released", _("Released")
        SKIPPED = "skipped", _("Skipped")

    class Review(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    # Indexes and constraints are kept to what queries and invariants need: every one costs the hot path.
    # The (microtask, worker) constraint serves lookups by microtask; ``job`` is a copy of microtask.job.
    # Items and microtasks are partitioned by job, and PostgreSQL references a partitioned table only through a
    # unique key holding the partition key: rows that name an item or a microtask by id alone have no database
    # foreign key, and go with their job (Job's cascade here, the job's partitions dropped there).
    microtask = models.ForeignKey(
        Microtask, on_delete=models.CASCADE, related_name="assignments", db_index=False, db_constraint=False
    )
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="assignments", db_index=False, db_constraint=False
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    seconds_taken = models.FloatField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)
    # "too_fast" when submitted faster than the job's plausible minimum time.
    flag = models.CharField(max_length=16, blank=True, default="", db_default="")
    review = models.CharField(max_length=16, choices=Review.choices, default=Review.PENDING)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The job's reward when the lease was granted: what accepting this assignment pays, whatever the requester
    # changes afterwards (the lease statement in commit.sql writes it).
    reward = models.DecimalField(max_digits=10, decimal_places=4, help_text="Pay on acceptance, fixed at the lease.")
    # When this submitted answer to a gold microtask was scored (tasks.quality): set in the scoring transaction,
    # so each is scored once, whatever Redis lost or a Celery worker left half done.
    gold_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A worker never gets the same microtask twice.
            # It also makes a resent submit idempotent: a second submission finds the assignment submitted.
            models.UniqueConstraint(fields=["microtask", "worker"], name="assignment_one_per_worker"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="assignment_leased_expiry", condition=Q(status="leased")),
            models.Index(fields=["worker", "status"], name="assignment_worker_status"),
            models.Index(fields=["job", "status"], name="assignment_job_status"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        # The scheduler's SQL records the reward itself; an assignment made here records it the same way.
        if self.reward is None:
            self.reward = Job.objects.values_list("reward", flat=True).get(pk=self.job_id)
        super().save(*args, **kwargs)


class Answer(models.Model):
    """One worker's answer to one item. ``job`` and ``worker`` are copied from the assignment for aggregation."""

    # The (assignment, item) constraint serves lookups by assignment, (job, item) those by item; ``job`` and
    # ``worker`` are copies of the assignment's, so they need no foreign-key check of their own.
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="answers", db_index=False)
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="answers", db_index=False, db_constraint=False
    )
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="answers", db_index=False, db_constraint=False)
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers", db_index=False, db_constraint=False
    )
    value = models.JSONField()
    counts = models.BooleanField(default=True, help_text="False once the worker is blocked or the answer rejected.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "item"], name="answer_one_per_item")]
        indexes = [models.Index(fields=["job", "item"], name="answer_job_item")]

    def __str__(self) -> str:
        return f"answer {self.pk} to item {self.item_id}"


class JobWorker(models.Model):
    """What one job knows about one worker: answers, gold checks, estimated accuracy, trust, a block."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="job_workers", db_index=False)
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_workers")
    answers = models.PositiveIntegerField(default=0)
    gold_total = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    estimated_accuracy = models.FloatField(null=True, blank=True, help_text="From agreement with the results.")
    trust = models.FloatField(null=True, blank=True)
    flagged = models.PositiveIntegerField(default=0, help_text="Answers submitted implausibly fast.")
    blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=200, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "worker"], name="job_worker_unique")]

    def __str__(self) -> str:
        return f"worker {self.worker_id} on job {self.job_id}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_total if self.gold_total else None


class ItemEmbedding(models.Model):
    """An item's features for automation (float32 bytes), computed once per item and solver feature kind."""

    item = models.OneToOneField(
        Item, on_delete=models.CASCADE, primary_key=True, related_name="embedding", db_constraint=False
    )
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+", db_index=False)
    encoder = models.CharField(max_length=64)
    vector = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["job", "encoder"], name="item_embedding_job_encoder")]

    def __str__(self) -> str:
        return f"{self.encoder} features of item {self.item_id}"


class AutomationAudit(models.Model):
    """A machine answer also sent to people; once they answer, it says whether the machine was right."""

    item = models.OneToOneField(
        Item, on_delete=models.CASCADE, primary_key=True, related_name="audit", db_constraint=False
    )
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="automation_audits")
    label = models.JSONField()
    confidence = models.FloatField()
    correct = models.BooleanField(null=True, blank=True, help_text="Empty until people have answered.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"audit of item {self.item_id}"
