"""`sync-runner accounts check`: one cheap request that tests an account, like Airbyte's
`check`.

The request is the spec's `check:` (an operation sent once, without pagination or ids,
with its `params` added, e.g. a page size of 1) and is tried once, with no retry. A mock
account, or `--offline`, asks the mock connector for one record instead. What failed is
said in one line, in one of four words: `secret missing`, `auth refused` (401 or 403),
`network` (unreachable, timed out, a 5xx, rate limited), or `spec` (anything the spec or
the account's settings got wrong: a 404, an unreadable answer, a template that cannot
render).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

from runner.credentials import MissingSecret
from runner.errors import TransientError, one_line
from runner.redact import redact
from runner.spec.model import ConnectorSpec, SpecSet
from runner.sync.accounts import AccountRow, live_connector

if TYPE_CHECKING:
    from sqlalchemy import Engine

Category = Literal["secret missing", "auth refused", "network", "spec"]
CHECK_OPERATION = "_check"  # the synthetic operation the request is sent as


@dataclass(frozen=True)
class CheckResult:
    account_id: str
    spec: str
    name: str
    mode: Literal["live", "mock"]
    ok: bool
    category: Category | None
    message: str
    records: int
    seconds: float

    def line(self) -> str:
        head = f"{self.spec} account {self.name!r} ({self.mode})"
        if self.ok:
            return f"ok: {head}: {self.message}"
        return f"failed: {head}: {self.category}: {self.message}"


def _probe_spec(spec: ConnectorSpec) -> ConnectorSpec:
    """The spec with its check as one more operation: no pagination, no ids, one try."""
    assert spec.check is not None
    op = spec.operations[spec.check.operation]
    probe = dataclasses.replace(
        op,
        name=CHECK_OPERATION,
        params={**op.params, **spec.check.params},
        paginate=None,
        lookup=None,
    )
    return dataclasses.replace(
        spec,
        operations={**spec.operations, CHECK_OPERATION: probe},
        retry=dataclasses.replace(spec.retry, max_attempts=1),
    )


def _category(exc: BaseException) -> Category:
    from runner.http.client import HttpStatusError

    if isinstance(exc, MissingSecret):
        return "secret missing"
    if isinstance(exc, HttpStatusError):
        return "auth refused" if exc.status in (401, 403) else "spec"
    if isinstance(exc, TransientError | httpx.TransportError):
        return "network"
    return "spec"


def check_account(
    specs: SpecSet,
    account: AccountRow,
    *,
    offline: bool = False,
    environ: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> CheckResult:
    """Send the account's check request (or ask the mock) and say how it went. With the
    `engine`, the request spends the account's budget in the database like a job's, so a
    check never overspends what the supplier allows (BigBuy: 10 an hour)."""
    mode: Literal["live", "mock"] = "mock" if offline or account.mode == "mock" else "live"
    started = time.perf_counter()

    def result(ok: bool, category: Category | None, message: str, records: int = 0):
        seconds = round(time.perf_counter() - started, 3)
        return CheckResult(
            account.id,
            account.spec_name,
            account.name,
            mode,
            ok,
            category,
            message,
            records,
            seconds,
        )

    spec = specs.spec_of(account.kind, account.spec_name)
    if spec is None:
        return result(False, "spec", f"no {account.kind} spec named {account.spec_name!r}")
    if spec.check is None:
        return result(False, "spec", f"{spec.name} declares no check: (see docs/specs.md)")
    operation = spec.check.operation
    try:
        if mode == "mock":
            from runner.mock import MockConnector

            seed = int(account.settings.get("mock_seed", 0) or 0)
            connector = MockConnector(spec, specs, seed=seed, page_size=1, count=1)
            page = next(iter(connector.list(operation)), None)
        else:
            page = _live_page(spec, account, environ, engine)
    except Exception as exc:  # every failure becomes one line
        if isinstance(exc, MissingSecret):  # the line's head already names the account
            text = redact("; ".join(f"needs {m.what}: {m.why}" for m in exc.missing))
        else:
            text = one_line(exc)
        return result(False, _category(exc), text)
    records = len(page.records) if page is not None else 0
    noun = "record" if records == 1 else "records"
    return result(True, None, f"{operation} answered with {records} {noun}", records)


def _live_page(
    spec: ConnectorSpec,
    account: AccountRow,
    environ: Mapping[str, str] | None,
    engine: Engine | None,
):
    budgets = None
    if engine is not None:
        from runner.budgets import BudgetStore
        from runner.clock import SystemClock

        budgets = BudgetStore(engine, account.id, SystemClock()).make
    with live_connector(_probe_spec(spec), account, environ, budgets=budgets) as connector:
        return next(iter(connector.list(CHECK_OPERATION)), None)
