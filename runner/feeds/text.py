"""What the feed parsers share: a file object over streamed chunks, numbers written with a
decimal comma, and the reject of a malformed row."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.mapping import Reject
from runner.spec.model import FormatSpec

READ_CHUNK = 64 * 1024
SHOWN_CHARS = 200  # of a rejected row's text, kept with its reject


class ChunkFile(io.RawIOBase):
    """A read-only binary file over an iterator of byte chunks (the body as it arrives)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def binary(chunks: Iterable[bytes]) -> io.BufferedReader:
    return io.BufferedReader(ChunkFile(chunks), READ_CHUNK)


def line_reject(line: int, reason: str, text: Any) -> Reject:
    """A malformed row, set aside with its line number (it has no readable key)."""
    shown = text if isinstance(text, str) else repr(text)
    if len(shown) > SHOWN_CHARS:
        shown = shown[: SHOWN_CHARS - 3] + "..."
    return Reject(None, f"line {line}: {reason}", {"line": line, "text": shown}, None)


def number_reader(fmt: FormatSpec) -> Callable[[str], str] | None:
    """A function rewriting a number written with the format's decimal (and thousands)
    separator to the `12.50` the mapping reads; None when numbers need no rewriting.

    Only a value that is wholly such a number, its decimal separator included, changes
    (`1.234,50` -> `1234.50`); any other text is returned as is (`1.234` too, which may be
    an id), so that a mapping reading it as a decimal rejects it with its own reason.
    """
    if fmt.decimal == "." and fmt.thousands is None:
        return None
    decimal = re.escape(fmt.decimal)
    if fmt.thousands is not None:
        thousands = re.escape(fmt.thousands)
        whole = rf"(?:\d{{1,3}}(?:{thousands}\d{{3}})+|\d+)"
    else:
        whole = r"\d+"
    pattern = re.compile(rf"\s*([+-]?{whole}){decimal}(\d+)\s*")
    separator = fmt.decimal

    def read(text: str) -> str:
        if separator not in text:
            return text  # "1.234" stays as it is: an id, or a price the mapping refuses
        match = pattern.fullmatch(text)
        if match is None:
            return text
        integer, fraction = match.groups()
        if fmt.thousands is not None:
            integer = integer.replace(fmt.thousands, "")
        return f"{integer}.{fraction}"

    return read


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
