"""Dry run: what a sync would change, computed from the same fetched and mapped rows.

A `DiffSink` takes the place of the database writer. Per batch it reads the existing rows
of the batch's keys (one SELECT, read-only) and classifies every row exactly as the writer
would: insert (a creating step, unknown key), update (with each changed field, old -> new),
unchanged, unmatched (an update step for an unknown key), or rejected. It writes nothing at
all: no rows, no rejects, no activity logs, no `last_synced_at`.

Later steps of the same account see the rows an earlier step would have inserted (their
keys are remembered, and a new row's other columns are empty), so the diff of a multi-step
sync matches the real run's counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Engine

from runner.db.engine import read_only
from runner.db.write import Target, WriteCounts, json_safe, writer_for


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


class DiffSink:
    """Classifies batches like the writer does and reports them; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        target: Target,
        *,
        user_id: str,
        scope_id: str,
        account: str,
        step: str,
        columns: Sequence[str],
        upsert: bool,
        pending_inserts: set[str],
        report: DiffReport,
    ) -> None:
        self.engine = engine
        self.target = target
        self.user_id = user_id
        self.scope_id = scope_id
        self.writer = writer_for(engine)
        self.account = account
        self.step = step
        self.columns = [name for name in columns if name != target.key_column]
        self.upsert = upsert
        self.pending_inserts = pending_inserts
        self.report = report

    def flush(
        self, rows: Sequence[Mapping[str, Any]], rejects: Sequence[Mapping[str, Any]]
    ) -> WriteCounts:
        key_name = self.target.key_column
        with self.engine.connect() as conn:
            existing = self.writer.fetch_existing(
                read_only(conn),
                self.target,
                [row[key_name] for row in rows],
                user_id=self.user_id,
                account_id=self.scope_id,
                columns=self.columns,
            )
        counts = WriteCounts()
        for row in rows:
            key = row[key_name]
            before = existing.get(key)
            if before is None and key in self.pending_inserts:
                before = dict.fromkeys(self.columns)  # inserted by an earlier step: empty
            if before is None:
                if self.upsert:
                    counts.inserted += 1
                    self.pending_inserts.add(key)
                    changes = {
                        n: (None, row.get(n)) for n in self.columns if row.get(n) is not None
                    }
                    self.report(DiffEntry(self.account, self.step, "insert", key, changes))
                else:
                    counts.unmatched += 1
                continue
            changes = {
                name: (before.get(name), row.get(name))
                for name in self.columns
                if not same(before.get(name), row.get(name))
            }
            if self.upsert:
                changed = before.get("content_hash") != row.get("content_hash")
            else:
                changed = bool(changes)
            if changed:
                counts.updated += 1
                self.report(DiffEntry(self.account, self.step, "update", key, changes))
            else:
                counts.unchanged += 1
        for reject in rejects:
            reason, field_name = reject["reason"], reject.get("field")
            if field_name and not reason.startswith(field_name):
                reason = f"{field_name}: {reason}"
            self.report(
                DiffEntry(self.account, self.step, "reject", reject.get("external_id"), {}, reason)
            )
        return counts


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
