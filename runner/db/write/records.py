"""Rows written beside a batch: its rejects and the job's activity entries, made JSON-safe
and redacted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert

from runner.db.tables import activity_logs, sync_rejects
from runner.jsonsafe import json_safe
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
