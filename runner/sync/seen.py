"""When a listing last saw each row ("last seen"), at a cost in writes of the rows that
changed, not of the rows listed.

A complete listing (the creating list step of a sync, ended without error, not narrowed by
`changed_since`) records its time once per account and target in `listing_marks`. A row
that listing saw needs no write of its own: its `last_seen_at` stays NULL, which reads as
"seen by the account's last complete listing". Only the rows the listing did NOT return
are written (`last_seen_at` frozen at the previous mark: when a listing last saw them),
and the rows that come back have theirs cleared; both are found set-based against the
listed keys (`runner.sync.listed`). A feed that answered "unchanged" (304, or
the same body) confirms the previous listing: the mark moves, no row is written. A walk
that ended early records nothing.

So a row's last seen time is `COALESCE(last_seen_at, listing_marks.listed_at)`; `ai_score`
takes the later of that and `last_synced_at` (written or checked by a lookup)
(`seen_expression`, read by runner.maintenance).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Table,
    and_,
    exists,
    func,
    select,
    update,
)

from runner.db.tables import listing_marks
from runner.db.write import Target


@dataclass(frozen=True)
class SeenResult:
    """`missing`: rows frozen at their last seen time; `returned`: rows seen again."""

    missing: int
    returned: int


def tracks_seen(target: Target) -> bool:
    """Whether the target's rows keep a last seen time (imported_products)."""
    return "last_seen_at" in target.table.c


def record_listing(
    conn: Connection,
    target: Target,
    listed: FromClause,
    *,
    user_id: str,
    account_id: str,
    now: datetime,
) -> SeenResult:
    """After a complete listing whose keys are in `listed`: freeze the missing rows' last
    seen time, clear it on the rows that came back, and move the account's mark to `now`."""
    table = target.table
    c = table.c
    account = and_(c.user_id == user_id, c[target.account_column] == account_id)
    in_listing = exists().where(listed.c.key == c[target.key_column])
    # The previous mark, read inside the statement (no round trip of its own); without one,
    # the row was last seen when written (or created).
    previous = select(listing_marks.c.listed_at).where(*_key(target, user_id, account_id))
    frozen = func.coalesce(previous.scalar_subquery(), c.last_synced_at, c.created_at)
    missing = conn.execute(
        update(table)
        .where(account, c.last_seen_at.is_(None), ~in_listing)
        .values(last_seen_at=frozen)
    ).rowcount
    returned = conn.execute(
        update(table)
        .where(account, c.last_seen_at.is_not(None), in_listing)
        .values(last_seen_at=None)
    ).rowcount
    _set_mark(conn, target, user_id, account_id, now)
    return SeenResult(missing=missing, returned=returned)


def confirm_listing(
    conn: Connection, target: Target, *, user_id: str, account_id: str, now: datetime
) -> None:
    """The source confirmed that its listing is the one last read in full (a feed's 304 or
    same body): every row that listing saw is seen now; no row is written."""
    conn.execute(
        update(listing_marks).where(*_key(target, user_id, account_id)).values(listed_at=now)
    )  # no mark yet: nothing to confirm


def seen_expression(table: Table, account_column: str) -> ColumnElement[datetime]:
    """A row's last seen time by a listing: its own `last_seen_at` (frozen while missing),
    else its account's last complete listing (NULL when neither)."""
    m = listing_marks.c
    mark = (
        select(m.listed_at)
        .where(
            m.user_id == table.c.user_id,
            m.account_id == table.c[account_column],
            m.target == table.name,
        )
        .scalar_subquery()
    )
    return func.coalesce(table.c.last_seen_at, mark)


def _key(target: Target, user_id: str, account_id: str) -> list[ColumnElement[bool]]:
    m = listing_marks.c
    return [m.user_id == user_id, m.account_id == account_id, m.target == target.table.name]


def _set_mark(
    conn: Connection, target: Target, user_id: str, account_id: str, now: datetime
) -> None:
    found = conn.execute(
        update(listing_marks).where(*_key(target, user_id, account_id)).values(listed_at=now)
    )
    if found.rowcount == 0:
        conn.execute(
            listing_marks.insert().values(
                user_id=user_id, account_id=account_id, target=target.table.name, listed_at=now
            )
        )
