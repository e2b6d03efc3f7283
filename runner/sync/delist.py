"""What happens to an account's rows that a complete listing did not return (`on_missing`).

A sync type may declare `on_missing: {stock_quantity: 0, status: delisted}` (the bundled
`supplier_api` does): at the end of a step that read its whole listing (the first step of a
sync type that creates rows, when it is a list or is fed by one, and only when it ended
without error), every row of the account whose key the listing did not return gets those
values, in one set-based statement. A walk that ended early never gets here: its error
fails the step first (`runner.http.paginate`), so a truncated listing delists nothing.

Safety: `max_missing_ratio` (default 0.2) is the largest share of the account's listed rows
one run may delist. More than that looks like a broken listing rather than a catalogue
change: nothing is delisted, and the reason is recorded in the step's result and the
activity log.

A delisted row has its `content_hash` and `source_hash` cleared, so that when the product
comes back, the listing maps and rewrites it: its mapped values (stock, status) restore it.

The keys seen are streamed by the step into a temporary table as the listing goes
(runner.sync.listed); one UPDATE ... WHERE NOT EXISTS then finds the missing rows (no
statement per row).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    FromClause,
    and_,
    exists,
    func,
    or_,
    select,
    update,
)

from runner.db.write import Target


@dataclass(frozen=True)
class DelistResult:
    """`missing`: listed rows the listing did not return; `listed`: the account's rows not
    delisted before; `delisted`: rows changed (0 when refused); `refused`: why not."""

    missing: int
    listed: int
    delisted: int
    refused: str | None = None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"missing": self.missing, "delisted": self.delisted}
        if self.refused:
            result["refused"] = self.refused
        return result


def delist_missing(
    conn: Connection,
    target: Target,
    listed: FromClause,
    *,
    user_id: str,
    account_id: str,
    values: Mapping[str, Any],
    max_ratio: float,
    now: datetime,
) -> DelistResult:
    """Set `values` on the account's rows whose key is not in `listed` (the temporary table
    of runner.sync.listed), in `conn`'s transaction (see the module doc)."""
    table = target.table
    key = table.c[target.key_column]
    account = and_(table.c.user_id == user_id, table.c[target.account_column] == account_id)
    # Rows that do not carry every on_missing value yet (NULL-safe).
    not_yet = or_(*(table.c[name].is_distinct_from(value) for name, value in values.items()))
    unseen = ~exists().where(listed.c.key == key)
    # One round trip, two subqueries: in a FILTER the NOT EXISTS would be probed row by row,
    # where in a WHERE it is planned as an anti-join.
    count = select(func.count()).select_from(table)
    both = select(
        count.where(account, not_yet).scalar_subquery(),
        count.where(account, not_yet, unseen).scalar_subquery(),
    )
    listed_count, missing = conn.execute(both).one()
    delisted = 0
    refused = None
    if listed_count and missing / listed_count > max_ratio:
        refused = (
            f"{missing} of {listed_count} listed rows are missing from the listing "
            f"({missing / listed_count:.0%}), more than max_missing_ratio {max_ratio:.0%}: "
            "nothing delisted; check the listing, or raise max_missing_ratio"
        )
    elif missing:
        changes = {**values, "content_hash": None, "source_hash": None, "updated_at": now}
        statement = update(table).where(account, not_yet, unseen).values(changes)
        delisted = conn.execute(statement).rowcount
    return DelistResult(missing=missing, listed=listed_count, delisted=delisted, refused=refused)
