"""WebSocket routes of every app."""

from django.urls import path

from tasks.consumers import JobProgressConsumer

websocket_urlpatterns: list = [
    path("ws/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]
