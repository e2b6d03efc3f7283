"""What a finished HTTP exchange hands to pagination and to the connector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


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
