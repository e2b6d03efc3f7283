"""What a finished HTTP exchange hands to pagination and to the connector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

_MISSING = object()


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """Read a dotted path (`a.b.0.c`); "" or "." is the data itself; missing -> default."""
    if path is None:
        return default
    if path in ("", "."):
        return data
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            return default
        if current is _MISSING:
            return default
    return current


def as_records(value: Any) -> list:
    """The record list found at a path: a list as is, a lone object as one record, else []."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and not value:
        return []  # AliExpress's last feed page: "products": {}
    return [value]


@dataclass
class Response:
    """A successful (2xx) response, parsed.

    `data` is the parsed JSON body, or None when the body was empty and the spec says an
    empty body means "no data". `url` is already redacted; `requests` counts every HTTP
    request this response took (retries and auth fallbacks included).
    """

    status: int
    headers: httpx.Headers
    url: str
    request_url: httpx.URL  # the real URL (with secrets); for following relative links only
    data: Any  # the raw bytes are not kept: a 10,000-product page is big enough parsed
    requests: int
