from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User, WorkerProfile, WorkerSkill


@admin.register(User)
class QuorumUserAdmin(UserAdmin):
    list_display = ["username", "email", "role", "is_staff", "is_active", "date_joined"]
    list_filter = ["role", "is_staff", "is_active"]
    fieldsets = UserAdmin.fieldsets + (("Role", {"fields": ["role"]}),)


class WorkerSkillInline(admin.TabularInline):
    model = WorkerSkill
    extra = 0


@admin.register(WorkerProfile)
class WorkerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "blocked", "trust", "answers_count", "gold_correct", "gold_total", "max_leases"]
    list_filter = ["blocked"]
    search_fields = ["user__username"]
    inlines = [WorkerSkillInline]
