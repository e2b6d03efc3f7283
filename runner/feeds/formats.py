"""One streaming parser per feed format: plain bytes in, records (or rejects) out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from runner.feeds.csvfeed import parse_csv
from runner.feeds.jsonlfeed import parse_jsonl
from runner.feeds.xmlfeed import parse_xml
from runner.mapping import Reject
from runner.spec.model import FormatSpec


def parse_records(chunks: Iterable[bytes], fmt: FormatSpec) -> Iterator[Any | Reject]:
    """The records of a feed body as they are parsed; a malformed row as a `Reject`."""
    if fmt.type == "csv":
        return parse_csv(chunks, fmt)
    if fmt.type == "xml":
        return parse_xml(chunks, fmt)
    if fmt.type == "jsonl":
        return parse_jsonl(chunks)
    raise ValueError(f"not a feed format: {fmt.type}")
