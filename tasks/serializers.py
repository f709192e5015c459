from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from .automation.selectors import automation_summary
from .forms import BLOCK_TYPES, FormError, check_display, check_questions, complete_display
from .models import BucketExport, BucketImport, Job, MediaFile, Upload
from .questions import QUESTION_TYPES
from .services import job_change_problems, upload_rows_done

FORM_EXAMPLE = {
    "name": "Damaged parts",
    "instructions": "Look at the photo of each part.",
    "display": [
        {"type": "image", "column": "photo", "label": "Photo"},
        {"type": "text", "column": "note", "label": "Inspector's note"},
    ],
    "questions": [
        {"name": "state", "type": "single_choice", "prompt": "Is the part damaged?", "options": ["ok", "damaged"]},
        {
            "name": "why",
            "type": "free_text",
            "prompt": "What is damaged?",
            "show_if": {"question": "state", "equals": "damaged"},
        },
        {
            "name": "sharp",
            "type": "rating",
            "prompt": "How sharp is the photo?",
            "scale": 5,
            "labels": ["blurry", "sharp"],
        },
        {
            "name": "screws",
            "type": "number",
            "prompt": "Screws visible",
            "min": 0,
            "max": 50,
            "integer": True,
            "required": False,
        },
    ],
    "media_origins": ["https://images.example.org"],
    "redundancy": 3,
}


def _origin(value) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str) or len(value) > 200:
        raise serializers.ValidationError("each origin is text of at most 200 characters, like https://img.example.org")
    from .media import origin_of

    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or origin_of(value.strip()) is None  # a host that is not a DNS name or address (it goes into CSP headers)
    ):
        raise serializers.ValidationError(f"'{value[:80]}' is not an origin like https://img.example.org[:port]")
    return f"{parts.scheme}://{parts.netloc.lower()}"


class DisplayBlockSchema(serializers.Serializer):
    """One display block (for the OpenAPI schema; tasks.forms.check_display checks what is sent)."""

    type = serializers.ChoiceField(choices=BLOCK_TYPES)
    column = serializers.CharField(max_length=200)
    label = serializers.CharField(max_length=200, required=False)


class ConditionSchema(serializers.Serializer):
    question = serializers.CharField(help_text="An earlier question's name.")
    equals = serializers.JSONField(required=False, help_text="Shown when that answer equals this value...")
    # "in" is a Python keyword: declared below.


ConditionSchema._declared_fields["in"] = serializers.ListField(
    child=serializers.JSONField(), required=False, help_text="...or is one of these values."
)


class QuestionSchema(serializers.Serializer):
    """One question (for the OpenAPI schema; tasks.forms.check_questions and the type's plugin check it)."""

    name = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$")
    type = serializers.ChoiceField(choices=list(QUESTION_TYPES))
    prompt = serializers.CharField(max_length=500, required=False)
    required = serializers.BooleanField(default=True)
    show_if = ConditionSchema(required=False)
    gold_column = serializers.CharField(required=False, help_text="Column of known answers (default gold_<name>).")
    options = serializers.ListField(child=serializers.CharField(), required=False, help_text="Choice types.")
    min = serializers.FloatField(required=False, help_text="number")
    max = serializers.FloatField(required=False, help_text="number")
    integer = serializers.BooleanField(required=False, help_text="number")
    max_length = serializers.IntegerField(required=False, help_text="free_text")
    scale = serializers.IntegerField(required=False, help_text="rating: 2 to 10 points")
    labels = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="rating: [low, high]; spans, boxes: the labels"
    )
    column = serializers.CharField(required=False, help_text="spans: the text column; boxes: the image column")
    overlap = serializers.BooleanField(required=False, help_text="spans: whether spans may overlap (default false)")
    max_spans = serializers.IntegerField(required=False, help_text="spans: at most this many (default 100)")
    max_boxes = serializers.IntegerField(required=False, help_text="boxes: at most this many (default 50)")
    pairs = serializers.ChoiceField(
        choices=["given", "drawn"], required=False, help_text="pairwise: rows hold pairs, or rows are candidates"
    )
    left = serializers.CharField(required=False, help_text="pairwise, given pairs: the left candidate's column")
    right = serializers.CharField(required=False, help_text="pairwise, given pairs: the right candidate's column")
    candidate_column = serializers.CharField(required=False, help_text="pairwise, drawn pairs: the candidate column")
    comparisons_per_candidate = serializers.IntegerField(required=False, help_text="pairwise, drawn: 2 to 50")
    group_column = serializers.CharField(required=False, help_text="pairwise: the column of a candidate's group")
    allow_equal = serializers.BooleanField(required=False, help_text="pairwise: whether 'equal' is an answer")


@extend_schema_serializer(
    examples=[OpenApiExample("A form: an image, four questions", value=FORM_EXAMPLE, request_only=True)]
)
class JobSerializer(serializers.ModelSerializer):
    automation = serializers.SerializerMethodField()
    display = extend_schema_field(DisplayBlockSchema(many=True))(serializers.JSONField)(required=False)
    questions = extend_schema_field(QuestionSchema(many=True))(serializers.JSONField)(required=False)

    class Meta:
        model = Job
        fields = [
            "id", "name", "instructions", "question_type", "question", "options", "text_field", "shown_fields",
            "gold_field", "display", "questions", "media_origins",
            "id_field", "columns", "items_per_microtask", "redundancy", "max_answers", "target_confidence",
            "aggregation_method", "priority", "lease_seconds", "reward", "budget", "required_skill",
            "required_skill_level", "block_below_accuracy", "block_min_gold", "min_seconds_per_item",
            "auto_accept_hours", "status", "status_reason", "item_count", "microtask_count", "created_at",
            "published_at", "automation_enabled", "automation_target_accuracy", "automation_audit_rate", "automation",
        ]  # fmt: skip
        read_only_fields = [
            "status", "status_reason", "item_count", "microtask_count", "columns", "created_at", "published_at",
        ]  # fmt: skip

    def validate_block_below_accuracy(self, value):
        if value is not None and not 0 < value <= 1:
            raise serializers.ValidationError("block_below_accuracy is a share between 0 and 1")
        return value

    def validate_aggregation_method(self, value):
        from .aggregation.categorical import METHODS
        from .aggregation.numeric import NUMERIC_METHODS

        # Free-text jobs use "vote" or "weighted"; a method that does not fit the question falls back to auto.
        allowed = set(METHODS) | set(NUMERIC_METHODS) | {"vote", "weighted"}
        if value not in allowed:
            raise serializers.ValidationError(f"use one of: {', '.join(sorted(allowed))}")
        return value

    def get_automation(self, job) -> dict:
        """The machine's work on the job: status, reason when it stopped or declined, items taken, savings."""
        return automation_summary(job)

    def validate_automation_target_accuracy(self, value):
        if not 0.5 <= value < 1:
            raise serializers.ValidationError("automation_target_accuracy must be at least 0.5 and below 1")
        return value

    def validate_automation_audit_rate(self, value):
        if not 0 <= value <= 0.5:
            raise serializers.ValidationError("automation_audit_rate must be between 0 and 0.5")
        return value

    def validate_options(self, value):
        if not isinstance(value, list) or not all(isinstance(o, (str, int, float)) for o in value):
            raise serializers.ValidationError("options must be a list of strings")
        options = [str(o) for o in value]
        if len(set(options)) != len(options):
            raise serializers.ValidationError("options must be distinct")
        return options

    def validate_shown_fields(self, value):
        if not isinstance(value, list) or not all(isinstance(name, str) and 0 < len(name) <= 200 for name in value):
            raise serializers.ValidationError("shown_fields must be a list of column names")
        if len(value) > 50:
            raise serializers.ValidationError("shown_fields names at most 50 columns")
        return list(dict.fromkeys(value))

    def validate_display(self, value):
        try:
            return check_display(value)
        except FormError as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_media_origins(self, value):
        if not isinstance(value, list) or len(value) > 50:
            raise serializers.ValidationError("media_origins is a list of at most 50 origins")
        return list(dict.fromkeys(_origin(v) for v in value))

    def validate_items_per_microtask(self, value):
        if not 1 <= value <= 1000:
            raise serializers.ValidationError("items_per_microtask must be between 1 and 1000")
        return value

    def validate_redundancy(self, value):
        if not 1 <= value <= 100:
            raise serializers.ValidationError("redundancy must be between 1 and 100")
        return value

    def validate_reward(self, value):
        if value is not None and value < 0:
            raise serializers.ValidationError("reward cannot be negative")
        return value

    def validate_budget(self, value):
        if value is not None and value <= 0:
            raise serializers.ValidationError("budget must be above 0 (leave it empty for no budget)")
        return value

    def validate_lease_seconds(self, value):
        if not 10 <= value <= 86400:
            raise serializers.ValidationError("lease_seconds must be between 10 and 86400")
        return value

    def validate_target_confidence(self, value):
        if not 0.5 <= value < 1:
            raise serializers.ValidationError("target_confidence must be at least 0.5 and below 1")
        return value

    def validate(self, attrs):
        instance = self.instance
        self._check_form(attrs)
        for definition in attrs.get("questions", getattr(instance, "questions", None)) or []:
            if (fixed := QUESTION_TYPES[definition["type"]].redundancy(definition)) is not None:
                attrs.update(redundancy=fixed, max_answers=None)  # the question type decides (docs/ANNOTATION.md)
        redundancy = attrs.get("redundancy", getattr(instance, "redundancy", 3))
        max_answers = attrs.get("max_answers", getattr(instance, "max_answers", None))
        if max_answers is not None and max_answers < redundancy:
            raise serializers.ValidationError({"max_answers": "max_answers cannot be below redundancy"})
        if instance is not None and (problems := job_change_problems(instance, attrs)):
            raise serializers.ValidationError(problems)
        return attrs

    def _check_form(self, attrs) -> None:
        """Questions through their plugins; the shorthand fields become the one question when none are given."""
        instance = self.instance
        gold_field = attrs.get("gold_field", getattr(instance, "gold_field", "gold"))
        if "questions" in attrs:
            raw = attrs["questions"]
            if raw:
                try:
                    attrs["questions"] = check_questions(raw, gold_field)
                except FormError as error:
                    raise serializers.ValidationError({"questions": str(error)}) from None
                display = attrs.get("display", getattr(instance, "display", None)) or []
                try:
                    attrs["display"] = complete_display(display, attrs["questions"])
                except FormError as error:
                    raise serializers.ValidationError({"questions": str(error)}) from None
                if len(attrs["questions"]) == 1:  # mirrored, so readers of the old fields see the same question
                    only = attrs["questions"][0]
                    attrs.update(question_type=only["type"], question=only["prompt"], options=only.get("options", []))
        if not attrs.get("questions", getattr(instance, "questions", None)):
            shorthand = {
                "name": "answer",
                "type": attrs.get("question_type", getattr(instance, "question_type", Job.question_type.field.default)),
                "prompt": attrs.get("question", getattr(instance, "question", "")),
                "options": attrs.get("options", getattr(instance, "options", [])),
            }
            try:
                check_questions([shorthand], gold_field)
            except FormError as error:
                field = error.field.rsplit(".", 1)[-1]
                field = {"type": "question_type", "prompt": "question"}.get(field, field)
                raise serializers.ValidationError({field: error.message}) from None


class UploadSerializer(serializers.ModelSerializer):
    rows_done = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "id", "job", "filename", "size_bytes", "status", "rows_total", "rows_done", "items_created",
            "microtasks_created", "error", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_rows_done(self, upload) -> int:
        return upload_rows_done(upload)


class ItemResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    data = serializers.JSONField()
    result = serializers.JSONField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    result_source = serializers.CharField()
    result_method = serializers.CharField()
    answer_count = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)
    # A form: {question name: {result, confidence, method, answers, agreement}}; null for a one-question job.
    results = serializers.JSONField(allow_null=True)
    media = serializers.SerializerMethodField(help_text="{column: signed URL} of the item's media, for an hour")

    def get_media(self, item) -> dict:
        media_of = self.context.get("media")
        return media_of(item.data) if media_of else {}


class MediaFileSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="A signed URL for the requester, valid for an hour")

    class Meta:
        model = MediaFile
        fields = ["name", "kind", "content_type", "size_bytes", "sha256", "created_at", "url"]
        read_only_fields = fields

    def get_url(self, record) -> str:
        from .media import viewer_url

        return viewer_url(record.job_id, record.name)


class ReviewFilterSerializer(serializers.Serializer):
    """The results page's filters (tasks.selectors.item_list): which items' pending answers a bulk review takes."""

    confidence_below = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    disagreement = serializers.BooleanField(required=False, default=False)
    source = serializers.ChoiceField(choices=["", "human", "machine", "gold"], required=False, default="")
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class BulkReviewSerializer(serializers.Serializer):
    """POST /api/jobs/<id>/review/: accept or reject every pending answer of one worker, or of a filter's items."""

    decision = serializers.ChoiceField(choices=["accept", "reject"])
    worker = serializers.IntegerField(required=False, min_value=1, help_text="One worker's pending answers.")
    filter = ReviewFilterSerializer(required=False, help_text="The pending answers on the items this filter shows.")
    preview = serializers.BooleanField(
        required=False, default=False, help_text="Count what the review would move; change nothing."
    )

    def validate(self, attrs):
        if "worker" not in attrs and "filter" not in attrs:
            raise serializers.ValidationError({"worker": "name a worker, or send the results filter as 'filter'"})
        return attrs

    def item_filters(self) -> dict | None:
        given = self.validated_data.get("filter")
        if given is None:
            return None
        return {
            "confidence_below": given.get("confidence_below"),
            "disagreement": given.get("disagreement", False),
            "source": given.get("source", ""),
            "search": given.get("q", "").strip(),
        }


class BonusSerializer(serializers.Serializer):
    """A bonus to one worker on a job; the bounds (more than 0, at most QUORUM_MAX_BONUS) are workers.ledger's."""

    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    reason = serializers.CharField(max_length=200, allow_blank=True)


BUCKET_NAME = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"


class BucketLocationSerializer(serializers.Serializer):
    """Where in an S3-compatible bucket, and the keys to it. The secret is write-only: never sent back."""

    endpoint_url = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    bucket = serializers.RegexField(
        BUCKET_NAME,
        max_length=63,
        error_messages={"invalid": "a bucket name is 3-63 lowercase letters, digits, '.' and '-'"},
    )
    prefix = serializers.CharField(max_length=512, required=False, allow_blank=True, default="", trim_whitespace=False)
    access_key_id = serializers.CharField(max_length=128)
    secret = serializers.CharField(max_length=256, write_only=True, trim_whitespace=False)

    def validate_endpoint_url(self, value: str) -> str:
        from .buckets.client import endpoint_origin, endpoint_problem

        value = value.strip()
        if problem := endpoint_problem(value):
            raise serializers.ValidationError(problem)
        return endpoint_origin(value) if value else ""

    def validate_prefix(self, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise serializers.ValidationError("the prefix holds a control character")
        return value.lstrip("/")

    def validate_region(self, value: str) -> str:
        import re

        if value and not re.fullmatch(r"[a-z0-9-]+", value):
            raise serializers.ValidationError("a region is lowercase letters, digits and '-', like eu-west-1")
        return value


BUCKET_OUTPUT = ["id", "job", "endpoint_url", "region", "bucket", "prefix", "access_key_id", "status", "error"]


class BucketImportSerializer(BucketLocationSerializer):
    kind = serializers.ChoiceField(choices=["rows", "media"], default="rows")
    column = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class BucketImportOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = BucketImport
        fields = [
            *BUCKET_OUTPUT, "kind", "column", "files_total", "files_done", "items_created", "upload_ids",
            "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class BucketExportSerializer(BucketLocationSerializer):
    format = serializers.ChoiceField(choices=["csv", "jsonl"], default="csv")
    when = serializers.ChoiceField(
        choices=["now", "done"], default="now", help_text="now, or once the job is done (now if it is already)"
    )


class BucketExportOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = BucketExport
        fields = [*BUCKET_OUTPUT, "format", "key", "size_bytes", "created_at", "finished_at"]
        read_only_fields = fields
