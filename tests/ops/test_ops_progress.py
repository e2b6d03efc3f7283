"""The progress display: live on a terminal, silent anywhere else."""

from __future__ import annotations

import io

from runner.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def screen(raw: str) -> list[str]:
    """What a terminal shows: each `\\r\\x1b[K` clears the line and starts it again."""
    lines = []
    for line in raw.split("\n"):
        lines.append(line.split("\r\x1b[K")[-1])
    return [line for line in lines if line]


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress.for_stream(stream)
    progress.update("bigbuy/products", records=1000, pages=1)
    progress.finish()
    assert stream.getvalue() == ""
    assert not progress.enabled


def test_shows_records_rate_and_pages_per_step():
    stream, ticks = Terminal(), Ticks()
    progress = Progress.for_stream(stream, clock=ticks)
    assert progress.enabled
    progress.update("bigbuy/products", records=0, pages=0)
    ticks.now += 2
    progress.update("bigbuy/products", records=2000, pages=2)
    assert screen(stream.getvalue())[-1] == (
        "⏳ bigbuy/products  2,000 records  1,000/s  2 pages  2.0s"
    )
    ticks.now += 0.01  # too soon to redraw
    before = stream.getvalue()
    progress.update("bigbuy/products", records=2100, pages=3)
    assert stream.getvalue() == before
    ticks.now += 1.99
    progress.update("bigbuy/stock", records=10, pages=1)  # a new step ends the previous line
    ticks.now += 1
    progress.finish(records=500, pages=1)
    assert screen(stream.getvalue()) == [
        "✅ bigbuy/products  2,100 records  525/s  3 pages  4.0s",
        "✅ bigbuy/stock  500 records  500/s  1 page  1.0s",
    ]
    assert stream.getvalue().endswith("\n")
    progress.finish()  # nothing running: nothing written
    assert stream.getvalue().endswith("1.0s\n")


def test_finish_with_a_label_alone():
    stream, ticks = Terminal(), Ticks()
    progress = Progress.for_stream(stream, clock=ticks)
    progress.finish("aliexpress/details", records=0, pages=0)
    assert screen(stream.getvalue()) == ["✅ aliexpress/details  0 records  0/s  0 pages  0.0s"]
