"""The keys a complete listing returned, streamed to the database while the listing runs.

`on_missing` (runner.sync.delist) and "last seen" (runner.sync.seen) need, at the end of a
complete listing, every key it returned. Held in a Python set they cost about 130 MB of the
process at 1,000,000 products; here they go, every `CHUNK` keys, into a temporary table of
one connection held for the step (one COPY per chunk on Postgres, one executemany on
SQLite), each chunk committed on its own, so that no transaction stays open while the
listing runs. The end of the listing runs its statements on that same connection, in one
transaction that also empties the table (`ListedKeys.finish`).

The table lives as long as the pooled connection: created once per connection, kept
empty between steps. It is only read through `EXISTS`, so a key the listing returned twice
is harmless (on Postgres it is simply stored twice; SQLite ignores the repeat). Without an
index on the keys, Postgres (no statistics on a temporary table) plans the anti-joins as a
scan of the table per row: minutes at 100,000 keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, Connection, Engine, MetaData, Table, delete, insert
from sqlalchemy.schema import CreateIndex, CreateTable

from runner.db.write import Target

CHUNK = 10_000

_READY = "sync_listed_ready"  # connection info: the tables created (and empty) on it


class ListedKeys:
    """The keys of one complete listing, written to the database as they come (see the
    module doc). Use from one thread; `close` always."""

    def __init__(self, engine: Engine, target: Target, chunk: int | None = None) -> None:
        self._engine = engine
        self._target = target
        self._chunk = chunk or CHUNK
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._table = self._make_table()
        self._pending: list[str] = []

    def _make_table(self) -> Table:
        key = self._target.table.c[self._target.key_column]
        # One table per target (their keys' types differ), not named after it: a statement
        # that names the target writes it (tests and logs look for that).
        digest = hashlib.blake2s(key.table.name.encode(), digest_size=4).hexdigest()
        return Table(
            f"sync_listed_{digest}",
            MetaData(),
            # The anti-joins probe an index. SQLite: a primary key, a repeat ignored; Postgres:
            # a plain index, since COPY cannot skip a repeat.
            Column("key", key.type, primary_key=not self._postgres, index=self._postgres),
            prefixes=["TEMPORARY"],
        )

    def add(self, keys: Iterable[str | None]) -> None:
        """Keys the listing returned (None and empty ones are skipped)."""
        self._pending.extend(filter(None, keys))
        if len(self._pending) >= self._chunk:
            self._flush()

    @contextmanager
    def finish(self) -> Iterator[tuple[Connection, Table]]:
        """The connection, inside one transaction, and the table holding every key: run the
        end of the listing there. The table is emptied in the same transaction."""
        self._flush()
        conn = self._connection()
        with conn.begin():
            if self._postgres:
                # Statistics: without them, a plain (not unique) index on the keys makes the
                # planner de-duplicate every key before a semi-join (0.7 s at 100,000 keys,
                # against 10 ms); ANALYZE samples at most 30,000 rows.
                conn.exec_driver_sql(f"ANALYZE {self._table.name}")
            yield conn, self._table
            self._empty(conn)
        conn.info[_READY][self._table.name] = True

    def close(self) -> None:
        """Give the connection back, its table emptied (or the connection discarded)."""
        self._pending = []
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not conn.info[_READY].get(self._table.name):
                with conn.begin():
                    self._empty(conn)
                conn.info[_READY][self._table.name] = True
        except Exception:
            conn.invalidate()  # a table left full would follow the connection
        finally:
            conn.close()

    # -- inside ---------------------------------------------------------------------------

    def _connection(self) -> Connection:
        """The step's connection, its table created (once per connection) and empty."""
        if self._conn is not None:
            return self._conn
        conn = self._engine.connect()
        try:
            ready: dict[str, bool] = conn.info.setdefault(_READY, {})
            name = self._table.name
            if name not in ready or not ready[name]:
                with conn.begin():
                    if name not in ready:
                        conn.execute(CreateTable(self._table, if_not_exists=True))
                        for index in self._table.indexes:
                            conn.execute(CreateIndex(index, if_not_exists=True))
                    self._empty(conn)
                ready[name] = True
        except Exception:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _flush(self) -> None:
        keys, self._pending = self._pending, []
        if not keys:
            return
        conn = self._connection()
        conn.info[_READY][self._table.name] = False  # holds keys until emptied
        with conn.begin():
            if self._postgres:  # COPY: a quarter of the time of INSERTs
                dbapi: Any = conn.connection.driver_connection
                statement = f"COPY {self._table.name} (key) FROM STDIN"
                with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
                    for key in keys:
                        copy.write_row((key,))
            else:
                conn.execute(
                    insert(self._table).prefix_with("OR IGNORE"), [{"key": k} for k in keys]
                )

    def _empty(self, conn: Connection) -> None:
        if self._postgres:
            conn.exec_driver_sql(f"TRUNCATE {self._table.name}")
        else:
            conn.execute(delete(self._table))
