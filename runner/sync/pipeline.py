"""The pipeline of one step: a fetch thread, the step's own (map and batch) stage, a write thread.

Three stages overlap, joined by small bounded queues: `Prefetch` runs the fetch (and, in the
step's source, the hashing or mapping of each page) at most `PREFETCH_PAGES` pages ahead; the
step's thread checks the rows and gathers batches; `Writer` writes one batch while the next is
being made (at most one batch waits). Nothing here knows about specs, sinks or the database.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.db.write import WriteCounts
from runner.redact import in_current_scope

PREFETCH_PAGES = 6  # pages fetched ahead of the step (while it waits for the database)


class _Done:
    pass


@dataclass
class _Raised:
    error: BaseException


class Prefetch:
    """Iterate `source` on a background thread, at most PREFETCH_PAGES items ahead.

    The caller's work on one page overlaps the fetch of the next. An error in the source is
    raised in the caller after the pages fetched before it. Leaving the `with` block early
    stops the thread after its current item.
    """

    def __init__(self, source: Iterator[Any], depth: int = PREFETCH_PAGES) -> None:
        self._source = source
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=in_current_scope(self._produce), name="sync-fetch", daemon=True
        )

    def _produce(self) -> None:
        try:
            for item in self._source:
                self._queue.put(item)
                if self._stop.is_set():
                    return
            self._queue.put(_Done())
        except BaseException as exc:
            self._queue.put(_Raised(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Iterator[Any]:
        self._thread.start()
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)


class Writer:
    """Writes batches on a background thread, in order, with at most one batch waiting.

    Mapping the next batch overlaps the database's work on this one. An error in a write is
    raised in the caller at its next `submit` or at `finish`. Leaving the `with` block early
    drops the waiting batch and waits for the one being written, so that `counts` tells
    exactly what was written. With `background=False` every batch is written at `submit`.
    """

    def __init__(
        self, write: Callable[[list[Any], list[Any]], WriteCounts], *, background: bool = True
    ) -> None:
        self.counts = WriteCounts()
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=in_current_scope(self._run), name="sync-write", daemon=True
            )

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the caller raises the error at its next call
            try:
                self._write_one(*item)
            except BaseException as exc:
                self._error = exc

    def _write_one(
        self,
        rows: list[Any],
        rejects: list[Any],
        duplicates: int,
        done: Callable[[], None] | None = None,
    ) -> None:
        batch = self._write(rows, rejects)
        batch.duplicates += duplicates
        self.counts.add(batch)
        if done is not None:
            done()  # after the batch committed (a checkpoint)

    def __enter__(self) -> Writer:
        if self._thread is not None:
            self._thread.start()
        return self

    def submit(
        self,
        rows: list[Any],
        rejects: list[Any],
        duplicates: int,
        done: Callable[[], None] | None = None,
    ) -> None:
        self._raise()
        if self._thread is None:
            self._write_one(rows, rejects, duplicates, done)
        else:
            self._queue.put((rows, rejects, duplicates, done))

    def finish(self) -> None:
        """Wait until every batch is written; raise the first write error."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
