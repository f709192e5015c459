"""What the API returns, as dataclasses. Each keeps the whole answer in ``raw``: fields the server adds later
are there before this package names them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T", bound="_Record")


@dataclass
class _Record:
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)} - {"raw"}
        return cls(**{name: data.get(name) for name in names}, raw=dict(data))


@dataclass
class Job(_Record):
    id: int = 0
    name: str = ""
    status: str = ""  # draft, open, paused, cancelled, done
    question_type: str = ""
    item_count: int = 0
    microtask_count: int = 0
    redundancy: int | None = None
    columns: list[str] | None = None
    status_reason: str | None = None
    created_at: str | None = None
    published_at: str | None = None


@dataclass
class Upload(_Record):
    id: int = 0
    job: int = 0
    filename: str = ""
    size_bytes: int = 0
    status: str = ""  # pending, running, done, failed
    rows_total: int | None = None
    rows_done: int = 0
    items_created: int = 0
    microtasks_created: int = 0
    error: dict[str, Any] | None = None  # {file, line, field, message} when failed
    created_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass
class Progress(_Record):
    """A job's counts without gold items: ``items_done`` items have all their answers, ``results`` have results."""

    job: int = 0
    status: str = ""
    items: int = 0
    items_done: int = 0
    microtasks: int = 0
    microtasks_done: int = 0
    answers: int = 0
    answers_remaining: int = 0
    results: int = 0
    answers_per_minute: int = 0
    workers_active: int = 0

    @property
    def fraction(self) -> float:
        """Share of items answered, 0 to 1 (1 for a job without items)."""
        return self.items_done / self.items if self.items else 1.0


@dataclass
class WebhookEndpoint(_Record):
    id: int = 0
    url: str = ""
    job: int | None = None  # None: every job of the owner
    events: list[str] | None = None
    active: bool = True
    batch_size: int | None = None
    batch_seconds: float | None = None
    created_at: str | None = None
    secret: str | None = None  # only in the answer that created the endpoint


@dataclass
class Delivery(_Record):
    id: int = 0
    endpoint: int = 0
    job: int | None = None
    event: str = ""
    status: str = ""  # pending, delivering, delivered, failed, gave_up
    attempts: int = 0
    response_code: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None
    created_at: str | None = None
    delivered_at: str | None = None
