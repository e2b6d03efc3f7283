"""JSON Lines feeds: one JSON value a line, read as the body arrives.

A line that is not JSON is set aside as a reject naming its line; blank lines are skipped.
A line longer than `MAX_LINE_BYTES` is rejected without being held whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from runner.feeds.text import line_reject
from runner.http.client import parse_json
from runner.mapping import Reject

MAX_LINE_BYTES = 16 * 1024 * 1024


def parse_jsonl(chunks: Iterable[bytes]) -> Iterator[Any | Reject]:
    pending = b""
    line = 0
    skipping = False  # inside a line over the limit
    for chunk in chunks:
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for text in lines:
            line += 1
            if skipping:
                skipping = False
                yield line_reject(line, f"a line over {MAX_LINE_BYTES} bytes", "")
                continue
            yield from _one(line, text)
        if len(pending) > MAX_LINE_BYTES:
            pending = b""
            skipping = True
    line += 1
    if skipping:
        yield line_reject(line, f"a line over {MAX_LINE_BYTES} bytes", "")
    elif pending:
        yield from _one(line, pending)


def _one(line: int, text: bytes) -> Iterator[Any | Reject]:
    if not text.strip():
        return
    try:
        yield parse_json(text)
    except (ValueError, RecursionError) as exc:
        reason = f"not JSON ({' '.join(str(exc).split())[:100]})"
        yield line_reject(line, reason, text.decode("utf-8", "replace"))
