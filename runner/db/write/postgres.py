"""Postgres: COPY into a temporary staging table (or straight into the table, for a batch
expected to be all new), then one set-based statement."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg.errors import UniqueViolation
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Numeric,
    String,
    Table,
    any_,
    bindparam,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from runner.db.write.base import SqlWriter, new_row_values, values_getter
from runner.db.write.batch import Target, WriteBatch, WriteCounts

_stage_names = itertools.count(1)
_JSON = msgspec.json.Encoder(enc_hook=str)


def _json_text(value: Any) -> str:
    """The JSON text COPY writes into a json column (msgspec: a fifth of the time of json)."""
    try:
        return _JSON.encode(value).decode()
    except (TypeError, ValueError):  # e.g. an unpaired surrogate: json writes it escaped
        return json.dumps(value, default=str)


class PostgresWriter(SqlWriter):
    """COPY and one statement per batch; the arrays of keys go in binary."""

    def key_in(self, key_col: Column) -> ColumnElement[bool]:
        return key_col == any_(bindparam("keys", type_=ARRAY(String)))

    def differing_rows(
        self,
        conn: Connection,
        names: tuple[str, str, str, str],
        keys: Sequence[str],
        digests: Sequence[str | None],
        who: tuple[str, str],
    ) -> Iterable[tuple[Any, Any]]:
        table, col, scope, key = names
        # LATERAL ... LIMIT 1 keeps one probe of the unique index per key: a plain join lets
        # the planner hash the user's whole table for every batch. The arrays go in binary
        # (%b): the server parses thousands of keys as text in a third of the statement.
        sql = (
            "SELECT b.i - 1, s.found IS NULL "
            "FROM unnest(%(keys)b::text[], %(digests)b::text[]) WITH ORDINALITY AS b(k, d, i) "
            f"LEFT JOIN LATERAL (SELECT t.{col} AS d, true AS found FROM {table} t "
            f"WHERE t.user_id = %(user_id)s AND t.{scope} = %(account_id)s AND t.{key} = b.k "
            "LIMIT 1) s ON true WHERE s.d IS DISTINCT FROM b.d"
        )
        params = {"keys": list(keys), "digests": list(digests), "user_id": who[0]}
        params["account_id"] = who[1]
        return conn.exec_driver_sql(sql, params)

    def insert_or_upsert(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        if batch.expect_new and self._insert_new(conn, batch):
            return WriteCounts(inserted=len(batch.rows))
        return self._upsert(conn, batch)

    def _insert_new(self, conn: Connection, batch: WriteBatch) -> bool:
        """COPY the rows into the target table as new rows; False (nothing written) when one
        of their keys exists already."""
        target = batch.target
        names = [target.key_column, "content_hash", *batch.data_columns]
        try:
            with conn.begin_nested():
                self._copy(
                    conn,
                    target,
                    self.quote(target.table.name),
                    names,
                    batch.rows,
                    new_row_values(batch),
                )
        except UniqueViolation:
            return False
        return True

    def _upsert(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        target, rows = batch.target, batch.rows
        key_name = target.key_column
        data_columns = batch.data_columns
        changed = rows
        if batch.probe:
            # Unchanged rows are left out first (one statement, see differing): they cost no
            # COPY, and ON CONFLICT would lock, that is write, every row it meets.
            changed = [rows[i] for i, _ in self.changed_rows(conn, batch)]
            if not changed:
                return WriteCounts(unchanged=len(rows))
        stage = self._stage(conn, target, changed, data_columns)
        q = self.quote
        copied = [key_name, "content_hash", *data_columns]
        insert_cols = ["user_id", target.account_column, *copied, "last_synced_at", "created_at"]
        insert_cols.append("updated_at")
        select_cols = [":user_id", ":account_id", *(f"s.{q(c)}" for c in copied)]
        select_cols += [":now", ":now", ":now"]
        set_cols = [*data_columns, "content_hash", "last_synced_at", "updated_at"]
        sql = (
            f"WITH up AS (INSERT INTO {q(target.table.name)} AS t "
            f"({', '.join(q(c) for c in insert_cols)}) "
            f"SELECT {', '.join(select_cols)} FROM {stage} s "
            f"ON CONFLICT ({', '.join(q(c) for c in target.conflict_columns)}) DO UPDATE SET "
            + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in set_cols)
            + " WHERE t.content_hash IS DISTINCT FROM excluded.content_hash"
            " RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
            "FROM up"
        )
        inserted, updated = conn.execute(text(sql), self._who(batch)).one()
        unchanged = len(rows) - inserted - updated
        return WriteCounts(inserted=inserted, updated=updated, unchanged=unchanged)

    def update(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        if not batch.rows:
            return WriteCounts()
        target, columns = batch.target, batch.data_columns
        stage = self._stage(conn, target, batch.rows, columns)
        q = self.quote
        table = q(target.table.name)
        match = (
            f"t.user_id = :user_id AND t.{q(target.account_column)} = :account_id "
            f"AND t.{q(target.key_column)} = s.{q(target.key_column)}"
        )
        parts = []
        if columns:
            differs = " OR ".join(self._distinct(target, c, "t", "s") for c in columns)
            sets = [f"{q(c)} = s.{q(c)}" for c in columns]
            sets += ["updated_at = :now", "last_synced_at = :now"]
            if batch.clear_hash:
                sets += ["content_hash = NULL", "source_hash = NULL"]
            parts.append(
                f"changed AS (UPDATE {table} t SET {', '.join(sets)} FROM {stage} s "
                f"WHERE {match} AND ({differs}) RETURNING 1)"
            )
            changed = "(SELECT count(*) FROM changed)"
        else:
            differs = "false"
            changed = "0"
        if batch.mark_checked:
            parts.append(
                f"checked AS (UPDATE {table} t SET last_synced_at = :now FROM {stage} s "
                f"WHERE {match} AND NOT ({differs}) RETURNING 1)"
            )
            matched = f"{changed} + (SELECT count(*) FROM checked)"
        else:
            matched = f"(SELECT count(*) FROM {table} t JOIN {stage} s ON {match})"
        with_clause = f"WITH {', '.join(parts)} " if parts else ""
        sql = f"{with_clause}SELECT {changed}, {matched}"
        updated, matched_count = conn.execute(text(sql), self._who(batch)).one()
        return WriteCounts(
            updated=updated,
            unchanged=matched_count - updated,
            unmatched=len(batch.rows) - matched_count,
        )

    def analyze(self, conn: Connection, target: Target) -> None:
        """After a bulk insert the statistics still describe a small table, and the planner
        may then probe the wrong index once per row (quadratic); the sink calls this as a
        step's inserted rows grow. Only the columns the writes' lookups filter on (user,
        account, key) are sampled: a quarter of the cost of the whole table."""
        names = ", ".join(self.quote(name) for name in target.conflict_columns)
        conn.exec_driver_sql(f"ANALYZE {self.quote(target.table.name)} ({names})")

    # -- listed keys --------------------------------------------------------------------------

    inline_keys_limit = 10_000

    def inline_keys(self, conn: Connection, keys: Sequence[str]) -> FromClause:
        """unnest() of one array: no table written, no catalog touched. Nested loops are off
        for the rest of the transaction: the array has no index, and on statistics older
        than a burst of inserts (one row per account, say) the planner would scan it once
        per row of the account (2-3 ms at 200 keys, quadratic), where a hash of at most
        `inline_keys_limit` keys is always cheap (0.1 ms)."""
        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
        array = bindparam("listed_keys", list(keys), type_=ARRAY(String))
        return func.unnest(array).table_valued("key").render_derived(name="listed")

    def append_keys(self, conn: Connection, table: Table, keys: Sequence[str]) -> None:
        dbapi: Any = conn.connection.driver_connection
        statement = f"COPY {self.quote(table.name)} (key) FROM STDIN"  # a quarter of INSERTs
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
            for key in keys:
                copy.write_row((key,))

    def analyze_keys(self, conn: Connection, table: Table) -> None:
        # A temporary table has no statistics: with a plain index on the keys, the planner
        # then de-duplicates every key before a semi-join (0.7 s at 100,000 keys, against
        # 10 ms). ANALYZE samples at most 30,000 rows.
        conn.exec_driver_sql(f"ANALYZE {self.quote(table.name)}")

    def clear_keys(self, conn: Connection, table: Table) -> None:
        conn.exec_driver_sql(f"TRUNCATE {self.quote(table.name)}")

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _who(batch: WriteBatch) -> dict[str, Any]:
        return {"user_id": batch.user_id, "account_id": batch.account_id, "now": batch.now}

    def _stage(
        self,
        conn: Connection,
        target: Target,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
    ) -> str:
        """COPY `rows` (key, content_hash and `columns`) into a temporary table dropped at
        commit; return its name."""
        names = [target.key_column, "content_hash", *(c for c in columns if c != target.key_column)]
        stage = f"sync_stage_{next(_stage_names)}"
        cols = ", ".join(self.quote(name) for name in names)
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {self.quote(target.table.name)} WITH NO DATA"
        )
        self._copy(conn, target, stage, names, rows)
        return stage

    def _copy(
        self,
        conn: Connection,
        target: Target,
        into: str,
        names: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        """COPY each row's values of `names` (JSON columns as JSON text), then the `fixed`
        values (column -> the same value in every row), into the table `into`."""
        # Values psycopg formats slowly are given to it as text: JSON (see _json_text), and
        # numbers (str of a Decimal is C; psycopg's Decimal dumper takes three times as long).
        as_text = []
        for i, name in enumerate(names):
            column_type = target.table.c[name].type
            if isinstance(column_type, JSON):
                as_text.append((i, _json_text))
            elif isinstance(column_type, Numeric) and not isinstance(column_type, Integer):
                as_text.append((i, str))
        fixed = fixed or {}
        cols = ", ".join(self.quote(name) for name in (*names, *fixed))
        # The same for every row: as text once (psycopg would format a datetime per row).
        tail = [v.isoformat() if isinstance(v, datetime) else v for v in fixed.values()]
        values = values_getter(names)
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cursor, cursor.copy(f"COPY {into} ({cols}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                line = values(row)
                for i, to_text in as_text:
                    if line[i] is not None:
                        line[i] = to_text(line[i])
                if tail:
                    line += tail
                write(line)

    def _distinct(self, target: Target, column: str, left: str, right: str) -> str:
        """`left.column IS DISTINCT FROM right.column`; json has no equality: compared as
        jsonb."""
        name = self.quote(column)
        if isinstance(target.table.c[column].type, JSON):
            return f"{left}.{name}::jsonb IS DISTINCT FROM {right}.{name}::jsonb"
        return f"{left}.{name} IS DISTINCT FROM {right}.{name}"
