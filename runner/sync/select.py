"""Known rows that a lookup step refreshes, streamed in chunks by keyset pagination.

`inventory_update` and `price_update` look up the user's products of one supplier that were
last synced before a cutoff (never synced counts as stale); `order_sync` looks up the orders
of one integration whose status is in the sync type's `status_in` and not in its
`status_not_in` (the final statuses). Each chunk is one short
read transaction ordered by the key (which the unique index serves), so memory stays flat
and a writer is never blocked for long; rows the writer marks as checked meanwhile are
simply behind the cursor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Engine, or_, select

from runner.db.engine import read_only
from runner.db.write import Target

DEFAULT_CHUNK = 1000


def known_keys(
    engine: Engine,
    target: Target,
    *,
    user_id: str,
    account_id: str,
    synced_before: datetime | None = None,
    status_in: Sequence[str] | None = None,
    status_not_in: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Iterator[list[str]]:
    """Yield lists of at most `chunk_size` keys of this user's rows in one scope.

    `synced_before`: only rows never synced or last synced before it (None: every row).
    `status_in`: only rows whose status is one of these (None: any status).
    `status_not_in`: only rows whose status is none of these (None: any status).
    """
    table = target.table
    key = table.c[target.key_column]
    account = table.c[target.account_column]
    stmt = select(key).where(table.c.user_id == user_id, account == account_id)
    if synced_before is not None:
        stmt = stmt.where(
            or_(table.c.last_synced_at.is_(None), table.c.last_synced_at < synced_before)
        )
    if status_in is not None:
        stmt = stmt.where(table.c.status.in_(list(status_in)))
    if status_not_in is not None:
        stmt = stmt.where(table.c.status.not_in(list(status_not_in)))
    stmt = stmt.order_by(key).limit(chunk_size)
    after: str | None = None
    while True:
        page = stmt if after is None else stmt.where(key > after)
        with engine.connect() as conn:
            keys = list(read_only(conn).execute(page).scalars())
        if keys:
            yield keys
        if len(keys) < chunk_size:
            return
        after = keys[-1]
