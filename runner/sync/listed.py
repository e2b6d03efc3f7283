"""The keys a complete listing returned, streamed to the database while the listing runs.

`on_missing` (runner.sync.delist) and "last seen" (runner.sync.seen) need, at the end of a
complete listing, every key it returned. Held in a Python set they cost about 130 MB of the
process at 1,000,000 products; here they go, every `CHUNK` keys, into a temporary table of
one connection held for the step (the writer's bulk load: COPY on Postgres), each chunk
committed on its own, so that no transaction stays open while the listing runs. The end of
the listing runs its statements on that same connection, in one transaction that also empties
the table (`ListedKeys.finish`).

A listing that ends with few keys (most accounts) writes no table: where the database's
writer can (`BatchWriter.inline_keys`: Postgres, up to 10,000 keys), its keys go into the
end's statements as one bound array. A temporary table would cost that listing a connection
of its own, a bulk load, statistics and an emptying, each of which writes the catalog.

The table lives as long as the pooled connection: created once per connection, kept
empty between steps. It is only read through `EXISTS`, so a key the listing returned twice
is harmless (simply stored twice). Without an index on the keys, Postgres plans the
anti-joins as a scan of the table per row: minutes at 100,000 keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Column, Connection, Engine, FromClause, MetaData, Table
from sqlalchemy.schema import CreateIndex, CreateTable

from runner.db.write import Target, writer_for

# Keys held before they go to the table: about 8 MB of the process. Chunks of 10,000 cost a
# warm sync of 100,000 products 7-15% (a COPY and a commit on the step's thread every tenth
# of the listing); at 100,000 the peak RSS at 1,000,000 products is 128 MB, not 122.
CHUNK = 100_000

_READY = "sync_listed_ready"  # connection info: the tables created (and empty) on it


class ListedKeys:
    """The keys of one complete listing, written to the database as they come (see the
    module doc). Use from one thread; `close` always."""

    def __init__(self, engine: Engine, target: Target) -> None:
        self._engine = engine
        self._writer = writer_for(engine)
        self._conn: Connection | None = None
        self._table = _keys_table(target)
        self._pending: list[str] = []
        self._stored = False  # some keys went to the table

    def add(self, keys: Iterable[str | None]) -> None:
        """Keys the listing returned (None and empty ones are skipped)."""
        self._pending.extend(filter(None, keys))
        if len(self._pending) >= CHUNK:
            self._flush()

    @contextmanager
    def finish(self) -> Iterator[tuple[Connection, FromClause]]:
        """A connection, inside one transaction, and a table of one column `key` holding
        every key: run the end of the listing there. A stored table is emptied in the same
        transaction."""
        limit = self._writer.inline_keys_limit
        if limit and not self._stored and len(self._pending) <= limit:
            with self._engine.begin() as conn:
                yield conn, self._writer.inline_keys(conn, self._pending)
            return
        self._flush()
        conn = self._connection()
        with conn.begin():
            self._writer.analyze_keys(conn, self._table)
            yield conn, self._table
            self._writer.clear_keys(conn, self._table)
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
                    self._writer.clear_keys(conn, self._table)
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
                    self._writer.clear_keys(conn, self._table)
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
        self._stored = True
        with conn.begin():
            self._writer.append_keys(conn, self._table, keys)


def _keys_table(target: Target) -> Table:
    """The temporary table of a target's listed keys: one per target (their keys' types
    differ), not named after it, since a statement that names the target writes it (tests
    and logs look for that). The anti-joins probe its index."""
    key = target.table.c[target.key_column]
    digest = hashlib.blake2s(key.table.name.encode(), digest_size=4).hexdigest()
    return Table(
        f"sync_listed_{digest}",
        MetaData(),
        Column("key", key.type, index=True),
        prefixes=["TEMPORARY"],
    )
