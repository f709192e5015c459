"""A small progress bar on stderr: redrawn in place on a terminal, a line every few seconds otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def duration_text(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class ProgressBar:
    """``update(done, total, note)`` as work goes on, ``close(note)`` at the end. The ETA is the work left at the
    rate seen since the bar started."""

    def __init__(
        self,
        label: str,
        *,
        unit: str = "",
        as_bytes: bool = False,
        stream: TextIO | None = None,
        width: int = 24,
        plain_interval: float = 5.0,
    ):
        self.label = label
        self.unit = unit
        self.as_bytes = as_bytes
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.1 if self.tty else plain_interval
        self.started = time.monotonic()
        self.first_done: int | None = None
        self.last_drawn = 0.0
        self.done = 0
        self.total: int | None = None
        self.note = ""
        self.closed = False

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        if self.first_done is None:
            self.first_done = done
        self.done, self.note = done, note
        if total is not None:
            self.total = total
        now = time.monotonic()
        if now - self.last_drawn >= self.interval:
            self.last_drawn = now
            self._draw()

    def close(self, note: str | None = None) -> None:
        if self.closed or self.first_done is None:  # nothing was shown: nothing to finish
            self.closed = True
            return
        self.closed = True
        if note is not None:
            self.note = note
        self._draw(final=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        amount = human_bytes(self.done) if self.as_bytes else f"{self.done}"
        parts = [self.label]
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * self.width)
            total = human_bytes(self.total) if self.as_bytes else f"{self.total}"
            parts.append(f"[{'#' * filled}{'.' * (self.width - filled)}] {share * 100:3.0f}% {amount}/{total}")
        else:
            parts.append(amount)
        if self.unit:
            parts[-1] += f" {self.unit}"
        gained = self.done - (self.first_done or 0)
        if elapsed > 0.5 and gained > 0:
            rate = gained / elapsed
            parts.append(f"{human_bytes(rate)}/s" if self.as_bytes else f"{rate:.1f}/s")
            if self.total and self.done < self.total:
                parts.append(f"ETA {duration_text((self.total - self.done) / rate)}")
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)

    def _draw(self, final: bool = False) -> None:
        text = self.line()
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
