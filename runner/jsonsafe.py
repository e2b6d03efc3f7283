"""`json_safe`: any handler or sync output as plain JSON types, ready for a JSON column."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """`value` as plain JSON types (Decimals and dates become strings, and so do NaN and
    infinities, which JSON has no token for and Postgres refuses)."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError:  # a non-finite float somewhere: the slow path, rare
        return json.loads(json.dumps(_finite_floats(value), default=str))


def _finite_floats(value: Any) -> Any:
    """`value` with every non-finite float replaced by its text ("nan", "inf")."""
    if value.__class__ is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {key: _finite_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_floats(item) for item in value]
    return value
