"""What a finished HTTP exchange hands to pagination and to the connector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from runner.errors import PermanentError
from runner.paths import parse_path

_MISSING = object()


class RecordsMissing(PermanentError):
    """A page whose `records` path is absent, null or of the wrong shape: never read as an
    empty page, since that would end the walk early and truncate the listing silently.
    `absent` is True when nothing is there (an API may mean "no records" by that)."""

    def __init__(self, message: str, absent: bool = True) -> None:
        super().__init__(message)
        self.absent = absent


def _at(data: Any, path: str) -> tuple[Any, str]:
    """The value at `path`, or `_MISSING` when a step on the way is absent (None is kept),
    and what the walk found where it stopped (for the error message)."""
    if path in ("", "."):
        return data, ""
    value = data
    taken: list[str] = []
    for step in parse_path(path):
        if step.__class__ is int:
            ok = isinstance(value, list) and -len(value) <= step < len(value)  # type: ignore[operator]
        else:
            ok = isinstance(value, dict) and step in value
        if not ok:
            where = ".".join(taken)
            return _MISSING, (f"{where!r} is {_keys(value)}" if where else _keys(value))
        value = value[step]  # type: ignore[index]
        taken.append(str(step))
    return value, ""


def _keys(data: Any) -> str:
    if isinstance(data, dict):
        names = sorted(map(str, data))
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        return f"an object with keys: {shown}" if names else "an empty object"
    if isinstance(data, list):
        return f"a list of {len(data)}"
    return "null" if data is None else f"a {type(data).__name__}"


def records_at(data: Any, path: str) -> list:
    """The records of a page: a list at `path` as is, a lone object as one record, `{}` as
    none (AliExpress's `"products": {}`). A body of None (an empty body the spec declared as
    "no data", a 204) holds no records. A missing or null path, or a scalar there, raises
    `RecordsMissing`: the caller decides whether the operation declared that answer empty."""
    if data is None:
        return []
    value, found = _at(data, path)
    where = f"records path {path!r}" if path not in ("", ".") else "the body"
    if value is _MISSING:
        raise RecordsMissing(f"{where} is missing from the answer ({found})")
    if value is None:
        raise RecordsMissing(f"{where} is null in the answer")
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value] if value else []
    raise RecordsMissing(f"{where} holds {_keys(value)}, not a list or an object")


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

    def variables(self) -> dict[str, Any]:
        """What a response expression reads: `status`, `headers` (lower-case names), `body`."""
        return {
            "status": self.status,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": self.data,
        }
