"""Supplier accounts and marketplace integrations of a user, kept without SQL
(`sync-runner accounts`): add, list, show, change, disable, and what they lack.

An account is a row of `suppliers` (kind "supplier", its spec in `supplier_type`) or of
`marketplace_integrations` (kind "marketplace", its spec in `platform`). Credentials are
stored as `runner.credentials` describes: references (`{"env": NAME}`, `{"file": PATH}`)
or the secret itself.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, insert, select, update

from runner.clock import Clock, SystemClock
from runner.credentials import describe, missing_secrets
from runner.db.engine import read_only
from runner.errors import ExitCode, SyncRunnerError
from runner.spec.model import ConnectorSpec, SpecSet
from runner.spec.validate import suggest
from runner.sync.accounts import AccountRow, account_from_row, account_table

log = logging.getLogger("sync_runner.accounts")

Kind = Literal["supplier", "marketplace"]
KINDS: tuple[Kind, ...] = ("supplier", "marketplace")
STATUSES = ("active", "disabled")
MODES = ("live", "mock")


class AccountError(SyncRunnerError):
    """An operator's mistake with an account (unknown id or spec, a name taken): exit 2."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class AccountChange:
    """What `set_account` changes; None leaves a field as it is."""

    name: str | None = None
    status: str | None = None
    mode: str | None = None
    shop_url: str | None = None
    credentials: Mapping[str, Any] = field(default_factory=dict)  # merged; None removes a key
    settings: Mapping[str, Any] = field(default_factory=dict)  # merged; None removes a key


def connector_spec(specs: SpecSet, kind: Kind, spec_name: str) -> ConnectorSpec:
    """The supplier or marketplace spec named `spec_name`; AccountError with a suggestion."""
    pool = specs.connectors_of(kind)
    spec = pool.get(spec_name)
    if spec is None:
        hint = suggest(spec_name, list(pool)) or f" (known: {', '.join(sorted(pool))})"
        raise AccountError(f"no {kind} spec named {spec_name!r}{hint}")
    return spec


def add_account(
    engine: Engine,
    specs: SpecSet,
    *,
    user_id: str,
    kind: Kind,
    spec_name: str,
    name: str,
    credentials: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    mode: str = "live",
    shop_url: str | None = None,
    account_id: str | None = None,
    clock: Clock | None = None,
) -> AccountRow:
    """Insert an account after checking its spec, its name and (for a marketplace) its shop
    URL. Raises AccountError (exit 2) and writes nothing when one is wrong."""
    connector_spec(specs, kind, spec_name)
    if mode not in MODES:
        raise AccountError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if kind == "marketplace" and not shop_url:
        raise AccountError("a marketplace integration needs --shop-url")
    table, spec_column, credentials_column = account_table(kind)
    now = (clock or SystemClock()).now()
    account_id = account_id or str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": account_id,
        "user_id": user_id,
        "name": name,
        spec_column.name: spec_name,
        "status": "active",
        "mode": mode,
        credentials_column: dict(credentials),
        "settings": dict(settings or {}),
        "created_at": now,
        "updated_at": now,
    }
    if kind == "marketplace":
        values["shop_url"] = shop_url
    with engine.begin() as conn:
        taken = conn.execute(
            select(table.c.id).where(
                table.c.user_id == user_id, table.c.name == name, spec_column == spec_name
            )
        ).first()
        if taken is not None:
            raise AccountError(
                f"user {user_id!r} already has a {spec_name} account named {name!r} "
                f"({taken.id}); change it with `sync-runner accounts set {taken.id}`"
            )
        if _find(conn, account_id, exact=True):
            raise AccountError(f"an account with id {account_id!r} exists already")
        conn.execute(insert(table).values(values))
    return get_account(engine, account_id)


def list_accounts(
    engine: Engine, *, user_id: str | None = None, kind: Kind | None = None
) -> list[AccountRow]:
    """Every account (of one user, of one kind), suppliers first, by user, name and id."""
    found: list[AccountRow] = []
    with engine.connect() as conn:
        read_only(conn)
        for source in (kind,) if kind else KINDS:
            table, spec_column, _ = account_table(source)
            stmt = select(table, spec_column.label("spec_name"))
            if user_id is not None:
                stmt = stmt.where(table.c.user_id == user_id)
            stmt = stmt.order_by(table.c.user_id, table.c.name, table.c.id)
            found += [account_from_row(row, source) for row in conn.execute(stmt).mappings()]
    return found


def _find(conn: Any, account_id: str, *, exact: bool = False) -> list[AccountRow]:
    found = []
    for source in KINDS:
        table, spec_column, _ = account_table(source)
        match = (
            table.c.id == account_id
            if exact
            else table.c.id.startswith(account_id, autoescape=True)
        )
        stmt = select(table, spec_column.label("spec_name")).where(match).limit(2)
        found += [account_from_row(row, source) for row in conn.execute(stmt).mappings()]
    return found


def get_account(engine: Engine, account_id: str) -> AccountRow:
    """The account with this id (or unique id prefix), supplier or marketplace."""
    with engine.connect() as conn:
        read_only(conn)
        exact = _find(conn, account_id, exact=True)
        found = exact or _find(conn, account_id)
    if not found:
        raise AccountError(f"no account with id {account_id!r} (see `sync-runner accounts list`)")
    if len(found) > 1:
        raise AccountError(f"{account_id!r} matches several accounts: give more of the id")
    return found[0]


def _merged(old: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**old, **change}
    return {key: value for key, value in merged.items() if value is not None}


def set_account(
    engine: Engine, account_id: str, change: AccountChange, *, clock: Clock | None = None
) -> AccountRow:
    """Apply `change` to one account; AccountError for a bad status, mode or shop URL."""
    account = get_account(engine, account_id)
    if change.status is not None and change.status not in STATUSES:
        raise AccountError(f"status must be one of {', '.join(STATUSES)}, not {change.status!r}")
    if change.mode is not None and change.mode not in MODES:
        raise AccountError(f"mode must be one of {', '.join(MODES)}, not {change.mode!r}")
    if change.shop_url is not None and account.kind != "marketplace":
        raise AccountError("only a marketplace integration has a shop URL")
    table, _, credentials_column = account_table(account.kind)
    values: dict[str, Any] = {"updated_at": (clock or SystemClock()).now()}
    for column in ("name", "status", "mode", "shop_url"):
        if getattr(change, column) is not None:
            values[column] = getattr(change, column)
    if change.credentials:
        values[credentials_column] = _merged(account.credentials, change.credentials)
    if change.settings:
        values["settings"] = _merged(account.settings, change.settings)
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == account.id).values(values))
    return get_account(engine, account.id)


def account_view(account: AccountRow, specs: SpecSet | None = None) -> dict[str, Any]:
    """What `accounts show/list --json` print: credentials as references, never secrets;
    with the specs, also what the account needs and lacks here."""
    view: dict[str, Any] = {
        "id": account.id,
        "user_id": account.user_id,
        "kind": account.kind,
        "spec": account.spec_name,
        "name": account.name,
        "status": account.status,
        "mode": account.mode,
        "credentials": {key: describe(value) for key, value in account.credentials.items()},
        "settings": account.settings,
    }
    if account.kind == "marketplace":
        view["shop_url"] = account.shop_url
    if specs is not None:
        view["missing"] = account_missing(specs, account)
    return view


def account_missing(
    specs: SpecSet, account: AccountRow, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The lines naming what a live account needs and lacks (none for a mock account)."""
    if account.mode == "mock":
        return []
    spec = specs.spec_of(account.kind, account.spec_name)
    if spec is None:
        return [
            f"{account.spec_name} account {account.name!r}: no {account.kind} spec by that name"
        ]
    environ = os.environ if environ is None else environ
    missing = missing_secrets(spec, account.credentials, environ)
    return [m.line(account.spec_name, account.name) for m in missing]


def warn_missing_secrets(engine: Engine, specs: SpecSet) -> list[str]:
    """At the start of a run: log one warning per secret an active account lacks (its jobs
    will fail with that line; the other accounts run). Returns the lines."""
    lines = active_accounts_missing(engine, specs)
    for line in lines:
        log.warning(line, extra={"event": "account.missing_secret"})
    return lines


def active_accounts_missing(
    engine: Engine, specs: SpecSet, environ: Mapping[str, str] | None = None
) -> list[str]:
    """For every active account of every user: what it needs and lacks, one line each."""
    lines: list[str] = []
    for account in list_accounts(engine):
        if account.active:
            lines += account_missing(specs, account, environ)
    return lines
