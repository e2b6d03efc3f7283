"""SQLite: one `executemany` per batch, inside the caller's transaction, after the same
question as on Postgres (which rows are new or changed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from runner.db.write.base import SqlWriter, new_row_values, values_getter
from runner.db.write.batch import Target, WriteBatch, WriteCounts


class SqliteWriter(SqlWriter):
    """Plain SQL with positional parameters; values converted by their column types' own
    bind processors, looked up once per batch."""

    def key_in(self, key_col: Column) -> ColumnElement[bool]:
        return key_col.in_(bindparam("keys", expanding=True))

    def differing_rows(
        self,
        conn: Connection,
        names: tuple[str, str, str, str],
        keys: Sequence[str],
        digests: Sequence[str | None],
        who: tuple[str, str],
    ) -> Iterable[tuple[Any, Any]]:
        table, col, scope, key = names
        sql = (
            "SELECT b.key, t.id IS NULL FROM json_each(?) b "
            f"LEFT JOIN {table} t ON t.user_id = ? AND t.{scope} = ? "
            f"AND t.{key} = json_extract(b.value, '$[0]') "
            f"WHERE t.{col} IS NOT json_extract(b.value, '$[1]')"
        )
        pairs = json.dumps(list(zip(keys, digests, strict=True)))
        return conn.exec_driver_sql(sql, (pairs, *who))

    def insert_or_upsert(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        target, rows = batch.target, batch.rows
        data_columns = batch.data_columns
        names = [target.key_column, "content_hash", *data_columns]
        fixed = new_row_values(batch)
        insert = self._insert_sql(target, [*fixed, *names])
        if batch.expect_new:  # as on Postgres: insert them all, unless a key exists after all
            try:
                with conn.begin_nested():
                    self._executemany(conn, insert, target, fixed, names, rows)
                return WriteCounts(inserted=len(rows))
            except IntegrityError:
                pass
        found = self.changed_rows(conn, batch)
        new_rows = sum(1 for _, new in found if new)
        counts = WriteCounts(inserted=new_rows, updated=len(found) - new_rows)
        counts.unchanged = len(rows) - len(found)
        if not found:
            return counts
        q = self.quote
        set_cols = [*data_columns, "content_hash", "last_synced_at", "updated_at"]
        upsert = (
            f"{insert} ON CONFLICT ({', '.join(q(c) for c in target.conflict_columns)}) "
            "DO UPDATE SET "
            + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in set_cols)
            + f" WHERE {q(target.table.name)}.content_hash IS NOT excluded.content_hash"
        )
        self._executemany(conn, upsert, target, fixed, names, [rows[i] for i, _ in found])
        return counts

    def update(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        if not batch.rows:
            return WriteCounts()
        target, rows, columns = batch.target, batch.rows, batch.data_columns
        table = target.table
        key_name = target.key_column
        in_scope = self.owned(target, batch.user_id, batch.account_id)
        counts = WriteCounts()
        if columns:
            values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in columns}
            values |= {"updated_at": batch.now, "last_synced_at": batch.now}
            if batch.clear_hash:
                values["content_hash"] = values["source_hash"] = None
            stmt = (
                update(table)
                .where(
                    in_scope,
                    table.c[key_name] == bindparam("k"),
                    or_(*(table.c[n].is_distinct_from(bindparam(f"v_{n}")) for n in columns)),
                )
                .values(values)
            )
            params = [
                {"k": row[key_name], **{f"v_{n}": row.get(n) for n in columns}} for row in rows
            ]
            counts.updated = conn.execute(stmt, params).rowcount
        if batch.mark_checked:
            matched = self.mark_checked(
                conn,
                target,
                batch.keys,
                user_id=batch.user_id,
                account_id=batch.account_id,
                now=batch.now,
            )
        else:
            matched = conn.execute(
                select(func.count())
                .select_from(table)
                .where(in_scope, self.key_in(table.c[key_name])),
                {"keys": batch.keys},
            ).scalar_one()
        counts.unchanged = matched - counts.updated
        counts.unmatched = len(rows) - matched
        return counts

    def analyze(self, conn: Connection, target: Target) -> None:
        """Nothing: SQLite's planner needs no refresh for the writes' keyed lookups."""

    # -- listed keys --------------------------------------------------------------------------

    # Never inline: json_each() would be scanned once per row of the account (no index),
    # where a temporary table in the process's own file is cheap.
    inline_keys_limit = 0

    def inline_keys(self, conn: Connection, keys: Sequence[str]) -> FromClause:
        raise NotImplementedError("SQLite keeps listed keys in a temporary table")

    def append_keys(self, conn: Connection, table: Table, keys: Sequence[str]) -> None:
        conn.execute(insert(table), [{"key": key} for key in keys])

    def analyze_keys(self, conn: Connection, table: Table) -> None:
        """Nothing: the anti-joins probe the table's index."""

    def clear_keys(self, conn: Connection, table: Table) -> None:
        conn.execute(delete(table))

    # -- helpers ------------------------------------------------------------------------------

    def _insert_sql(self, target: Target, names: Sequence[str]) -> str:
        q = self.quote
        return (
            f"INSERT INTO {q(target.table.name)} ({', '.join(q(n) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )

    def _executemany(
        self,
        conn: Connection,
        sql: str,
        target: Target,
        fixed: Mapping[str, Any],
        names: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        """`sql` (columns: `fixed`, then `names`) over `rows`: each value through its column
        type's bind processor (the conversion SQLAlchemy applies), the `fixed` ones once."""
        head = tuple(self._converter(target, name)(value) for name, value in fixed.items())
        converters = [(i, self._converter(target, name)) for i, name in enumerate(names)]
        converters = [(i, convert) for i, convert in converters if convert is not _same]
        values = values_getter(names)
        params = []
        for row in rows:
            line = values(row)
            for i, convert in converters:
                line[i] = convert(line[i])
            params.append((*head, *line))
        conn.exec_driver_sql(sql, params)

    def _converter(self, target: Target, name: str) -> Callable[[Any], Any]:
        column_type = target.table.c[name].type
        return column_type.dialect_impl(self.dialect).bind_processor(self.dialect) or _same


def _same(value: Any) -> Any:
    return value
