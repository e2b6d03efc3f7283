"""The accounts a sync job runs over: a user's supplier rows or marketplace integrations."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Column, Engine, Table, select

from runner.db.engine import read_only
from runner.db.tables import marketplace_integrations, suppliers
from runner.errors import ExitCode, PermanentError

if TYPE_CHECKING:
    from runner.connector import Connector
    from runner.spec.model import ConnectorSpec


class UnknownAccount(PermanentError):
    """A job or command names a supplier or integration this user does not have."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class AccountRow:
    """One supplier account or marketplace integration of a user, as stored."""

    id: str
    user_id: str
    kind: Literal["supplier", "marketplace"]
    name: str
    spec_name: str  # supplier_type or platform: the connector spec's name
    status: str
    mode: str  # live | mock
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    shop_url: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def label(self) -> str:
        """How logs and summaries name the account: `bigbuy` or `bigbuy (Second shop)`."""
        return (
            self.spec_name
            if self.name in ("", self.spec_name)
            else f"{self.spec_name} ({self.name})"
        )


def account_table(source: Literal["supplier", "marketplace"]) -> tuple[Table, Column, str]:
    """The table of `source`, its spec-name column and its credentials column's name."""
    if source == "supplier":
        return suppliers, suppliers.c.supplier_type, "api_credentials"
    return marketplace_integrations, marketplace_integrations.c.platform, "credentials"


def account_from_row(
    row: Mapping[str, Any], source: Literal["supplier", "marketplace"]
) -> AccountRow:
    """An AccountRow from a row selected with `account_table`'s spec column as `spec_name`."""
    _, _, credentials = account_table(source)
    return AccountRow(
        id=row["id"],
        user_id=row["user_id"],
        kind=source,
        name=row["name"],
        spec_name=row["spec_name"],
        status=row["status"],
        mode=row["mode"],
        credentials=dict(row[credentials] or {}),
        settings=dict(row["settings"] or {}),
        shop_url=row.get("shop_url"),
    )


def load_accounts(
    engine: Engine,
    user_id: str,
    source: Literal["supplier", "marketplace"],
    account_id: str | None = None,
) -> list[AccountRow]:
    """The user's active accounts of `source`, ordered by name and id.

    With `account_id`, only that account, whatever its status (the caller decides what an
    inactive one means); raises UnknownAccount if this user has no such account.
    """
    table, spec_column, _ = account_table(source)
    stmt = select(table, spec_column.label("spec_name")).where(table.c.user_id == user_id)
    if account_id is None:
        stmt = stmt.where(table.c.status == "active")
    else:
        stmt = stmt.where(table.c.id == account_id)
    stmt = stmt.order_by(table.c.name, table.c.id)
    with engine.connect() as conn:
        rows = read_only(conn).execute(stmt).mappings().all()
    if account_id is not None and not rows:
        what = "supplier" if source == "supplier" else "marketplace integration"
        raise UnknownAccount(f"user {user_id!r} has no {what} with id {account_id!r}")
    return [account_from_row(row, source) for row in rows]


def live_connector(
    spec: ConnectorSpec,
    account: AccountRow,
    env: Mapping[str, str] | None = None,
    *,
    token_store: Callable[[Mapping[str, Any]], Any] | None = None,
    feed_state: Any = None,
    budgets: Any = None,
) -> Connector:
    """The HTTP connector of a live account, its credential references read from `env`
    (default: the process environment). Raises `runner.credentials.MissingSecret`, one line
    per secret it needs and lacks, before any request. `token_store(credentials)` gives the
    store of a session-token login (`runner.db.sessions`), keyed by the resolved credentials;
    `feed_state` what the last complete sync of each feed saw (`runner.feeds.state`);
    `budgets` makes the request budgets shared through the database (`runner.budgets`)."""
    from runner.connector import Account, Connector
    from runner.credentials import resolve_account

    environ = os.environ if env is None else env
    credentials = resolve_account(spec, account.name, account.credentials, environ)
    integration = None
    if account.kind == "marketplace":
        integration = {"id": account.id, "name": account.name, "shop_url": account.shop_url}
    return Connector(
        spec,
        Account(
            id=account.id,
            credentials=credentials,
            settings=account.settings,
            integration=integration,
        ),
        env=env,
        token_store=token_store(credentials) if token_store else None,
        feed_state=feed_state,
        budgets=budgets,
    )
