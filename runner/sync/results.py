"""Typed results of a sync: a step's, an account's and the job's, as `result_data` shows them.

`as_dict()` gives exactly the JSON shape operators, docs and tests read (see
docs/operations.md); a step's or account's dict is also what the job's checkpoint stores, so
a resumed job carries the finished parts over as they were saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.db.write import WriteCounts

COUNT_KEYS = ("fetched", "inserted", "updated", "unchanged", "unmatched", "duplicates")
COUNT_KEYS += ("rejected", "defaulted", "requests")


def sum_counts(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts (COUNT_KEYS) and seconds of `parts`, added up."""
    totals: dict[str, Any] = dict.fromkeys(COUNT_KEYS, 0)
    seconds = 0.0
    for part in parts:
        for key in COUNT_KEYS:
            totals[key] += part.get(key, 0) or 0
        seconds += part.get("seconds", 0) or 0
    totals["seconds"] = round(seconds, 3)
    return totals


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@dataclass
class StepResult:
    """What one step did: its counts, how it wrote, and how it ended."""

    operation: str
    mapping: str
    upsert: bool
    status: str
    fetched: int
    written: WriteCounts
    skipped: int  # records a source filter left out: their rows are unchanged
    rejected: int
    defaulted: int  # values a value map did not know, given its `map_default`
    defaulted_values: dict[str, dict[str, int]]
    requests: int
    seconds: float
    changed_since: dict[str, str] | None = None  # the params that narrowed the list
    resumed_at_page: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # reason, on_missing, seen

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "mapping": self.mapping,
            "mode": "upsert" if self.upsert else "update",
            "status": self.status,
            **({"changed_since": self.changed_since} if self.changed_since is not None else {}),
            "fetched": self.fetched,
            **self.written.as_dict(),
            "unchanged": self.written.unchanged + self.skipped,
            "rejected": self.rejected,
            "defaulted": self.defaulted,
            **({"defaulted_values": self.defaulted_values} if self.defaulted_values else {}),
            "requests": self.requests,
            "seconds": self.seconds,
            **(
                {"resumed_at_page": self.resumed_at_page}
                if self.resumed_at_page is not None
                else {}
            ),
            **self.extra,
        }


@dataclass
class AccountResult:
    """One account's outcome. `steps` holds each step's dict (a finished step of an earlier
    run of the job comes from its checkpoint as saved)."""

    name: str
    connector: str
    mode: str  # live | mock
    status: str = "ok"  # ok | skipped | failed | waiting
    reason: str | None = None  # why skipped
    error: str | None = None
    failed_step: str | None = None
    transient: bool = False
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting_for: str | None = None
    until: str | None = None

    def add_step(self, name: str, step: dict[str, Any]) -> None:
        self.steps[name] = step

    def totals(self) -> dict[str, Any]:
        """The steps' counts added up; a step that ended before counting is left out."""
        if self.status in ("failed", "waiting"):
            return sum_counts(s for s in self.steps.values() if "fetched" in s)
        return sum_counts(self.steps.values())

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": self.name,
            "connector": self.connector,
            "mode": self.mode,
            "status": self.status,
            "reason": self.reason,
            "error": self.error,
            "failed_step": self.failed_step,
            "transient": self.transient,
            "steps": self.steps,
            "totals": self.totals(),
        }
        if self.waiting_for is not None:
            result.update(waiting_for=self.waiting_for, until=self.until)
        return result


@dataclass
class JobResult:
    """The job's `result_data`: every account's result (as dicts) and their totals."""

    sync_type: str
    dry_run: bool
    accounts: dict[str, dict[str, Any]]
    seconds: float
    waits: list[tuple[str, datetime]] = field(default_factory=list)  # (budget, until)

    def totals(self) -> dict[str, Any]:
        totals = sum_counts(result["totals"] for result in self.accounts.values())
        totals["seconds"] = self.seconds
        return totals

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "sync_type": self.sync_type,
            "dry_run": self.dry_run,
            "accounts": self.accounts,
            "totals": self.totals(),
        }
        if self.waits:
            result["waiting_for"] = [
                {"budget": budget, "until": iso(until)} for budget, until in self.waits
            ]
        return result
