"""Readable summaries of sync results: one table row per account of a job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = (
    ("type", "type"),
    ("supplier", "supplier"),
    ("status", "status"),
    ("fetched", "fetched"),
    ("inserted", "inserted"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("rejected", "rejected"),
    ("seconds", "seconds"),
)
NUMERIC = {"fetched", "inserted", "updated", "unchanged", "rejected", "seconds"}


def summary_rows(
    result_data: Mapping[str, Any] | None,
    *,
    sync_type: str,
    job_status: str | None = None,
    error: str | None = None,
) -> list[dict[str, Any]]:
    """One row per account of a result (or one row for a job that has none)."""
    accounts = (result_data or {}).get("accounts") or {}
    rows = []
    for account in accounts.values():
        totals = account.get("totals") or {}
        status = account.get("status", "?")
        if status == "skipped":
            status = f"skipped ({account.get('reason')})"
        elif status == "failed":
            status = f"failed: {account.get('error')}"
        elif status == "waiting":
            status = f"waiting for {account.get('waiting_for')} until {account.get('until')}"
        elif _unchanged_feeds(account):
            status = "ok (feed unchanged)"
        rows.append(
            {
                "type": sync_type,
                "supplier": account.get("connector") or account.get("name") or "?",
                "status": status,
                **{key: totals.get(key, 0) for key in NUMERIC},
            }
        )
    if not rows:
        status = job_status or "ok"
        if error:
            status = f"{status}: {error}"
        elif not accounts and job_status in (None, "completed"):
            status = f"{status} (no accounts)"
        rows.append({"type": sync_type, "supplier": "-", "status": status})
    return rows


def _unchanged_feeds(account: Mapping[str, Any]) -> bool:
    """Every step of the account found its feed unchanged (a 304): nothing was read."""
    steps = (account.get("steps") or {}).values()
    return bool(steps) and all(step.get("status") == "unchanged" for step in steps)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain text table with a header line; numbers right-aligned."""
    header = [title for _, title in COLUMNS]
    cells = [[_cell(row.get(key), key) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(header[i]), *(len(line[i]) for line in cells)) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if key in NUMERIC else value.ljust(width)
            for (key, _), value, width in zip(COLUMNS, values, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def _cell(value: Any, key: str) -> str:
    if value is None:
        return ""
    if key == "seconds":
        return f"{float(value):.2f}"
    if key in NUMERIC:
        return f"{int(value):,}"
    text = str(value)
    return text if len(text) <= 90 else text[:89] + "…"
