"""What the writers of every database share: quoting, the reads by key, the checked mark."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Dialect, and_, select, update

from runner.db.write.batch import Target, WriteBatch, WriteCounts


class SqlWriter:
    """The part of a `BatchWriter` written once: subclasses give `key_in`, `differing_rows`
    (the statement behind `differing`), `insert_or_upsert`, `update` and `analyze`."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.quote = dialect.identifier_preparer.quote

    def key_in(self, key_col: Column) -> ColumnElement[bool]:
        """`key IN (:keys)`, bound to one parameter `keys` (a list)."""
        raise NotImplementedError

    def differing(
        self,
        conn: Connection,
        target: Target,
        keys: Sequence[str],
        digests: Sequence[str | None],
        *,
        column: str,
        user_id: str,
        account_id: str,
    ) -> list[tuple[int, bool]]:
        if not keys:
            return []
        q = self.quote
        names = (q(target.table.name), q(column), q(target.account_column), q(target.key_column))
        found = self.differing_rows(conn, names, keys, digests, (user_id, account_id))
        return [(int(i), bool(new)) for i, new in found]

    def differing_rows(
        self,
        conn: Connection,
        names: tuple[str, str, str, str],
        keys: Sequence[str],
        digests: Sequence[str | None],
        who: tuple[str, str],
    ) -> Iterable[tuple[Any, Any]]:
        """`differing`'s statement: (position, is new) rows. `names`: the quoted table, hash
        column, account column and key column; `who`: (user_id, account_id)."""
        raise NotImplementedError

    def insert_or_upsert(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        """`upsert` without the checked mark."""
        raise NotImplementedError

    def upsert(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        if not batch.rows:
            return WriteCounts()
        counts = self.insert_or_upsert(conn, batch)
        if batch.mark_checked:
            self.mark_checked(
                conn,
                batch.target,
                batch.keys,
                user_id=batch.user_id,
                account_id=batch.account_id,
                now=batch.now,
            )
        return counts

    def owned(self, target: Target, user_id: str, account_id: str) -> ColumnElement[bool]:
        """This user's rows of this account."""
        table = target.table
        return and_(table.c.user_id == user_id, table.c[target.account_column] == account_id)

    def fetch_existing(
        self,
        conn: Connection,
        target: Target,
        keys: Sequence[str],
        *,
        user_id: str,
        account_id: str,
        columns: Sequence[str] = (),
    ) -> dict[str, dict[str, Any]]:
        """Existing rows of this user and account among `keys`: key -> {column: value}."""
        if not keys:
            return {}
        table = target.table
        key_col = table.c[target.key_column]
        wanted = [key_col, table.c.content_hash, *(table.c[name] for name in columns)]
        stmt = select(*wanted).where(self.owned(target, user_id, account_id), self.key_in(key_col))
        result = conn.execute(stmt, {"keys": list(keys)})
        return {row[0]: dict(row._mapping) for row in result}

    def mark_checked(
        self,
        conn: Connection,
        target: Target,
        keys: Sequence[str],
        *,
        user_id: str,
        account_id: str,
        now: datetime,
    ) -> int:
        """Set `last_synced_at` on this user's rows among `keys` (one statement); return how
        many rows matched. A lookup step's rows get it so that the stale selection moves on."""
        if not keys:
            return 0
        table = target.table
        stmt = (
            update(table)
            .where(self.owned(target, user_id, account_id), self.key_in(table.c[target.key_column]))
            .values(last_synced_at=now)
        )
        return conn.execute(stmt, {"keys": list(keys)}).rowcount

    def changed_rows(self, conn: Connection, batch: WriteBatch) -> list[tuple[int, bool]]:
        """`differing` on the rows' `content_hash`: (position, is new) of the new or changed."""
        return self.differing(
            conn,
            batch.target,
            batch.keys,
            [row.get("content_hash") for row in batch.rows],
            column="content_hash",
            user_id=batch.user_id,
            account_id=batch.account_id,
        )


def new_row_values(batch: WriteBatch) -> dict[str, Any]:
    """The columns a batch's inserted rows share: owner, account and the three timestamps."""
    return {
        "user_id": batch.user_id,
        batch.target.account_column: batch.account_id,
        "last_synced_at": batch.now,
        "created_at": batch.now,
        "updated_at": batch.now,
    }


def values_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """row -> list of its values for `names` (None where a name is missing)."""
    getter = operator.itemgetter(*names)
    single = len(names) == 1

    def values(row: Mapping[str, Any]) -> list[Any]:
        try:
            got = getter(row)
        except KeyError:
            return [row.get(name) for name in names]
        return [got] if single else list(got)

    return values
