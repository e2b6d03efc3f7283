"""Paths into JSON-like records: `images[0].url`, `fulfillments[-1].tracking_number`,
`a['x.y']`, `aliexpress_ds_product_get_response.result`.

One syntax for every path in the specs (mapping `from`, operation `records` and `id_field`,
pagination `cursor_path` / `next_path` / `total_path`, response error paths). A path is parsed
once into steps and compiled into a getter; "" and "." mean the record itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

Step = str | int
_PATH_TOKEN = re.compile(r"\[(-?\d+)\]|\[(['\"])(.*?)\2\]|([^.\[\]]+)|(\.)")


def parse_path(path: str) -> tuple[Step, ...]:
    """`images[0].url` -> ("images", 0, "url"); `a['x.y']` -> ("a", "x.y"); "." -> ().

    Raises ValueError on a malformed path (a spec error, caught when the spec is checked).
    """
    if path == ".":
        return ()
    steps: list[Step] = []
    position, expect_name = 0, True
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match:
            raise ValueError(f"malformed path {path!r} at position {position}")
        index, _, quoted, name, dot = match.groups()
        if dot is not None:
            if expect_name:
                raise ValueError(f"malformed path {path!r}: empty segment at {position}")
            expect_name = True
        elif name is not None:
            if not expect_name:
                raise ValueError(f"malformed path {path!r}: missing '.' at {position}")
            steps.append(name)
            expect_name = False
        else:
            steps.append(int(index) if index is not None else quoted)
            expect_name = False
        position = match.end()
    if not steps or expect_name:
        raise ValueError(f"malformed path {path!r}")
    return tuple(steps)


def compile_path(path: str | tuple[Step, ...]) -> Callable[[Any], Any]:
    """A getter for a path: the value there, or None when anything on the way is missing or
    of the wrong type (a key into a list, an index into an object or a string)."""
    steps = parse_path(path) if isinstance(path, str) else path
    if not steps:
        return lambda record: record
    if len(steps) == 1 and isinstance(steps[0], str):
        (key,) = steps

        def get_key(record: Any) -> Any:
            return record.get(key) if isinstance(record, dict) else None

        return get_key
    if len(steps) == 2 and all(isinstance(step, str) for step in steps):
        first, second = steps

        def get_two_keys(record: Any) -> Any:
            if isinstance(record, dict):
                value = record.get(first)
                if isinstance(value, dict):
                    return value.get(second)
            return None

        return get_two_keys

    def get(record: Any) -> Any:
        value = record
        for step in steps:
            if step.__class__ is int:
                if not isinstance(value, list | tuple):
                    return None
                try:
                    value = value[step]
                except IndexError:
                    return None
            elif isinstance(value, dict):
                value = value.get(step)
            else:
                return None
        return value

    return get


@lru_cache(maxsize=1024)
def _cached_getter(path: str) -> Callable[[Any], Any]:
    return compile_path(path)


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """The value at `path` in `data`, or `default` when the path is None or leads nowhere."""
    if path is None:
        return default
    if path == "":
        return data
    value = _cached_getter(path)(data)
    return default if value is None else value
