"""Exceptions for everything that can go wrong talking to a Quorum server, one class per kind of answer."""

from __future__ import annotations

from typing import Any


class QuorumError(Exception):
    """Base class. ``status`` is the HTTP status (None when no answer came), ``body`` the decoded answer."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return self.message


class ConnectionFailed(QuorumError):
    """The server could not be reached (refused, name not found, timed out)."""


class AuthenticationError(QuorumError):
    """401 or 403: no token, a wrong or expired token, or a token whose user may not do this."""


class NotFound(QuorumError):
    """404: no such job, upload or endpoint, or one that belongs to someone else."""


class Conflict(QuorumError):
    """409: the object is not in a state that allows this (publishing a cancelled job, ...)."""


class ValidationError(QuorumError):
    """400 or 413, or a definition file that cannot be read: what was wrong and where.

    ``fields`` maps a field name to its messages (a job definition's bad settings); ``file``, ``line`` and
    ``field`` name the place in a data file (an upload), when the server names it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        fields: dict[str, list[str]] | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        super().__init__(message, status=status, body=body)
        self.fields = fields or {}
        self.file = file
        self.line = line
        self.field = field


class UploadFailed(ValidationError):
    """An upload was accepted but its ingest refused the data; nothing of it was stored. ``upload`` is the
    failed Upload."""

    def __init__(self, message: str, *, upload: Any, **place: Any):
        super().__init__(message, **place)
        self.upload = upload


class RateLimited(QuorumError):
    """429: too many requests. ``retry_after`` is the seconds the server asks to wait (None if it did not say)."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429, body: Any = None):
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class ServerError(QuorumError):
    """5xx: the server failed; the request may be tried again later."""


class WaitTimeout(QuorumError):
    """A wait ran past its timeout; ``last`` is the last thing seen (a Progress or an Upload)."""

    def __init__(self, message: str, *, last: Any = None):
        super().__init__(message)
        self.last = last


class JobStopped(QuorumError):
    """A wait for a job ended because the job can no longer get there (cancelled, or a draft nobody published)."""

    def __init__(self, message: str, *, progress: Any = None):
        super().__init__(message)
        self.progress = progress


def place_text(file: str | None, line: int | None, field: str | None) -> str:
    """'items.csv line 3, field gold' from whichever parts are known."""
    parts = []
    if file:
        parts.append(file)
    if line is not None:
        parts.append(f"line {line}")
    where = " ".join(parts)
    if field:
        where = f"{where}, field {field}" if where else f"field {field}"
    return where


def _flatten(value: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error bodies nest ({"questions": {"0": {"options": [...]}}}); flatten to dotted names."""
    if isinstance(value, dict):
        out: dict[str, list[str]] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {prefix or "detail": list(value)}
    if isinstance(value, list):
        out = {}
        for index, inner in enumerate(value):
            out.update(_flatten(inner, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "detail": [str(value)]}


def error_from_response(status: int, body: Any, headers: Any, what: str) -> QuorumError:
    """The exception for a failed answer. ``what`` says what was asked ("POST /api/jobs/") for the message."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if status in (401, 403):
        reason = detail or "not allowed"
        hint = " (check the token: QUORUM_TOKEN, --token or `quorum login`)" if status == 401 else ""
        return AuthenticationError(f"{what}: {status} {reason}{hint}", status=status, body=body)
    if status == 404:
        return NotFound(f"{what}: 404 {detail or 'not found'}", status=status, body=body)
    if status == 409:
        return Conflict(f"{what}: 409 {detail or 'conflict'}", status=status, body=body)
    if status == 429:
        retry_after = None
        raw = headers.get("Retry-After") if headers is not None else None
        try:
            retry_after = float(raw) if raw is not None else None
        except ValueError:
            retry_after = None
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimited(
            f"{what}: 429 {detail or 'too many requests'}{wait}", retry_after=retry_after, status=status, body=body
        )
    if status in (400, 413, 422):
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):  # a data file's problem: {file, line, field, message}
            file, line, field = error.get("file"), error.get("line"), error.get("field")
            where = place_text(file, line, field)
            text = error.get("message") or detail or "the file was refused"
            message = f"{what}: {status} {where}: {text}" if where else f"{what}: {status} {text}"
            return ValidationError(message, status=status, body=body, file=file, line=line, field=field)
        fields = _flatten(body) if isinstance(body, (dict, list)) else {"detail": [str(body)]}
        text = "; ".join(
            ", ".join(msgs) if name in ("detail", "non_field_errors") else f"{name}: {', '.join(msgs)}"
            for name, msgs in fields.items()
        )
        return ValidationError(f"{what}: {status} {text or 'invalid request'}", status=status, body=body, fields=fields)
    if status >= 500:
        return ServerError(f"{what}: {status} server error{f' ({detail})' if detail else ''}", status=status, body=body)
    return QuorumError(f"{what}: {status} {detail or 'unexpected answer'}", status=status, body=body)
