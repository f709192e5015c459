"""WebSocket routes of every app."""

from django.conf import settings
from django.urls import path

from tasks.consumers import JobProgressConsumer
from workers.consumers import WorkerTaskConsumer

websocket_urlpatterns: list = [
    path("ws/work/", WorkerTaskConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]

if settings.QUORUM_ECHO_ENDPOINT:
    from .echo import EchoConsumer

    websocket_urlpatterns.append(path("ws/echo/", EchoConsumer.as_asgi()))
