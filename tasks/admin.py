from django.contrib import admin

from .models import Answer, Assignment, Item, Job, Microtask, Upload


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "status", "priority", "item_count", "microtask_count", "redundancy", "created_at"]
    list_filter = ["status", "question_type"]
    search_fields = ["name", "owner__username"]


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["filename", "job", "status", "rows_done", "items_created", "created_at"]
    list_filter = ["status"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "position", "microtask_index", "result", "confidence", "result_source"]
    list_filter = ["result_source"]
    raw_id_fields = ["job"]
    show_full_result_count = False


@admin.register(Microtask)
class MicrotaskAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "index", "is_gold", "status", "answer_count", "answers_wanted"]
    list_filter = ["status", "is_gold"]
    raw_id_fields = ["job"]
    show_full_result_count = False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "microtask", "worker", "status", "leased_at", "expires_at", "review"]
    list_filter = ["status", "review"]
    raw_id_fields = ["job", "microtask", "worker"]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "item", "worker", "value", "counts", "created_at"]
    list_filter = ["counts"]
    raw_id_fields = ["job", "item", "worker", "assignment"]
