"""Django admin for people: users with their role, worker profiles with block and unblock."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from . import services
from .models import LedgerEntry, PayoutBatch, Qualification, QualificationAttempt, User, WorkerProfile, WorkerSkill
from .usernames import username_errors


class _UsernameRules:
    """Staff choose usernames by the same rules as sign-up (workers/usernames.py); a name kept unchanged is
    left alone, so accounts made before the rules can still be edited."""

    def clean_username(self):
        username = self.cleaned_data["username"]
        current = self.instance.username if self.instance.pk else None
        if username != current:
            errors = username_errors(username, exclude_user_id=self.instance.pk)
            if errors:
                raise ValidationError(errors)
        return username


class QuorumUserCreationForm(_UsernameRules, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User


class QuorumUserChangeForm(_UsernameRules, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class QuorumUserAdmin(UserAdmin):
    form = QuorumUserChangeForm
    add_form = QuorumUserCreationForm
    list_display = ["username", "email", "role", "blocked", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["role", "is_staff", "is_active", "worker_profile__blocked"]
    list_select_related = ["worker_profile"]  # the blocked column without a query per row
    # Staff set the role when they make an account and may change it later (a requester who also wants to work).
    fieldsets = UserAdmin.fieldsets + (("Role", {"fields": ["role"]}),)
    add_fieldsets = ((None, {**UserAdmin.add_fieldsets[0][1], "fields": [*UserAdmin.add_fieldsets[0][1]["fields"],
                                                                          "email", "role"]}),)  # fmt: skip

    @admin.display(boolean=True, description="blocked", ordering="worker_profile__blocked")
    def blocked(self, user) -> bool | None:
        """Whether a worker is blocked; None (shown as unknown) for anyone without a worker profile."""
        try:
            return user.worker_profile.blocked
        except WorkerProfile.DoesNotExist:
            return None

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.role == User.Role.WORKER:
            services.worker_profile_get_or_create(obj)  # a worker takes work through a profile

    actions = ["block_workers", "unblock_workers"]

    @admin.action(description="Block the selected workers on every job (staff block)")
    def block_workers(self, request, queryset):
        workers = queryset.filter(role=User.Role.WORKER)
        for user in workers:
            services.worker_block(user)
        self.message_user(request, f"Blocked {workers.count()} worker(s) on every job.")

    @admin.action(description="Unblock the selected workers (the staff block on every job)")
    def unblock_workers(self, request, queryset):
        workers = queryset.filter(role=User.Role.WORKER)
        for user in workers:
            services.worker_unblock(user)
        self.message_user(request, f"Unblocked {workers.count()} worker(s).")


class WorkerSkillInline(admin.TabularInline):
    model = WorkerSkill
    extra = 0


@admin.register(WorkerProfile)
class WorkerProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user", "blocked", "trust", "answers_count", "gold_correct", "gold_total", "seconds_per_item", "max_leases",
    ]  # fmt: skip
    list_filter = ["blocked"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    inlines = [WorkerSkillInline]
    actions = ["block", "unblock"]
    # Blocking goes through the actions (answers stop counting, leases end, sessions are told); the figures are
    # kept by gold checks and the scheduler.
    readonly_fields = ["blocked", "trust", "answers_count", "gold_correct", "gold_total"]

    @admin.action(description="Block the selected workers on every job (staff block: they get no more work)")
    def block(self, request, queryset):
        for profile in queryset.select_related("user"):
            services.worker_block(profile.user)
        self.message_user(request, f"Blocked {queryset.count()} worker(s) on every job.")

    @admin.action(description="Unblock the selected workers (the staff block on every job)")
    def unblock(self, request, queryset):
        for profile in queryset.select_related("user"):
            services.worker_unblock(profile.user)
        self.message_user(request, f"Unblocked {queryset.count()} worker(s).")


@admin.register(WorkerSkill)
class WorkerSkillAdmin(admin.ModelAdmin):
    list_display = ["worker", "name", "level"]
    list_filter = ["name"]
    search_fields = ["worker__user__username", "name"]


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    # Questions are checked only by the API (workers/qualifications.py), so they are shown, not edited, here.
    list_display = ["name", "owner", "skill", "level", "pass_mark", "retry_hours", "created_at"]
    search_fields = ["name", "skill", "owner__username"]
    readonly_fields = ["owner", "skill", "level", "questions", "created_at"]


@admin.register(QualificationAttempt)
class QualificationAttemptAdmin(admin.ModelAdmin):
    list_display = ["worker", "qualification", "score", "passed", "created_at"]
    list_filter = ["passed"]
    search_fields = ["worker__username", "qualification__name"]
    readonly_fields = ["worker", "qualification", "answers", "score", "passed", "created_at"]


@admin.register(PayoutBatch)
class PayoutBatchAdmin(admin.ModelAdmin):
    """Read-only: batches are made on the console's Payouts page (workers.ledger), never edited."""

    list_display = ("id", "created_at", "created_by", "minimum", "currency", "count", "total", "note")
    list_select_related = ("created_by",)
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustmentForm(forms.ModelForm):
    """Staff add adjustments only: rewards, bonuses and payouts are written by their own paths."""

    class Meta:
        model = LedgerEntry
        fields = ["worker", "job", "amount", "note"]

    def save(self, commit=True):
        self.instance.kind = LedgerEntry.Kind.ADJUSTMENT
        return super().save(commit)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger, read-only; staff may add an adjustment (a correction, plus or minus) with a note."""

    form = AdjustmentForm
    list_display = ("created_at", "worker", "kind", "amount", "job", "note", "batch")
    list_filter = ("kind",)
    search_fields = ("worker__username", "note")
    list_select_related = ("worker", "job", "batch")
    raw_id_fields = ("worker", "job")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
