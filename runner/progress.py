"""A one-line progress display per supplier step, shown only when stdout is a terminal.

The sync engine calls it between pages:

    progress = Progress.for_stream(sys.stdout)
    progress.update("bigbuy/products", records=12000, pages=12)
    ...
    progress.finish()

On a terminal this redraws one line (`⏳ bigbuy/products  12,000 records  1,850/s  12 pages`)
at most every `min_interval` seconds, and ends it with a newline when the step changes or on
`finish()`. On anything else (a pipe, a file, a Kubernetes log) `for_stream` returns a
`Progress` that writes nothing, so callers never need to check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

_CLEAR_LINE = "\r\x1b[K"


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

    def update(self, step_label: str, records: int, pages: int) -> None:
        """Report the running totals of one step (records and pages so far)."""

    def finish(
        self, step_label: str | None = None, records: int | None = None, pages: int | None = None
    ) -> None:
        """End the current step's line, optionally with final totals."""


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

    def update(self, step_label: str, records: int, pages: int) -> None:
        now = self._clock()
        if step_label != self._label:
            self.finish()
            self._label, self._started, self._drawn_at = step_label, now, None
        self._records, self._pages = records, pages
        if self._drawn_at is None or now - self._drawn_at >= self._min_interval:
            self._draw(now, final=False)

    def finish(
        self, step_label: str | None = None, records: int | None = None, pages: int | None = None
    ) -> None:
        if step_label is not None and step_label != self._label:
            self.finish()
            self._label, self._started = step_label, self._clock()
        if self._label is None:
            return
        if records is not None:
            self._records = records
        if pages is not None:
            self._pages = pages
        self._draw(self._clock(), final=True)
        self._label, self._drawn_at = None, None

    def line(self, now: float, *, final: bool = False) -> str:
        elapsed = now - self._started
        rate = self._records / elapsed if elapsed > 0 else 0.0
        pages = f"{self._pages:,} page" + ("" if self._pages == 1 else "s")
        icon = "✅" if final else "⏳"
        return (
            f"{icon} {self._label}  {self._records:,} records  {rate:,.0f}/s  {pages}"
            f"  {elapsed:.1f}s"
        )

    def _draw(self, now: float, *, final: bool) -> None:
        self._stream.write(_CLEAR_LINE + self.line(now, final=final) + ("\n" if final else ""))
        self._stream.flush()
        self._drawn_at = now
