"""A one-line progress display per supplier step, shown only when the stream is a terminal.

The sync engine calls it around each step and between pages:

    progress = Progress.for_stream(sys.stderr)
    progress.begin("bigbuy/products", step=1, steps=4)
    progress.expect("bigbuy/products", records=25000, pages=25)   # when the API says
    progress.update("bigbuy/products", records=12000, pages=12)
    ...
    progress.finish("bigbuy/products", 25000, 25, status="ok")

On a terminal this redraws one line at most every `min_interval` seconds:

    ⏳ [1/4] bigbuy/products  12,000 of 25,000 records  1,850/s  12 of 25 pages  6.5s  ETA 7s

and ends it when the step changes or on `finish()`, with ✅ (done), ❌ (failed), ⏸ (stopped
to wait: a rate limit or budget deferred the job) or ⏹ (interrupted). The totals and the ETA
appear only when the API declares a total (`total_path`, `total_pages_header`). On anything
else (a pipe, a file, a Kubernetes log) `for_stream` returns a `Progress` that writes
nothing, so callers never need to check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Literal

_CLEAR_LINE = "\r\x1b[K"
Status = Literal["ok", "failed", "waiting", "interrupted"]
ICONS: dict[str, str] = {"ok": "✅", "failed": "❌", "waiting": "⏸", "interrupted": "⏹"}


class Progress:
    """Silent progress: the interface, and what non-terminals get."""

    enabled = False

    @classmethod
    def for_stream(
        cls, stream: IO[str], *, clock: Callable[[], float] = time.monotonic
    ) -> Progress:
        """A live display if `stream` is a terminal, else a silent one."""
        isatty = getattr(stream, "isatty", None)
        if callable(isatty) and isatty():
            return TerminalProgress(stream, clock=clock)
        return cls()

    def begin(self, step_label: str, step: int, steps: int) -> None:
        """A step starts: it is the `step`-th of the account's `steps`."""

    def expect(self, step_label: str, records: int | None, pages: int | None) -> None:
        """The totals the API declared for the step, when it does (any thread may call)."""

    def update(self, step_label: str, records: int, pages: int) -> None:
        """Report the running totals of one step (records and pages so far)."""

    def finish(
        self,
        step_label: str | None = None,
        records: int | None = None,
        pages: int | None = None,
        *,
        status: Status = "ok",
    ) -> None:
        """End the current step's line, optionally with final totals and how it ended."""


class TerminalProgress(Progress):
    enabled = True

    def __init__(
        self,
        stream: IO[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 0.1,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._min_interval = min_interval
        self._label: str | None = None
        self._started = 0.0
        self._drawn_at: float | None = None
        self._records = 0
        self._pages = 0
        self._steps: dict[str, tuple[int, int]] = {}  # label -> (step, steps)
        self._totals: dict[str, tuple[int | None, int | None]] = {}  # label -> declared

    def begin(self, step_label: str, step: int, steps: int) -> None:
        self._steps[step_label] = (step, steps)
        self._totals.pop(step_label, None)

    def expect(self, step_label: str, records: int | None, pages: int | None) -> None:
        if records is not None or pages is not None:
            self._totals[step_label] = (records, pages)

    def _start(self, step_label: str, now: float) -> None:
        self.finish()
        self._label, self._started, self._drawn_at = step_label, now, None
        self._records = self._pages = 0

    def update(self, step_label: str, records: int, pages: int) -> None:
        now = self._clock()
        if step_label != self._label:
            self._start(step_label, now)
        self._records, self._pages = records, pages
        if self._drawn_at is None or now - self._drawn_at >= self._min_interval:
            self._draw(now)

    def finish(
        self,
        step_label: str | None = None,
        records: int | None = None,
        pages: int | None = None,
        *,
        status: Status = "ok",
    ) -> None:
        if step_label is not None and step_label != self._label:
            self._start(step_label, self._clock())
        if self._label is None:
            return
        if records is not None:
            self._records = records
        if pages is not None:
            self._pages = pages
        self._draw(self._clock(), status=status)
        self._steps.pop(self._label, None)
        self._totals.pop(self._label, None)
        self._label, self._drawn_at = None, None

    def line(self, now: float, *, status: Status | None = None) -> str:
        """The step's line; `status` None while it runs."""
        label = self._label or ""
        elapsed = now - self._started
        rate = self._records / elapsed if elapsed > 0 else 0.0
        total_records, total_pages = self._totals.get(label, (None, None))
        running = status is None
        records = f"{self._records:,}"
        if total_records is not None and running:
            records += f" of {total_records:,}"
        pages = f"{self._pages:,}"
        if total_pages is not None and running:
            pages += f" of {total_pages:,}"
        plural = "" if (total_pages or self._pages) == 1 else "s"
        parts = [
            ("⏳" if running else ICONS[status]) + " " + _step(self._steps.get(label)) + label,
            f"{records} records",
            f"{rate:,.0f}/s",
            f"{pages} page{plural}",
            f"{elapsed:.1f}s",
        ]
        eta = _eta(self._records, total_records, self._pages, total_pages, elapsed)
        if running and eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        if status == "waiting":
            parts.append("waiting")
        elif status == "interrupted":
            parts.append("interrupted")
        return "  ".join(parts)

    def _draw(self, now: float, *, status: Status | None = None) -> None:
        end = "" if status is None else "\n"
        self._stream.write(_CLEAR_LINE + self.line(now, status=status) + end)
        self._stream.flush()
        self._drawn_at = now


def _step(numbers: tuple[int, int] | None) -> str:
    return f"[{numbers[0]}/{numbers[1]}] " if numbers else ""


def _eta(
    records: int, total_records: int | None, pages: int, total_pages: int | None, elapsed: float
) -> float | None:
    """Seconds left at the step's rate so far, from the declared records, else pages."""
    for done, total in ((records, total_records), (pages, total_pages)):
        if total is not None and done > 0 and elapsed > 0:
            return max(0.0, (total - done) * elapsed / done)
    return None


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
