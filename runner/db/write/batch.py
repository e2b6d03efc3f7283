"""What a write is about: the target table, one batch of rows, what it did, and the interface
every database's writer offers (`BatchWriter`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, FromClause, Table

from runner.db.tables import metadata
from runner.spec.columns import TARGET_TABLES


@dataclass(frozen=True)
class Target:
    """Where a sync type writes: the table, its account column and its key column."""

    table: Table
    account_column: str  # the account id's column: supplier_id | integration_id
    key_column: str  # external_id | platform_order_id

    @property
    def conflict_columns(self) -> tuple[str, str, str]:
        return ("user_id", self.account_column, self.key_column)


# Derived from the one definition of the targets, runner.spec.columns.TARGET_TABLES.
TARGETS: dict[str, Target] = {
    name: Target(metadata.tables[name], spec.account_column, spec.key_column)
    for name, spec in TARGET_TABLES.items()
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
class WriteBatch:
    """One batch of mapped rows for one user's account, written at `now`.

    `rows` have unique keys (see `RowPreparer`); an upsert's carry `content_hash`.
    `columns`: the mapped columns written (the key column may be among them).
    Flags:
    - `probe` (upsert): first ask which rows are new or changed (`differing`), so that
      unchanged rows are neither copied nor locked; without it every row goes through the
      upsert, which still rewrites only rows whose hash differs and counts exactly. A caller
      skips the probe while its batches find no existing rows (a first sync).
    - `expect_new` (upsert): insert the batch inside a savepoint without asking first (on
      Postgres a COPY straight into the table); if a key exists after all, the savepoint is
      rolled back and the batch upserted as usual.
    - `mark_checked`: set `last_synced_at` on every matched row (lookup steps, so that the
      stale selection moves on).
    - `clear_hash` (update): empty `content_hash` and `source_hash` on changed rows: a step of
      a sync type that does not create rows (price_update) changes values that the creating
      step's hash covers, so the next full sync must map and rewrite the row.
    """

    target: Target
    user_id: str
    account_id: str
    now: datetime
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str]
    probe: bool = True
    expect_new: bool = False
    mark_checked: bool = False
    clear_hash: bool = False

    @property
    def data_columns(self) -> list[str]:
        """The written columns but the key."""
        return [name for name in self.columns if name != self.target.key_column]

    @property
    def keys(self) -> list[str]:
        key = self.target.key_column
        return [row[key] for row in self.rows]


class BatchWriter(Protocol):
    """Writes and the reads they need, one statement per batch, for one kind of database.
    Every statement filters on the user and the account, so a job never reads or writes
    another user's rows. Pick one with `runner.db.write.writer_for`."""

    def upsert(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        """Insert new keys, rewrite rows whose content hash changed."""
        ...

    def update(self, conn: Connection, batch: WriteBatch) -> WriteCounts:
        """Update the batch's columns on existing rows of the same key, where a value
        differs; never insert."""
        ...

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
        """(position, is new) of each key whose stored `column` differs from its digest, or
        that has no row: one statement, compared by the database."""
        ...

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
        """Existing rows among `keys`: key -> {column: value}, one SELECT."""
        ...

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
        """Set `last_synced_at` on the rows among `keys`; return how many matched."""
        ...

    def analyze(self, conn: Connection, target: Target) -> None:
        """Refresh the planner statistics of the target table, where the database has any."""
        ...

    # The keys a complete listing returned (runner.sync.listed): a temporary table of one
    # column `key`, or, for a listing of few keys, a table-valued parameter.

    inline_keys_limit: int
    """Listings of at most this many keys go into the statements as one parameter
    (`inline_keys`); 0: never."""

    def inline_keys(self, conn: Connection, keys: Sequence[str]) -> FromClause:
        """`keys` as a table of one column `key` for the statements run in `conn`'s current
        transaction (one bound parameter, no table written)."""
        ...

    def append_keys(self, conn: Connection, table: Table, keys: Sequence[str]) -> None:
        """Add `keys` to `table` (one column `key`) in one bulk statement."""
        ...

    def analyze_keys(self, conn: Connection, table: Table) -> None:
        """Statistics on `table`, for the planner's joins against it, where it needs them."""
        ...

    def clear_keys(self, conn: Connection, table: Table) -> None:
        """Empty `table`."""
        ...
