"""Batched writes of mapped rows: one statement per batch, never one round trip per row.

A sync step writes a batch of mapped rows (a `WriteBatch`) into its target table through the
`BatchWriter` of its database, picked once with `writer_for(engine_or_connection)`:
- `upsert`: the first step of a sync type that creates rows. New keys are inserted;
  existing rows are rewritten only when their `content_hash` changed.
- `update`: any other step. It updates only its own columns, only on rows that already exist
  under the same user and account (supplier or integration), and only where a value really
  differs. It never inserts.

Postgres (`postgres.PostgresWriter`) copies the batch into a temporary staging table (COPY)
and runs one set-based statement (an upsert first asks which of the batch's rows are new or
changed, so that unchanged rows are neither copied nor locked, unless the batch says there
are none: `probe`; a batch expected to be all new is COPYed straight into the table:
`expect_new`); SQLite (`sqlite.SqliteWriter`) runs one `executemany` inside the caller's
transaction, after the same question. `differing` asks it, in one statement compared by the
database: which of a batch's keys have no row or another stored hash (content_hash here;
source_hash for the sync's source filter). Every statement filters on the job's `user_id`,
so a job never reads or writes another user's rows. `updated_at` and `last_synced_at` move
only on a real change (and `last_synced_at` on rows a lookup step checked: `mark_checked`).

`RowPreparer` (prepare.py) checks rows against the column types first, so that one bad
value becomes a reject with a reason instead of failing the batch.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from runner.db.write.batch import TARGETS, BatchWriter, Target, WriteBatch, WriteCounts
from runner.db.write.prepare import RowPreparer, RowProblem
from runner.db.write.records import insert_activity, insert_rejects

__all__ = [
    "TARGETS",
    "BatchWriter",
    "RowPreparer",
    "RowProblem",
    "Target",
    "WriteBatch",
    "WriteCounts",
    "insert_activity",
    "insert_rejects",
    "writer_for",
]


def writer_for(bind: Engine | Connection) -> BatchWriter:
    """The writer of `bind`'s database (pick it once, e.g. when a sink is built)."""
    name = bind.dialect.name
    if name == "postgresql":
        from runner.db.write.postgres import PostgresWriter

        return PostgresWriter(bind.dialect)
    if name == "sqlite":
        from runner.db.write.sqlite import SqliteWriter

        return SqliteWriter(bind.dialect)
    raise ValueError(f"sync-runner writes to Postgres or SQLite, not {name}")
