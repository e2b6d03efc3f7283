"""Small helpers of the sync engine, moved here as they were; helper STATE merges them with
the runner's shared ones (one-line errors, the transient check, summed counts, the
supplier/marketplace switch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from runner.errors import SyncRunnerError, TransientError
from runner.redact import redact
from runner.spec.model import ConnectorSpec, SpecSet
from runner.sync.accounts import AccountRow

COUNT_KEYS = ("fetched", "inserted", "updated", "unchanged", "unmatched", "duplicates")
COUNT_KEYS += ("rejected", "defaulted", "requests")


def describe(exc: BaseException) -> str:
    """One line, secrets removed: the runner's own errors by message, others with their type."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without the SQL text and its parameters
    text = str(exc) if isinstance(exc, SyncRunnerError) else f"{type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))


def is_transient(exc: BaseException) -> bool:
    """Whether an account's failure may pass if the job runs again."""
    return isinstance(exc, TransientError | OperationalError)


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


def connector_spec(specs: SpecSet, account: AccountRow) -> ConnectorSpec | None:
    """The account's connector spec: a supplier's, or a marketplace integration's."""
    pool = specs.suppliers if account.kind == "supplier" else specs.marketplaces
    return pool.get(account.spec_name)
