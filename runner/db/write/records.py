"""Rows written beside a batch: its rejects and the job's activity entries, made JSON-safe
and redacted."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert

from runner.db.tables import activity_logs, sync_rejects
from runner.redact import redact, redact_data


def insert_rejects(conn: Connection, rejects: Sequence[Mapping[str, Any]]) -> None:
    """Insert `sync_rejects` rows in one executemany. Payloads are made JSON-safe (a NaN
    becomes the string "nan", which every database's JSON takes) and, like the reason,
    redacted: a supplier that echoes a credential inside a record must not store it."""
    if not rejects:
        return
    rows = [
        {
            **reject,
            "reason": redact(reject.get("reason") or ""),
            "payload": redact_data(json_safe(reject.get("payload"))),
        }
        for reject in rejects
    ]
    conn.execute(insert(sync_rejects), rows)


def insert_activity(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> None:
    """Insert `activity_logs` entries (user_id, job_id, supplier_id, level, event, message,
    details, created_at) in one statement."""
    if entries:
        conn.execute(
            insert(activity_logs),
            [{**entry, "details": json_safe(entry.get("details"))} for entry in entries],
        )


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
