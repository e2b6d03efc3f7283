"""CSV feeds, read row by row as the body arrives.

The first row names the columns (`header`), or the spec does (`columns`). Each row becomes a
record {column: text}; an empty cell stays "" (the mapping reads a blank as missing). A row
with the wrong number of cells, bytes that are not valid in the declared encoding, or a
broken quote is set aside as a reject naming its line, and the rest goes on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from runner.feeds import FeedError
from runner.feeds.text import binary, line_reject, number_reader
from runner.mapping import Reject
from runner.spec.model import FormatSpec

FIELD_LIMIT = 1024 * 1024  # the longest cell and line; an unclosed quote is cut off here
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape let through
_NEVER_FAILS = {"latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1"}


def parse_csv(chunks: Iterable[bytes], fmt: FormatSpec) -> Iterator[dict[str, Any] | Reject]:
    text = io.TextIOWrapper(
        binary(chunks), encoding=fmt.encoding, errors="surrogateescape", newline=""
    )
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    overlong: list[int] = []  # line numbers of lines cut off by `_lines`
    lines = _lines(text, overlong)
    reader = csv.reader(lines, delimiter=fmt.delimiter, quotechar=fmt.quote, strict=True)
    check_bytes = fmt.encoding.lower() not in _NEVER_FAILS
    numbers = number_reader(fmt)
    columns: list[str] | None = list(fmt.columns) if fmt.columns else None
    wanted = _positions(columns, fmt)
    skip_header = fmt.header
    last_line = 0
    while True:
        first_line = last_line + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            last_line = reader.line_num
            yield line_reject(first_line, f"malformed CSV: {exc}", "")
            continue
        except UnicodeDecodeError as exc:  # only from a codec without surrogateescape
            raise FeedError(f"the feed is not {fmt.encoding}: {exc.reason}") from None
        last_line = reader.line_num
        while overlong:
            yield line_reject(overlong.pop(0), f"a line over {FIELD_LIMIT} characters", "")
        if row is None:
            return
        if not row or row == [""]:
            continue  # a blank line
        if check_bytes and _UNDECODABLE.search("\x1f".join(row)):
            reason = (
                f"bytes that are not valid {fmt.encoding} (another encoding? set format.encoding)"
            )
            yield line_reject(first_line, reason, _shown(row, fmt))
            continue
        if skip_header:
            skip_header = False
            if columns is None:
                columns = _names(row)
                wanted = _positions(columns, fmt)
                _check_delimiter(columns, fmt)
            continue
        if columns is None:
            raise FeedError("a CSV feed without a header row needs columns:")
        if len(row) != len(columns):
            reason = f"{len(row)} fields where the header has {len(columns)}"
            yield line_reject(first_line, reason, _shown(row, fmt))
            continue
        if numbers is not None:
            for i in range(len(row)) if wanted is None else wanted:
                row[i] = numbers(row[i])
        yield dict(zip(columns, row, strict=True))


def _lines(text: io.TextIOWrapper, overlong: list[int]) -> Iterator[str]:
    """The lines of the text, each at most FIELD_LIMIT characters: a longer one (no newline
    in sight: a bomb of zeros, a binary file) is skipped to its end, and its number noted,
    so that memory holds one bounded line."""
    number = 0
    while line := text.readline(FIELD_LIMIT):
        number += 1
        if len(line) == FIELD_LIMIT and not line.endswith(("\n", "\r")):
            while (more := text.readline(FIELD_LIMIT)) and not more.endswith(("\n", "\r")):
                pass
            overlong.append(number)
            yield "\n"  # keeps the line count
            continue
        yield line


def _check_delimiter(columns: list[str], fmt: FormatSpec) -> None:
    """A header of one column holding another separator: the declared delimiter is wrong."""
    if len(columns) != 1:
        return
    found = [c for c in (";", ",", "\t", "|") if c != fmt.delimiter and c in columns[0]]
    if found:
        raise FeedError(
            f"the CSV header is one column, {columns[0][:60]!r}: its separator looks like "
            f"{found[0]!r}, not {fmt.delimiter!r}; set format.delimiter"
        )


def _positions(columns: list[str] | None, fmt: FormatSpec) -> list[int] | None:
    """The positions of `decimal_columns`; None for every column."""
    if columns is None or not fmt.decimal_columns:
        return None
    return [i for i, name in enumerate(columns) if name in fmt.decimal_columns]


def _names(row: list[str]) -> list[str]:
    """Header cells as field names: blank ones numbered, repeated ones suffixed."""
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(row, start=1):
        if position == 1:
            cell = cell.lstrip("\ufeff")  # a UTF-8 file saved with a byte order mark
        name = cell.strip() or f"column_{position}"
        base, number = name, 2
        while name in seen:
            name = f"{base}_{number}"
            number += 1
        seen.add(name)
        names.append(name)
    return names


def _shown(row: list[str], fmt: FormatSpec) -> str:
    return fmt.delimiter.join(row).encode("utf-8", "backslashreplace").decode("utf-8")
