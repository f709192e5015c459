"""Django admin for the work: lists an operator can scan, filters, search, and the everyday actions."""

from functools import cached_property

from django.contrib import admin, messages

from . import partitions, services
from .models import Answer, Assignment, Item, Job, Microtask, Upload
from .scheduling.leases import leases_expire


def _transition(modeladmin, request, queryset, service, verb: str) -> None:
    done, refused = 0, []
    for job in queryset:
        try:
            service(job)
            done += 1
        except services.JobStateError as exc:
            refused.append(f"{job.name}: {exc}")
    if done:
        modeladmin.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "name", "owner", "status", "priority", "item_count", "microtask_count", "redundancy", "reward", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "question_type", "created_at"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    # Status changes go through the actions (the scheduler is told, a cancel ends leases), not a form field.
    readonly_fields = ["status", "item_count", "microtask_count", "columns", "created_at", "published_at"]
    actions = ["pause_jobs", "resume_jobs", "cancel_jobs"]

    @admin.action(description="Pause the selected jobs")
    def pause_jobs(self, request, queryset):
        _transition(self, request, queryset, services.job_pause, "Paused")

    @admin.action(description="Resume the selected jobs")
    def resume_jobs(self, request, queryset):
        _transition(self, request, queryset, services.job_resume, "Resumed")

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        _transition(self, request, queryset, services.job_cancel, "Cancelled")


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["filename", "job", "status", "rows_done", "rows_total", "items_created", "size_bytes", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["filename", "job__name"]
    list_select_related = ["job"]


class OneJobFilter(admin.SimpleListFilter):
    """Items and microtasks are listed one job at a time, the newest job's until another is chosen: they are stored
    in a table per job (tasks/partitions.py), and a list over every job's tables would lock them all."""

    title = "job"
    parameter_name = "job"

    def lookups(self, request, model_admin):
        return [(str(job.pk), f"{job.pk}: {job.name}") for job in Job.objects.order_by("-pk")[:50]]

    @cached_property
    def chosen(self) -> int | None:
        value = self.value()
        if value and value.isdigit():
            return int(value)
        return Job.objects.order_by("-pk").values_list("pk", flat=True).first()

    def queryset(self, request, queryset):
        return queryset.filter(job_id=self.chosen)

    def choices(self, changelist):
        chosen = str(self.chosen)
        for value, label in self.lookup_choices:
            yield {
                "selected": value == chosen,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class StoredPerJobAdmin(admin.ModelAdmin):
    """An item or microtask is looked up by id a hundred jobs at a time (tasks/partitions.py: job_chunks)."""

    def get_object(self, request, object_id, from_field=None):
        if not str(object_id).isdigit():
            return None
        for chunk in reversed(list(partitions.job_chunks(Job.objects.values_list("pk", flat=True)))):  # newest first
            found = self.get_queryset(request).filter(pk=int(object_id), job_id__in=chunk).first()
            if found is not None:
                return found
        return None


@admin.register(Item)
class ItemAdmin(StoredPerJobAdmin):
    list_display = ["id", "job", "position", "external_id", "result", "confidence", "agreement", "result_source"]
    # Not result_method: its filter would read the distinct values of every job's items.
    list_filter = [OneJobFilter, "result_source"]
    search_fields = ["external_id"]
    raw_id_fields = ["job"]
    list_select_related = ["job"]
    show_full_result_count = False


@admin.register(Microtask)
class MicrotaskAdmin(StoredPerJobAdmin):
    list_display = ["id", "job", "index", "is_gold", "status", "answer_count", "answers_wanted", "rank"]
    list_filter = [OneJobFilter, "status", "is_gold"]
    raw_id_fields = ["job"]
    list_select_related = ["job"]
    show_full_result_count = False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    # The microtask by its id only: reading it by id alone would look through every job's table (tasks/partitions.py).
    list_display = [
        "id",
        "job",
        "microtask_id",
        "worker",
        "status",
        "leased_at",
        "expires_at",
        "submitted_at",
        "review",
    ]
    list_filter = ["status", "review", "leased_at"]
    search_fields = ["worker__username", "job__name", "idempotency_key"]
    raw_id_fields = ["job", "worker"]
    exclude = ["microtask"]
    readonly_fields = ["microtask_id"]
    list_select_related = ["job", "worker"]
    show_full_result_count = False
    actions = ["accept_assignments", "reject_assignments", "release_expired_leases"]

    def _review(self, request, queryset, accepted: bool) -> None:
        done = 0
        for assignment in queryset.filter(status=Assignment.Status.SUBMITTED):
            services.assignment_review(assignment, accepted)
            done += 1
        self.message_user(request, f"{'Accepted' if accepted else 'Rejected'} {done} submitted assignment(s).")

    @admin.action(description="Release every expired lease now (whatever is selected)")
    def release_expired_leases(self, request, queryset):
        released = leases_expire()
        self.message_user(request, f"Released {released} expired lease(s); their microtasks are offered again.")

    @admin.action(description="Accept the selected submitted assignments")
    def accept_assignments(self, request, queryset):
        self._review(request, queryset, True)

    @admin.action(description="Reject the selected submitted assignments (their answers stop counting)")
    def reject_assignments(self, request, queryset):
        self._review(request, queryset, False)


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    # The item by its id only, as the assignment's microtask above.
    list_display = ["id", "job", "item_id", "worker", "value", "counts", "created_at"]
    list_filter = ["counts"]
    search_fields = ["worker__username"]
    raw_id_fields = ["job", "worker", "assignment"]
    exclude = ["item"]
    readonly_fields = ["item_id"]
    list_select_related = ["job", "worker"]
    show_full_result_count = False
