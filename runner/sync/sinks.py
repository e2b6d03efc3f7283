"""Where a step's batches go: the database, or a dry run's diff. Complete when constructed.

Every call into `runner.db.write` of a sync lives here:
- `DatabaseSink`: one transaction per batch: the rows (an upsert, or an update of the step's
  own columns), the checked mark of lookups, and the rejects; statistics refreshed as the
  table grows;
- `DiffSink`: classifies each batch as the writer would (`runner.sync.diff`), writes nothing;
- `SourceFilter`: leaves out the records whose row already carries their source hash.
`build_sink` makes the one a step's plan needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from runner.clock import Clock
from runner.db.engine import read_only
from runner.db.write import (
    BatchWriter,
    Target,
    WriteBatch,
    WriteCounts,
    insert_activity,
    insert_rejects,
    writer_for,
)
from runner.mapping import SOURCE_HASH_COLUMN, CompiledMapping, Reject
from runner.sync.diff import DiffEntry, DiffReport, same
from runner.sync.plan import StepPlan

ANALYZE_AFTER_ROWS = 1000  # inserted rows before the first statistics refresh


class Sink(Protocol):
    def flush(self, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> WriteCounts: ...


def build_sink(
    plan: StepPlan,
    engine: Engine,
    target: Target,
    *,
    user_id: str,
    account_id: str,
    account: str,
    creates_rows: bool,
    clock: Clock,
    dry_run: bool,
    pending_inserts: set[str],
    report: DiffReport,
) -> Sink:
    """The sink of one step of one account: a `DiffSink` for a dry run (it compares, it
    writes no hash), else a `DatabaseSink`. `pending_inserts`: the keys a dry run's earlier
    steps of the account would have inserted."""
    if dry_run:
        return DiffSink(
            engine,
            target,
            user_id=user_id,
            account_id=account_id,
            account=account,
            step=plan.name,
            columns=plan.columns,
            upsert=plan.upsert,
            pending_inserts=pending_inserts,
            report=report,
        )
    return DatabaseSink(
        engine,
        target,
        user_id,
        account_id,
        plan.written_columns,
        upsert=plan.upsert,
        lookup=plan.lookup,
        clear_hash=not creates_rows,
        clock=clock,
        prefiltered=plan.source_filter,
    )


@dataclass
class DatabaseSink:
    """Writes one step's batches: rows, the checked mark of lookups, and rejects, together."""

    engine: Engine
    target: Target
    user_id: str
    account_id: str
    columns: tuple[str, ...]  # written; with `source_hash` behind a source filter
    upsert: bool
    lookup: bool
    clear_hash: bool
    clock: Clock
    # Rows come through a SourceFilter: new or changed at the source, so rarely unchanged,
    # and reading their stored hashes first would seldom spare a write.
    prefiltered: bool = False
    inserted: int = field(default=0, init=False)
    analyzed_at: int = field(default=0, init=False)  # `inserted` at the last statistics
    # The last batch met existing rows (unknown at first). While batches meet none (a first
    # sync), the next one is inserted straight away, without asking which rows exist.
    met_existing: bool = field(default=True, init=False)
    writer: BatchWriter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = writer_for(self.engine)

    def probed(self, met_existing: bool) -> None:
        """A source filter's probe of the coming rows' keys found some existing (or none):
        with none, the next batch is inserted straight away. Called from the thread that
        makes the batches; a hint only (a wrong one costs a batch's COPY, not its rows)."""
        self.met_existing = met_existing

    def flush(self, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> WriteCounts:
        now = self.clock.now()
        batch = WriteBatch(
            target=self.target,
            user_id=self.user_id,
            account_id=self.account_id,
            now=now,
            rows=rows,
            columns=self.columns,
            probe=self.met_existing and not self.prefiltered,
            expect_new=not self.met_existing,
            mark_checked=self.lookup,
            clear_hash=self.clear_hash,
        )
        with self.engine.begin() as conn:
            if self.upsert:
                counts = self.writer.upsert(conn, batch)
            else:
                counts = self.writer.update(conn, batch)
            for reject in rejects:
                reject["created_at"] = now
            insert_rejects(conn, rejects)
        self.inserted += counts.inserted
        if self.inserted >= ANALYZE_AFTER_ROWS and self.inserted >= 8 * self.analyzed_at:
            # Statistics of a table that just grew mislead the planner (see BatchWriter.analyze):
            # refreshed at 1k, 8k, 64k, ... inserted rows, the cost stays logarithmic. The
            # next job's probe needs them even when this step's batches skip theirs.
            with self.engine.begin() as conn:
                self.writer.analyze(conn, self.target)
            self.analyzed_at = self.inserted
        if rows:
            self.met_existing = counts.inserted < len(rows)
        return counts


class SourceFilter:
    """Leaves out the records whose row already carries their `source_hash`.

    The fetch thread hashes each record (`CompiledMapping.source_hashes`); at a batch's end
    one statement (`BatchWriter.differing`) returns the keys whose stored hash differs
    or that have no row, and only those records are mapped, so an unchanged catalogue is
    neither mapped nor written. Records without a key or hash are always mapped. While
    the batches meet no existing row (a first sync), the statement is skipped. What a probe
    found goes to `on_probe` (the database sink's `probed`): a batch whose keys have no row
    is then inserted straight away, without a staging table.
    """

    def __init__(
        self,
        engine: Engine,
        target: Target,
        mapping: CompiledMapping,
        user_id: str,
        account_id: str,
        on_probe: Callable[[bool], None] | None = None,
    ) -> None:
        self.engine = engine
        self.target = target
        self.mapping = mapping
        self.user_id = user_id
        self.account_id = account_id
        self.writer = writer_for(engine)
        # Told after each probe whether any probed key has a row (DatabaseSink.probed).
        self.on_probe = on_probe
        self.skipped = 0  # records left out: their rows are unchanged
        self._records: list[Any] = []
        self._keys: list[str | None] = []
        self._digests: list[str | None] = []
        self._only_new = False  # the last probe found no existing row

    @property
    def waiting(self) -> int:
        return len(self._records)

    def add(self, records: list[Any], keys: list[str | None], digests: list[str | None]) -> None:
        self._records += records
        self._keys += keys
        self._digests += digests

    def take(self, written: WriteCounts) -> tuple[list[dict[str, Any]], list[Reject]]:
        """Map the waiting records that changed: (rows, rejects). `written` is what the
        step's writes counted so far: once they met existing rows, probing resumes."""
        records, keys, digests = self._records, self._keys, self._digests
        self._records, self._keys, self._digests = [], [], []
        probe = not (self._only_new and written.updated == 0 and written.unchanged == 0)
        if probe:
            known = [k is not None and d is not None for k, d in zip(keys, digests, strict=True)]
            wanted = [i for i, ok in enumerate(known) if ok]
            found = self._probe([keys[i] for i in wanted], [digests[i] for i in wanted])
            if wanted:
                self._only_new = len(found) == len(wanted) and all(new for _, new in found)
                if self.on_probe is not None:
                    self.on_probe(not self._only_new)
            changed = {wanted[i] for i, _ in found}
            positions = [i for i, ok in enumerate(known) if not ok or i in changed]
        else:
            positions = list(range(len(records)))
        rows: list[dict[str, Any]] = []
        rejects: list[Reject] = []
        map_one = self.mapping.map
        for i in positions:
            result = map_one(records[i])
            if result.__class__ is Reject:
                rejects.append(result)  # type: ignore[arg-type]
            else:
                result[SOURCE_HASH_COLUMN] = digests[i]  # type: ignore[index]
                rows.append(result)  # type: ignore[arg-type]
        self.skipped += len(records) - len(positions)
        return rows, rejects

    def _probe(self, keys: list[Any], digests: list[Any]) -> list[tuple[int, bool]]:
        """(position, is new) of the records whose row is missing or differs: one statement."""
        who = {"user_id": self.user_id, "account_id": self.account_id}
        with self.engine.connect() as conn:
            return self.writer.differing(
                read_only(conn), self.target, keys, digests, column=SOURCE_HASH_COLUMN, **who
            )


class DiffSink:
    """Classifies batches like the writer does and reports them; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        target: Target,
        *,
        user_id: str,
        account_id: str,
        account: str,
        step: str,
        columns: Sequence[str],
        upsert: bool,
        pending_inserts: set[str],
        report: DiffReport,
    ) -> None:
        self.engine = engine
        self.target = target
        self.user_id = user_id
        self.account_id = account_id
        self.writer = writer_for(engine)
        self.account = account
        self.step = step
        self.columns = [name for name in columns if name != target.key_column]
        self.upsert = upsert
        self.pending_inserts = pending_inserts
        self.report = report

    def flush(
        self, rows: Sequence[Mapping[str, Any]], rejects: Sequence[Mapping[str, Any]]
    ) -> WriteCounts:
        key_name = self.target.key_column
        with self.engine.connect() as conn:
            existing = self.writer.fetch_existing(
                read_only(conn),
                self.target,
                [row[key_name] for row in rows],
                user_id=self.user_id,
                account_id=self.account_id,
                columns=self.columns,
            )
        counts = WriteCounts()
        for row in rows:
            key = row[key_name]
            before = existing.get(key)
            if before is None and key in self.pending_inserts:
                before = dict.fromkeys(self.columns)  # inserted by an earlier step: empty
            if before is None:
                if self.upsert:
                    counts.inserted += 1
                    self.pending_inserts.add(key)
                    changes = {
                        n: (None, row.get(n)) for n in self.columns if row.get(n) is not None
                    }
                    self.report(DiffEntry(self.account, self.step, "insert", key, changes))
                else:
                    counts.unmatched += 1
                continue
            changes = {
                name: (before.get(name), row.get(name))
                for name in self.columns
                if not same(before.get(name), row.get(name))
            }
            if self.upsert:
                changed = before.get("content_hash") != row.get("content_hash")
            else:
                changed = bool(changes)
            if changed:
                counts.updated += 1
                self.report(DiffEntry(self.account, self.step, "update", key, changes))
            else:
                counts.unchanged += 1
        for reject in rejects:
            reason, field_name = reject["reason"], reject.get("field")
            if field_name and not reason.startswith(field_name):
                reason = f"{field_name}: {reason}"
            self.report(
                DiffEntry(self.account, self.step, "reject", reject.get("external_id"), {}, reason)
            )
        return counts


def record_activity(engine: Engine, entries: list[dict[str, Any]]) -> None:
    """Write activity log entries (one transaction)."""
    with engine.begin() as conn:
        insert_activity(conn, entries)
