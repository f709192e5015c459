from django.contrib import admin

from .models import Delivery, Endpoint, Event


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "job", "url", "active", "created_at"]
    list_filter = ["active"]
    exclude = ["secret"]
    raw_id_fields = ["owner", "job"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "job", "event", "status", "attempts", "response_code", "next_attempt_at"]
    list_filter = ["status", "event"]
    raw_id_fields = ["endpoint", "job"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "event", "item_count", "created_at"]
    list_filter = ["event"]
    raw_id_fields = ["job"]
