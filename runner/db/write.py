"""Batched writes of mapped rows: one statement per batch, never one round trip per row.

A sync step writes a batch of mapped rows into its target table in one of two ways:
- `upsert_batch`: the first step of a sync type that creates rows. New keys are inserted;
  existing rows are rewritten only when their `content_hash` changed.
- `update_batch`: any other step. It updates only its own columns, only on rows that
  already exist under the same user and scope (supplier or integration), and only where a
  value really differs. It never inserts.

Postgres copies the batch into a temporary staging table (COPY) and runs one set-based
statement (an upsert first asks which of the batch's rows are new or changed, so that
unchanged rows are neither copied nor locked, unless the caller knows there are none:
`probe`; a batch the caller expects to be all new is COPYed straight into the table:
`expect_new`); SQLite runs one `executemany` inside the caller's transaction, after the
same question. `differing` asks it, in one statement compared by the database: which of a
batch's keys have no row or another stored hash (content_hash here; source_hash for the
sync's source filter). Every statement
filters on the job's `user_id`, so a job never reads or writes another user's rows.
`updated_at` and `last_synced_at` move only on a real change (and `last_synced_at` on rows a
lookup step checked, see `mark_rows_checked`).

`RowPreparer` checks rows against the column types first, so that one bad value becomes a
reject with a reason instead of failing the batch.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

import msgspec
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from runner.db.tables import activity_logs, imported_products, orders, sync_rejects
from runner.redact import redact, redact_data

INT32 = (-(2**31), 2**31 - 1)
_stage_names = itertools.count(1)
# `json.JSONEncoder(default=str).encode` from the C encoder built once (`encode` builds one
# per call); mapped values hold no cycles. What msgspec cannot encode comes here.
_JSON_CHUNKS = c_make_encoder(
    None, str, encode_basestring_ascii, None, ": ", ", ", False, False, True
)
_JSON = msgspec.json.Encoder(enc_hook=str)


def _json_text(value: Any) -> str:
    """The JSON text COPY writes into a json column (msgspec: a fifth of the time)."""
    try:
        return _JSON.encode(value).decode()
    except (TypeError, ValueError):  # e.g. an unpaired surrogate: written escaped
        return "".join(_JSON_CHUNKS(value, 0))


@dataclass(frozen=True)
class Target:
    """Where a sync type writes: the table, its scope column and its key column."""

    table: Table
    scope_column: str  # supplier_id | integration_id
    key_column: str  # external_id | platform_order_id

    @property
    def conflict_columns(self) -> tuple[str, str, str]:
        return ("user_id", self.scope_column, self.key_column)


TARGETS: dict[str, Target] = {
    "imported_products": Target(imported_products, "supplier_id", "external_id"),
    "orders": Target(orders, "integration_id", "platform_order_id"),
}


@dataclass
class WriteCounts:
    """What one batch did. `unmatched`: update rows whose key is not a known row;
    `duplicates`: rows dropped because a later row of the same batch had the same key."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0
    duplicates: int = 0

    def add(self, other: WriteCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.unmatched += other.unmatched
        self.duplicates += other.duplicates

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "unmatched": self.unmatched,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True)
class RowProblem:
    """A mapped row that does not fit its column (too long, out of range, missing)."""

    key: str | None
    field: str
    reason: str
    row: dict[str, Any] = field(repr=False)


# ---------------------------------------------------------------------------------------------
# Row checks (compiled once per writer)


def _column_checker(column: Column) -> Callable[[Any], Any]:
    """A function that returns the value fitted to `column` or raises ValueError(reason)."""
    col_type = column.type
    nullable = column.nullable

    def not_null(value: Any) -> Any:
        if value is None and not nullable:
            raise ValueError("is required (the column cannot be empty)")
        return value

    if isinstance(col_type, Numeric) and not isinstance(col_type, Integer):
        scale = col_type.scale or 0
        quantum = Decimal(1).scaleb(-scale)
        limit = Decimal(10) ** ((col_type.precision or 38) - scale)

        def numeric(value: Any) -> Any:
            if value is None:
                return not_null(value)
            try:
                number = value if isinstance(value, Decimal) else Decimal(str(value))
                number = number.quantize(quantum)
            except (InvalidOperation, ValueError) as exc:
                raise ValueError(f"is not a number: {value!r}") from exc
            if not number.is_finite() or abs(number) >= limit:
                raise ValueError(f"is out of range: {value}")
            return number

        return numeric
    if isinstance(col_type, Integer):

        def integer(value: Any) -> Any:
            if value is None:
                return not_null(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"is not an integer: {value!r}")
            if not INT32[0] <= value <= INT32[1]:
                raise ValueError(f"is out of range: {value}")
            return value

        return integer
    if isinstance(col_type, String) and col_type.length:
        length = col_type.length

        def string(value: Any) -> Any:
            if value is None:
                return not_null(value)
            value = str(value)
            if len(value) > length:
                raise ValueError(f"is longer than {length} characters ({len(value)})")
            return value

        return string
    return not_null


# A mapping field of this type already yields values that fit a column of this kind
# (runner.mapping coerces decimals to cents within Money and integers within INTEGER), so
# only string lengths and empty required values are left to check.
TRUSTED_TYPES = {"numeric": {"decimal"}, "integer": {"integer"}, "json": {"list", "json"}}


def _kind(column: Column) -> str:
    col_type = column.type
    if isinstance(col_type, Integer):
        return "integer"
    if isinstance(col_type, Numeric):
        return "numeric"
    if isinstance(col_type, JSON):
        return "json"
    if isinstance(col_type, String) and col_type.length:
        return "string"
    return "text"


class RowPreparer:
    """Fits mapped rows to a target's columns and drops in-batch duplicate keys.

    `field_types` (column -> mapping field type) lets columns whose mapping already
    guarantees a fitting value skip their check; a string field into a limited string
    column only gets its length checked. Rows are fitted in place, not copied.
    """

    def __init__(
        self,
        target: Target,
        columns: Sequence[str],
        field_types: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self.columns = tuple(c for c in columns if c != target.key_column)
        table = target.table
        field_types = field_types or {}
        lengths: list[tuple[str, int, bool]] = []
        checks: list[tuple[str, Callable[[Any], Any]]] = []
        for name in self.columns:
            column = table.c[name]
            kind, declared = _kind(column), field_types.get(name)
            if declared is not None and declared in TRUSTED_TYPES.get(kind, ()):
                if not column.nullable:
                    checks.append((name, _column_checker(column)))
            elif declared == "string" and kind == "string":
                lengths.append((name, column.type.length, column.nullable))
            elif declared == "string" and kind == "text" and column.nullable:
                continue
            else:
                checks.append((name, _column_checker(column)))
        self.lengths = tuple(lengths)
        self.checks = tuple(checks)
        self.key_check = _column_checker(table.c[target.key_column])

    def prepare(
        self, rows: Iterable[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[RowProblem], int]:
        """Return (rows with unique keys, the last one wins), problems, duplicates dropped."""
        key_name = self.target.key_column
        prepared: dict[str, dict[str, Any]] = {}
        problems: list[RowProblem] = []
        lengths, checks, key_check = self.lengths, self.checks, self.key_check
        key_limit = self.target.table.c[key_name].type.length or 1 << 30
        seen = 0
        for row in rows:
            key = row.get(key_name)
            if key.__class__ is not str:
                try:
                    key = key_check(None if key is None else str(key))
                    if key is None:
                        raise ValueError("is required (the column cannot be empty)")
                except ValueError as exc:
                    problems.append(RowProblem(None, key_name, f"{key_name} {exc}", dict(row)))
                    continue
                row[key_name] = key
            current = key_name
            try:
                if not key:
                    raise ValueError("is required (the column cannot be empty)")
                if len(key) > key_limit:
                    raise ValueError(f"is longer than {key_limit} characters ({len(key)})")
                for current, limit, nullable in lengths:
                    value = row.get(current)
                    if value is None:
                        if not nullable:
                            raise ValueError("is required (the column cannot be empty)")
                    elif len(value) > limit:
                        raise ValueError(f"is longer than {limit} characters ({len(value)})")
                for current, check in checks:
                    row[current] = check(row.get(current))
            except ValueError as exc:
                problems.append(RowProblem(key, current, f"{current} {exc}", dict(row)))
                continue
            seen += 1
            prepared[key] = row
        return list(prepared.values()), problems, seen - len(prepared)


# ---------------------------------------------------------------------------------------------
# Reads shared by writes and the dry run


def fetch_existing(
    conn: Connection,
    target: Target,
    keys: Sequence[str],
    *,
    user_id: str,
    scope_id: str,
    columns: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Existing rows of this user and scope among `keys`: key -> {column: value}, one SELECT."""
    if not keys:
        return {}
    table = target.table
    key_col = table.c[target.key_column]
    wanted = [key_col, table.c.content_hash, *(table.c[name] for name in columns)]
    stmt = select(*wanted).where(
        table.c.user_id == user_id,
        table.c[target.scope_column] == scope_id,
        _key_in(conn, key_col),
    )
    result = conn.execute(stmt, {"keys": list(keys)})
    return {row[0]: dict(row._mapping) for row in result}


def differing(
    conn: Connection,
    target: Target,
    keys: Sequence[str],
    digests: Sequence[str | None],
    *,
    column: str,
    user_id: str,
    scope_id: str,
) -> list[tuple[int, bool]]:
    """(position, is new) of each key whose stored `column` differs from its digest, or that
    has no row, among this user's and scope's rows: one statement, compared by the database,
    so that only the differing keys come back (none in a sync where nothing changed)."""
    if not keys:
        return []
    q = lambda name: _quote(conn, name)  # noqa: E731
    table, col = q(target.table.name), q(column)
    scope, key = q(target.scope_column), q(target.key_column)
    if conn.dialect.name == "postgresql":
        # LATERAL ... LIMIT 1 keeps one probe of the unique index per key: a plain join lets
        # the planner hash the user's whole table for every batch. The arrays go in binary
        # (%b): the server parses thousands of keys as text in a third of the statement.
        sql = (
            "SELECT b.i - 1, s.found IS NULL "
            "FROM unnest(%(keys)b::text[], %(digests)b::text[]) WITH ORDINALITY AS b(k, d, i) "
            f"LEFT JOIN LATERAL (SELECT t.{col} AS d, true AS found FROM {table} t "
            f"WHERE t.user_id = %(user_id)s AND t.{scope} = %(scope_id)s AND t.{key} = b.k "
            "LIMIT 1) s ON true WHERE s.d IS DISTINCT FROM b.d"
        )
        params: Any = {
            "keys": list(keys),
            "digests": list(digests),
            "user_id": user_id,
            "scope_id": scope_id,
        }
    else:
        sql = (
            "SELECT b.key, t.id IS NULL FROM json_each(?) b "
            f"LEFT JOIN {table} t ON t.user_id = ? AND t.{scope} = ? "
            f"AND t.{key} = json_extract(b.value, '$[0]') "
            f"WHERE t.{col} IS NOT json_extract(b.value, '$[1]')"
        )
        pairs = json.dumps(list(zip(keys, digests, strict=True)))
        params = (pairs, user_id, scope_id)
    return [(int(i), bool(new)) for i, new in conn.exec_driver_sql(sql, params)]


def _changed_rows(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    scope_id: str,
) -> list[tuple[int, bool]]:
    """`differing` on the rows' `content_hash`: (position, is new) of the new or changed."""
    return differing(
        conn,
        target,
        [row[target.key_column] for row in rows],
        [row.get("content_hash") for row in rows],
        column="content_hash",
        user_id=user_id,
        scope_id=scope_id,
    )


def _key_in(conn: Connection, key_col: Column) -> ColumnElement[bool]:
    """`key IN (:keys)`: one array parameter on Postgres, expanded elsewhere."""
    if conn.dialect.name == "postgresql":
        return key_col == any_(bindparam("keys", type_=ARRAY(String)))
    return key_col.in_(bindparam("keys", expanding=True))


# ---------------------------------------------------------------------------------------------
# Writes


def upsert_batch(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    *,
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
    probe: bool = True,
    expect_new: bool = False,
) -> WriteCounts:
    """Insert new keys, rewrite rows whose content hash changed. `rows` must have unique keys
    (see `RowPreparer`) and carry `content_hash`.

    On Postgres, `probe` first asks which rows are new or changed (`differing`), so that
    unchanged rows are neither copied nor locked; without it every row goes through the
    upsert, which still rewrites only rows whose hash differs and counts exactly. A caller
    skips the probe while its batches find no existing rows (a first sync), where the probe
    only costs a statement.
    `expect_new` (such a caller, too) inserts the batch inside a savepoint without asking
    first (on Postgres a COPY straight into the table: a quarter less work for the database
    than staging plus `ON CONFLICT`); if a key exists after all, the savepoint is rolled
    back and the batch upserted as usual.
    """
    if not rows:
        return WriteCounts()
    if conn.dialect.name == "postgresql":
        if expect_new and _pg_insert_new(conn, target, rows, user_id, scope_id, columns, now):
            return WriteCounts(inserted=len(rows))
        return _pg_upsert(conn, target, rows, user_id, scope_id, columns, now, probe)
    return _sqlite_upsert(conn, target, rows, user_id, scope_id, columns, now, expect_new)


def update_batch(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    *,
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
    mark_checked: bool = False,
    clear_hash: bool = False,
) -> WriteCounts:
    """Update `columns` on existing rows with the same key, user and scope, where a value
    differs; never insert.

    `mark_checked` sets `last_synced_at` on every matched row (lookup steps, so that the
    stale selection moves on). `clear_hash` empties `content_hash` and `source_hash` on
    changed rows: a step of a sync type that does not create rows (price_update) changes
    values that the creating step's hash covers, so the next full sync must map and rewrite
    the row whatever its hashes say.
    """
    if not rows:
        return WriteCounts()
    columns = [name for name in columns if name != target.key_column]
    if conn.dialect.name == "postgresql":
        return _pg_update(
            conn, target, rows, user_id, scope_id, columns, now, mark_checked, clear_hash
        )
    return _sqlite_update(
        conn, target, rows, user_id, scope_id, columns, now, mark_checked, clear_hash
    )


def mark_rows_checked(
    conn: Connection,
    target: Target,
    keys: Sequence[str],
    *,
    user_id: str,
    scope_id: str,
    now: datetime,
) -> int:
    """Set `last_synced_at` on this user's rows among `keys` (one statement); return how many
    rows matched. A lookup step calls it so that the stale selection moves past them."""
    if not keys:
        return 0
    table = target.table
    stmt = (
        update(table)
        .where(
            table.c.user_id == user_id,
            table.c[target.scope_column] == scope_id,
            _key_in(conn, table.c[target.key_column]),
        )
        .values(last_synced_at=now)
    )
    return conn.execute(stmt, {"keys": list(keys)}).rowcount


def analyze(conn: Connection, target: Target) -> None:
    """Refresh the planner statistics of the target table (Postgres; no-op elsewhere).

    After a bulk insert the statistics still describe a small table, and the planner may
    then probe the wrong index once per row (quadratic); the writer calls this as a step's
    inserted rows grow (see `runner.sync.engine`). Only the columns that the writes'
    lookups filter on (user, scope, key) are sampled: a quarter of the cost of the whole
    table, whose wide text columns autovacuum refreshes in its own time.
    """
    if conn.dialect.name == "postgresql":
        names = ", ".join(_quote(conn, name) for name in target.conflict_columns)
        conn.exec_driver_sql(f"ANALYZE {_quote(conn, target.table.name)} ({names})")


def insert_rejects(conn: Connection, rejects: Sequence[Mapping[str, Any]]) -> None:
    """Insert `sync_rejects` rows in one executemany. Payloads are made JSON-safe (a NaN
    becomes the string "nan", which every database's JSON takes) and, like the reason,
    redacted: a supplier that echoes a credential inside a record must not store it."""
    if not rejects:
        return
    rows = [
        {
            **reject,
            "reason": redact(reject.get("reason") or ""),
            "payload": redact_data(json_safe(reject.get("payload"))),
        }
        for reject in rejects
    ]
    conn.execute(insert(sync_rejects), rows)


def insert_activity(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> None:
    """Insert `activity_logs` entries (user_id, job_id, supplier_id, level, event, message,
    details, created_at) in one statement."""
    if entries:
        conn.execute(
            insert(activity_logs),
            [{**entry, "details": json_safe(entry.get("details"))} for entry in entries],
        )


def json_safe(value: Any) -> Any:
    """`value` as plain JSON types (Decimals and dates become strings, and so do NaN and
    infinities, which JSON has no token for and Postgres refuses)."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError:  # a non-finite float somewhere: the slow path, rare
        return json.loads(json.dumps(_finite_floats(value), default=str))


def _finite_floats(value: Any) -> Any:
    """`value` with every non-finite float replaced by its text ("nan", "inf")."""
    if value.__class__ is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {key: _finite_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_floats(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# SQLite: executemany inside the caller's transaction


def _sqlite_upsert(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
    expect_new: bool,
) -> WriteCounts:
    table = target.table
    key_name = target.key_column
    data_columns = [name for name in columns if name != key_name]
    names = [key_name, "content_hash", *data_columns]
    fixed = _new_row_values(target, user_id, scope_id, now)
    if expect_new:  # as on Postgres: insert them all, unless a key exists after all
        try:
            with conn.begin_nested():
                _sqlite_executemany(conn, sqlite_insert(table), fixed, names, rows)
            return WriteCounts(inserted=len(rows))
        except IntegrityError:
            pass
    found = _changed_rows(conn, target, rows, user_id, scope_id)
    new_rows = sum(1 for _, new in found if new)
    counts = WriteCounts(inserted=new_rows, updated=len(found) - new_rows)
    counts.unchanged = len(rows) - len(found)
    if not found:
        return counts
    stmt = sqlite_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(target.conflict_columns),
        set_={
            **{name: stmt.excluded[name] for name in data_columns},
            "content_hash": stmt.excluded.content_hash,
            "last_synced_at": stmt.excluded.last_synced_at,
            "updated_at": stmt.excluded.updated_at,
        },
        where=table.c.content_hash.is_distinct_from(stmt.excluded.content_hash),
    )
    _sqlite_executemany(conn, stmt, fixed, names, [rows[i] for i, _ in found])
    return counts


def _new_row_values(target: Target, user_id: str, scope_id: str, now: datetime) -> dict[str, Any]:
    """The columns a batch's inserted rows share: owner, scope and the three timestamps."""
    return {
        "user_id": user_id,
        target.scope_column: scope_id,
        "last_synced_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _sqlite_executemany(
    conn: Connection,
    stmt: Any,
    fixed: Mapping[str, Any],
    names: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """`conn.execute(stmt, [{**fixed, name: row[name] ...} for row in rows])`, with a
    third of the work: the statement is compiled once, each value goes through its
    column's bind processor directly (the same conversion SQLAlchemy applies), and the
    `fixed` values, the same in every row, are converted once."""
    compiled = stmt.compile(dialect=conn.dialect, column_keys=[*fixed, *names])
    order = compiled.positiontup
    if order is None:  # SQLite's paramstyle is positional; anything else is a bug here
        raise RuntimeError(f"expected positional parameters on {conn.dialect.name}")
    convert = {name: compiled.binds[name].type.bind_processor(conn.dialect) for name in order}
    template: list[Any] = []
    slots: list[tuple[int, int, Callable[[Any], Any] | None]] = []
    for position, name in enumerate(order):
        if name in fixed:
            process = convert[name]
            template.append(process(fixed[name]) if process else fixed[name])
        else:
            template.append(None)
            slots.append((position, names.index(name), convert[name]))
    values = _values_getter(names)
    params = []
    for row in rows:
        line = template.copy()
        got = values(row)
        for position, index, process in slots:
            line[position] = process(got[index]) if process else got[index]
        params.append(tuple(line))
    conn.exec_driver_sql(compiled.string, params)


def _sqlite_update(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
    mark_checked: bool,
    clear_hash: bool,
) -> WriteCounts:
    table = target.table
    key_name = target.key_column
    keys = [row[key_name] for row in rows]
    in_scope = and_(table.c.user_id == user_id, table.c[target.scope_column] == scope_id)
    key_in = _key_in(conn, table.c[key_name])
    counts = WriteCounts()
    if columns:
        values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in columns}
        values |= {"updated_at": now, "last_synced_at": now}
        if clear_hash:
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
        params = [{"k": row[key_name], **{f"v_{n}": row.get(n) for n in columns}} for row in rows]
        counts.updated = conn.execute(stmt, params).rowcount
    if mark_checked:
        matched = mark_rows_checked(conn, target, keys, user_id=user_id, scope_id=scope_id, now=now)
    else:
        matched = conn.execute(
            select(func.count()).select_from(table).where(in_scope, key_in), {"keys": keys}
        ).scalar_one()
    counts.unchanged = matched - counts.updated
    counts.unmatched = len(rows) - matched
    return counts


# ---------------------------------------------------------------------------------------------
# Postgres: COPY into a temporary staging table, then one set-based statement


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _stage(
    conn: Connection, target: Target, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> str:
    """COPY `rows` (key, content_hash and `columns`) into a temporary table dropped at commit.

    Returns the staging table's name.
    """
    table = target.table
    names = [target.key_column, "content_hash", *(c for c in columns if c != target.key_column)]
    stage = f"sync_stage_{next(_stage_names)}"
    cols = ", ".join(_quote(conn, name) for name in names)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS "
        f"SELECT {cols} FROM {_quote(conn, table.name)} WITH NO DATA"
    )
    _copy(conn, target, stage, names, rows)
    return stage


def _copy(
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
    cols = ", ".join(_quote(conn, name) for name in (*names, *fixed))
    # The same for every row: as text once (psycopg would format a datetime per row).
    tail = [v.isoformat() if isinstance(v, datetime) else v for v in fixed.values()]
    values = _values_getter(names)
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cursor, cursor.copy(f"COPY {into} ({cols}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            line = values(row)
            for i, text in as_text:
                if line[i] is not None:
                    line[i] = text(line[i])
            if tail:
                line += tail
            write(line)


def _values_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
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


def _distinct(conn: Connection, target: Target, column: str, left: str, right: str) -> str:
    """`left.column IS DISTINCT FROM right.column`; json has no equality, so compare as jsonb."""
    name = _quote(conn, column)
    if isinstance(target.table.c[column].type, JSON):
        return f"{left}.{name}::jsonb IS DISTINCT FROM {right}.{name}::jsonb"
    return f"{left}.{name} IS DISTINCT FROM {right}.{name}"


def _pg_insert_new(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
) -> bool:
    """COPY `rows` into the target table as new rows; False (nothing written) when one of
    their keys exists already."""
    from psycopg.errors import UniqueViolation

    key_name = target.key_column
    names = [key_name, "content_hash", *(c for c in columns if c != key_name)]
    fixed = _new_row_values(target, user_id, scope_id, now)
    try:
        with conn.begin_nested():
            _copy(conn, target, _quote(conn, target.table.name), names, rows, fixed)
    except UniqueViolation:
        return False
    return True


def _pg_upsert(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
    probe: bool,
) -> WriteCounts:
    key_name = target.key_column
    data_columns = [name for name in columns if name != key_name]
    changed = rows
    if probe:
        # Unchanged rows are left out first (one statement, see differing): they cost no
        # COPY, and ON CONFLICT would lock, that is write, every row it meets.
        changed = [rows[i] for i, _ in _changed_rows(conn, target, rows, user_id, scope_id)]
        if not changed:
            return WriteCounts(unchanged=len(rows))
    stage = _stage(conn, target, changed, data_columns)
    q = lambda name: _quote(conn, name)  # noqa: E731
    copied = [key_name, "content_hash", *data_columns]
    insert_cols = ["user_id", target.scope_column, *copied, "last_synced_at", "created_at"]
    insert_cols.append("updated_at")
    select_cols = [":user_id", ":scope_id", *(f"s.{q(c)}" for c in copied), ":now", ":now", ":now"]
    set_cols = [*data_columns, "content_hash", "last_synced_at", "updated_at"]
    sql = (
        f"WITH up AS (INSERT INTO {q(target.table.name)} AS t "
        f"({', '.join(q(c) for c in insert_cols)}) "
        f"SELECT {', '.join(select_cols)} FROM {stage} s "
        f"ON CONFLICT ({', '.join(q(c) for c in target.conflict_columns)}) DO UPDATE SET "
        + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in set_cols)
        + " WHERE t.content_hash IS DISTINCT FROM excluded.content_hash"
        " RETURNING (t.xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
    )
    inserted, updated = conn.execute(
        text(sql), {"user_id": user_id, "scope_id": scope_id, "now": now}
    ).one()
    return WriteCounts(inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated)


def _pg_update(
    conn: Connection,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    scope_id: str,
    columns: Sequence[str],
    now: datetime,
    mark_checked: bool,
    clear_hash: bool,
) -> WriteCounts:
    stage = _stage(conn, target, rows, columns)
    q = lambda name: _quote(conn, name)  # noqa: E731
    table = q(target.table.name)
    match = (
        f"t.user_id = :user_id AND t.{q(target.scope_column)} = :scope_id "
        f"AND t.{q(target.key_column)} = s.{q(target.key_column)}"
    )
    parts = []
    if columns:
        differs = " OR ".join(_distinct(conn, target, c, "t", "s") for c in columns)
        sets = [f"{q(c)} = s.{q(c)}" for c in columns]
        sets += ["updated_at = :now", "last_synced_at = :now"]
        if clear_hash:
            sets += ["content_hash = NULL", "source_hash = NULL"]
        parts.append(
            f"changed AS (UPDATE {table} t SET {', '.join(sets)} FROM {stage} s "
            f"WHERE {match} AND ({differs}) RETURNING 1)"
        )
        changed = "(SELECT count(*) FROM changed)"
    else:
        differs = "false"
        changed = "0"
    if mark_checked:
        parts.append(
            f"checked AS (UPDATE {table} t SET last_synced_at = :now FROM {stage} s "
            f"WHERE {match} AND NOT ({differs}) RETURNING 1)"
        )
        matched = f"{changed} + (SELECT count(*) FROM checked)"
    else:
        matched = f"(SELECT count(*) FROM {table} t JOIN {stage} s ON {match})"
    with_clause = f"WITH {', '.join(parts)} " if parts else ""
    sql = f"{with_clause}SELECT {changed}, {matched}"
    updated, matched_count = conn.execute(
        text(sql), {"user_id": user_id, "scope_id": scope_id, "now": now}
    ).one()
    return WriteCounts(
        updated=updated,
        unchanged=matched_count - updated,
        unmatched=len(rows) - matched_count,
    )
