"""Dry run: what a sync would change, computed from the same fetched and mapped rows.

A `DiffSink` (in `runner.sync.sinks`) takes the place of the database writer. Per batch
it reads the existing rows of the batch's keys (one SELECT, read-only) and classifies every
row exactly as the writer would: insert (a creating step, unknown key), update (with each
changed field, old -> new), unchanged, unmatched (an update step for an unknown key), or
rejected. It writes nothing at all: no rows, no rejects, no activity logs, no
`last_synced_at`.

Later steps of the same account see the rows an earlier step would have inserted (their
keys are remembered, and a new row's other columns are empty), so the diff of a multi-step
sync matches the real run's counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from runner.jsonsafe import json_safe


@dataclass(frozen=True)
class DiffEntry:
    """One row a sync would insert or update, or one record it would reject."""

    account: str  # the account's label, e.g. "bigbuy"
    step: str
    kind: Literal["insert", "update", "reject"]
    key: str | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field: (old, new)
    reason: str | None = None  # rejects only

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types (Decimals become strings)."""
        return {
            "account": self.account,
            "step": self.step,
            "kind": self.kind,
            "key": self.key,
            "changes": json_safe({name: list(pair) for name, pair in self.changes.items()}),
            "reason": self.reason,
        }


DiffReport = Callable[[DiffEntry], None]


def same(old: Any, new: Any) -> bool:
    """Whether a stored value equals a mapped one as the database compares them."""
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return old is not None and new is not None and Decimal(old) == Decimal(new)
        except (TypeError, ValueError, ArithmeticError):
            return False
    return old == new


def format_value(value: Any, limit: int = 60) -> str:
    if value is None:
        return "∅"
    text = str(value) if isinstance(value, Decimal | int | float) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_entry(entry: DiffEntry) -> str:
    """One line per entry, e.g. `~ bigbuy/prices 401003  price: 10.00 -> 12.50`."""
    where = f"{entry.account}/{entry.step} {entry.key if entry.key is not None else '?'}"
    if entry.kind == "reject":
        return f"! {where}  rejected: {entry.reason}"
    if entry.kind == "insert":
        values = ", ".join(
            f"{name}={format_value(new)}" for name, (_, new) in entry.changes.items()
        )
        return f"+ {where}  {values}"
    if not entry.changes:
        return f"~ {where}  (content hash only)"
    changes = "; ".join(
        f"{name}: {format_value(old)} -> {format_value(new)}"
        for name, (old, new) in entry.changes.items()
    )
    return f"~ {where}  {changes}"
