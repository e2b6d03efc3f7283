"""The sync engine's write thread: batches written in order, errors raised in the caller, and
an early exit waits for the batch being written (so that the step's counts are exact)."""

from __future__ import annotations

import threading

import pytest

from runner.db.write import WriteCounts
from runner.sync.pipeline import Writer as _Writer


def test_batches_are_written_in_order_and_counted() -> None:
    written: list[list[int]] = []

    def write(rows, rejects):
        written.append(rows)
        return WriteCounts(inserted=len(rows), updated=len(rejects))

    with _Writer(write) as writer:
        for n in range(5):
            writer.submit(list(range(n)), ["bad"], duplicates=1)
        writer.finish()
    assert written == [list(range(n)) for n in range(5)]
    assert writer.counts.as_dict() == {
        "inserted": 10,
        "updated": 5,
        "unchanged": 0,
        "unmatched": 0,
        "duplicates": 5,
    }


def test_a_write_error_is_raised_in_the_caller_and_later_batches_are_not_written() -> None:
    written: list[int] = []

    def write(rows, rejects):
        if rows == [2]:
            raise RuntimeError("database went away")
        written.append(rows[0])
        return WriteCounts(inserted=1)

    with pytest.raises(RuntimeError, match="went away"), _Writer(write) as writer:
        for n in range(1, 6):
            writer.submit([n], [], 0)
        writer.finish()
    assert written == [1]
    assert writer.counts.inserted == 1


def test_leaving_early_waits_for_the_batch_being_written_and_drops_the_waiting_one() -> None:
    started, release = threading.Event(), threading.Event()
    written: list[int] = []

    def write(rows, rejects):
        started.set()
        release.wait(5)
        written.append(rows[0])
        return WriteCounts(inserted=1)

    with pytest.raises(KeyboardInterrupt), _Writer(write) as writer:
        writer.submit([1], [], 0)
        started.wait(5)
        writer.submit([2], [], 0)  # waits in the queue while batch 1 is written
        threading.Timer(0.1, release.set).start()
        raise KeyboardInterrupt  # e.g. JobInterrupted from a checkpoint
    assert written == [1]  # batch 1 finished before the exit returned; batch 2 was dropped
    assert writer.counts.inserted == 1


def test_without_a_background_thread_each_batch_is_written_at_submit() -> None:
    written: list[int] = []

    def write(rows, rejects):
        written.append(rows[0])
        if rows[0] == 2:
            raise RuntimeError("disk full")
        return WriteCounts(updated=1)

    with pytest.raises(RuntimeError, match="disk full"), _Writer(write, background=False) as w:
        w.submit([1], [], 0)
        assert written == [1] and w.counts.updated == 1
        w.submit([2], [], 0)
    assert written == [1, 2]
