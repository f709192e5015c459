"""Python client for Quorum's REST API: ``Client(url, token)`` and the ``quorum`` command."""

__version__ = "0.1.0"

from .client import Client  # noqa: E402
from .definitions import load_definition  # noqa: E402
from .errors import (  # noqa: E402
    AuthenticationError,
    Conflict,
    ConnectionFailed,
    JobStopped,
    NotFound,
    QuorumError,
    RateLimited,
    ServerError,
    UploadFailed,
    ValidationError,
    WaitTimeout,
)
from .types import Delivery, Job, Progress, Upload, WebhookEndpoint  # noqa: E402

__all__ = [
    "AuthenticationError",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Delivery",
    "Job",
    "JobStopped",
    "NotFound",
    "Progress",
    "QuorumError",
    "RateLimited",
    "ServerError",
    "Upload",
    "UploadFailed",
    "ValidationError",
    "WaitTimeout",
    "WebhookEndpoint",
    "load_definition",
]
