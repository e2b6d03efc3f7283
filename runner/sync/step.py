"""Run one planned step of one account: its pages through the pipeline into its sink.

A list step streams the operation's pages; a lookup step fans known ids out over
`Connector.lookup`: the ids come from streaming its `ids_from` list operation, or from the
known rows selected by `runner.sync.select` (products not synced for `stale_after`, orders
not in a final status). In a list step that creates rows, the fetch thread only hashes the
records, and the step's thread maps those whose hash differs from their row's
(`SourceFilter`): an unchanged record is neither mapped nor written. A complete listing then
records what it saw (`runner.sync.seen`) and applies the sync type's `on_missing`
(`runner.sync.delist`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from runner.db.write import RowPreparer, WriteCounts
from runner.errors import JobInterrupted, PermanentError, RetryLater
from runner.feeds import FeedUnchanged, feed_version
from runner.mapping import CompiledMapping, Reject
from runner.progress import Status as ProgressStatus
from runner.sync.accounts import AccountRow
from runner.sync.context import SyncContext
from runner.sync.delist import DelistResult, delist_missing
from runner.sync.listed import ListedKeys
from runner.sync.pipeline import Prefetch, Writer
from runner.sync.plan import StepPlan
from runner.sync.results import COUNT_KEYS, StepResult
from runner.sync.seen import confirm_listing, record_listing, tracks_seen
from runner.sync.select import known_keys
from runner.sync.since import ChangedSince
from runner.sync.sinks import SourceFilter, build_sink

# What the fetch thread hands the step per page: (records and feed rejects read, mapped rows,
# rejects, (records, keys, digests) for a source filter, the keys a complete listing
# records (else None), the position after the page).
PageItem = tuple[int, list[dict[str, Any]], list[Reject], Any, Any, Any]


class StepFailed(PermanentError):
    """A step that ran but must count as failed (too many rejects)."""


class StepResultError(Exception):
    """Carries a finished step's counts along with the reason it failed."""

    def __init__(self, result: dict[str, Any], error: Exception) -> None:
        super().__init__(str(error))
        self.result = result
        self.error = error


class Batch:
    """The batch a step is gathering: rows and their rejects, counted, handed to the writer."""

    def __init__(self, run: StepRun, writer: Writer) -> None:
        self._run = run
        self._writer = writer
        self._preparer = RowPreparer(run.ctx.target, run.plan.columns, run.plan.field_types)
        self.rows: list[dict[str, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        self.rejected = 0

    def add(self, mapped: list[dict[str, Any]], bad: list[Reject]) -> None:
        run = self._run
        self.rows.extend(mapped)
        self.rejected += len(bad)
        self.rejects.extend(run.ctx.mapping_reject(run.account, run.plan.name, r) for r in bad)

    def full(self, size: int) -> bool:
        return len(self.rows) >= size or len(self.rejects) >= size

    def flush(self, done: Callable[[], None] | None = None) -> None:
        """Check the rows, then submit them and the rejects; `done` runs once committed."""
        run = self._run
        good, problems, duplicates = self._preparer.prepare(self.rows)
        for problem in problems:
            self.rejects.append(
                run.ctx.reject(
                    run.account,
                    run.plan.name,
                    problem.key,
                    problem.field,
                    problem.reason,
                    problem.row,
                )
            )
        self.rejected += len(problems)
        self._writer.submit(good, self.rejects, duplicates, done)
        self.rows, self.rejects = [], []


class StepRun:
    """One step of one account, run once (see the module docstring)."""

    def __init__(
        self,
        ctx: SyncContext,
        account: AccountRow,
        connector: Any,
        plan: StepPlan,
        pending_inserts: set[str],
    ) -> None:
        self.ctx = ctx
        self.account = account
        self.connector = connector
        self.plan = plan
        self.label = f"{account.spec_name}/{plan.name}"
        self.mapping: CompiledMapping = plan.mapping.for_settings(account.settings)
        request = ctx.request
        self.sink = build_sink(
            plan,
            ctx.engine,
            ctx.target,
            user_id=request.user_id,
            account_id=account.id,
            account=account.spec_name,
            creates_rows=ctx.sync_type.creates_rows,
            clock=ctx.clock,
            dry_run=request.dry_run,
            pending_inserts=pending_inserts,
            report=ctx.on_diff,
        )
        self.source_filter: SourceFilter | None = None
        if plan.source_filter:
            self.source_filter = SourceFilter(
                ctx.engine,
                ctx.target,
                self.mapping,
                request.user_id,
                account.id,
                on_probe=getattr(self.sink, "probed", None),  # a dry run's sink has none
            )
        self.changes: ChangedSince | None = None
        if plan.step.changed_since is not None:
            self.changes = ChangedSince(
                ctx.engine,
                plan.step.changed_since,
                user_id=request.user_id,
                account_id=account.id,
                sync_type=request.sync_type,
                step=plan.name,
                began=ctx.clock.now(),
            )
        self.start: dict[str, Any] | None = None  # a checkpointed position
        if ctx.resume and plan.operation.kind == "list" and plan.operation.resume == "position":
            self.start = ctx.resume.position(account.id, plan.name)
        listens = bool(ctx.sync_type.on_missing) or tracks_seen(ctx.target)
        # The keys a complete listing saw, streamed to the database. After a checkpoint, the
        # keys of the pages read before it are not there: this run cannot tell what the
        # listing left out. A dry run writes nothing, so it records nothing either.
        self.listed: ListedKeys | None = None
        if plan.complete and listens and not request.dry_run and self.start is None:
            self.listed = ListedKeys(ctx.engine, ctx.target)
        self.resumed_listing = plan.complete and listens and self.start is not None
        self.fetched = self.pages = 0
        self.position: Any = self.start  # where the step goes on after the pages consumed
        self.written = WriteCounts()
        self.batch: Batch | None = None
        self.requests_before = connector.requests
        self.started = time.perf_counter()

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run the step; return its result. Raises `StepResultError` (with the counts so far)
        when it fails or waits for a budget."""
        try:
            return self._run()
        finally:
            if self.listed is not None:
                self.listed.close()

    def _run(self) -> dict[str, Any]:
        ctx, plan = self.ctx, self.plan
        ctx.log(logging.INFO, "step.started", f"{self.label} started", **self._where())
        expect_feed = getattr(self.connector, "expect_feed_version", None)
        if expect_feed is not None and plan.operation.format.is_feed:
            expect_feed(
                plan.operation.name, feed_version(self.mapping.fingerprint, plan.operation.format)
            )
        status: ProgressStatus = "failed"
        try:
            self._stream()
            status = "failed" if self._too_many_rejects() else "ok"
        except (JobInterrupted, KeyboardInterrupt):
            status = "interrupted"
            raise
        except FeedUnchanged as unchanged:  # nothing to read, nothing written
            status = "ok"
            return self._unchanged(unchanged)
        except Exception as exc:  # keep what the step did before it failed
            if isinstance(exc, RetryLater):
                status = "waiting"
            raise StepResultError(self._result("failed"), exc) from exc
        finally:
            ctx.progress.finish(self.label, self.fetched, self.pages, status=status)
        if self._too_many_rejects():
            rejected, fetched, ratio = self._rejected(), self.fetched, plan.max_reject_ratio
            raise StepResultError(
                self._result("failed"),
                StepFailed(
                    f"{rejected} of {fetched} records rejected ({rejected / fetched:.0%}), "
                    f"more than the allowed {ratio:.0%}; see sync_rejects"
                ),
            )
        return self._finished()

    def _stream(self) -> None:
        """Pages -> batches -> the sink, through the pipeline's threads."""
        ctx, source_filter = self.ctx, self.source_filter
        # SQLite works inside this process: a second thread would only contend for the GIL.
        writer = Writer(self.sink.flush, background=ctx.engine.dialect.name != "sqlite")
        self.written = writer.counts
        batch = self.batch = Batch(self, writer)
        listed = self.listed
        with Prefetch(self._mapped_pages()) as stream, writer:
            try:
                for size, mapped, bad, hashed, keys, at in stream:
                    ctx.checkpoint()
                    self.pages += 1
                    self.fetched += size
                    self.position = at
                    if listed is not None:
                        listed.add(keys)
                    if source_filter is not None:
                        source_filter.add(*hashed)
                        if source_filter.waiting >= ctx.batch_rows:
                            mapped, more = source_filter.take(writer.counts)
                            bad = bad + more
                    batch.add(mapped, bad)
                    if batch.full(ctx.batch_rows):
                        # every page consumed is in this batch unless records wait
                        waiting = source_filter is not None and source_filter.waiting
                        batch.flush(None if waiting else self._saved())
                    ctx.progress.update(self.label, self.fetched, self.pages)
            except RetryLater:
                # A budget ran out: write what the pages so far brought, and save the
                # position after them, so that the job resumes at the next page.
                if source_filter is not None:
                    batch.add(*source_filter.take(writer.counts))
                batch.flush(self._saved())
                writer.finish()
                raise
            if source_filter is not None:
                batch.add(*source_filter.take(writer.counts))
            batch.flush()
            writer.finish()

    def _saved(self) -> Callable[[], None] | None:
        """Saves the position after the pages consumed so far, once their batch committed."""
        resume = self.ctx.resume
        if resume is None or self.ctx.request.dry_run:
            return None
        account_id, name, at = self.account.id, self.plan.name, self.position
        return lambda: resume.save_position(account_id, name, at)

    def _mapped_pages(self) -> Iterator[PageItem]:
        """Runs on the fetch thread, so that its work overlaps the database's. With a source
        filter it only hashes the records: the step maps those that changed."""
        mapping, changes = self.mapping, self.changes
        listing = self.listed is not None
        params = changes.params if changes is not None else {}
        for page in self._pages(params):
            records = page.records
            self.ctx.progress.expect(self.label, page.total_records, page.total_pages)
            if changes is not None:
                changes.see(records)
            unread = page.rejects  # a feed's malformed rows
            size = len(records) + len(unread)
            if self.source_filter is not None:
                keys, digests = mapping.source_hashes(records)
                listed = keys if listing else None
                yield size, [], unread, (records, keys, digests), listed, page.position
            else:
                listed = list(map(mapping.external_id, records)) if listing else None
                mapped, bad = mapping.map_page(records)
                yield size, mapped, bad + unread, None, listed, page.position

    def _pages(self, params: Mapping[str, str]) -> Iterator[Any]:
        """The step's pages: a list (with `params` on its first request, or from the
        checkpointed start), or lookups fed by `ids_from` or by the known rows."""
        op, step, connector = self.plan.operation, self.plan.step, self.connector
        if op.kind != "lookup":
            yield from connector.list(op.name, params, self.start)
            return
        if step.ids_from:
            # The list streams while its ids' lookups are in flight (the connector's client
            # lends each connection to one thread at a time, so the two can overlap).
            ids = _listed_ids(connector, step.ids_from)
        else:
            ids = (key for chunk in self._known() for key in chunk)
        yield from connector.lookup(op.name, ids)

    def _known(self) -> Iterator[list[str]]:
        ctx, sync_type = self.ctx, self.ctx.sync_type
        stale = ctx.request.metadata.get("stale_after_seconds", sync_type.stale_after_seconds)
        synced_before: datetime | None = None
        if stale:
            synced_before = ctx.clock.now() - timedelta(seconds=float(stale))
        return known_keys(
            ctx.engine,
            ctx.target,
            user_id=ctx.request.user_id,
            account_id=self.account.id,
            synced_before=synced_before,
            status_in=sync_type.status_in,
            status_not_in=sync_type.status_not_in,
        )

    # -- how it ended -------------------------------------------------------------------------

    def _rejected(self) -> int:
        return self.batch.rejected if self.batch is not None else 0

    def _too_many_rejects(self) -> bool:
        return bool(self.fetched) and self._rejected() / self.fetched > self.plan.max_reject_ratio

    def _result(self, status: str, **extra: Any) -> dict[str, Any]:
        plan, changes = self.plan, self.changes
        return StepResult(
            operation=plan.operation.name,
            mapping=plan.mapping_name,
            upsert=plan.upsert,
            status=status,
            fetched=self.fetched,
            written=self.written,
            skipped=self.source_filter.skipped if self.source_filter else 0,
            rejected=self._rejected(),
            defaulted=self.mapping.defaulted_count,
            defaulted_values=self.mapping.defaulted,
            requests=self.connector.requests - self.requests_before,
            seconds=round(time.perf_counter() - self.started, 3),
            changed_since=changes.params if changes is not None else None,
            resumed_at_page=self.start.get("pages", 0) if self.start else None,
            extra=extra,
        ).as_dict()

    def _unchanged(self, unchanged: FeedUnchanged) -> dict[str, Any]:
        """A feed that did not change: its last listing confirmed, nothing written."""
        ctx = self.ctx
        result = self._result("unchanged", reason=unchanged.reason)
        if self.listed is not None and tracks_seen(ctx.target):
            with ctx.engine.begin() as conn:
                confirm_listing(
                    conn,
                    ctx.target,
                    user_id=ctx.request.user_id,
                    account_id=self.account.id,
                    now=ctx.clock.now(),
                )
        ctx.log(
            logging.INFO,
            "step.unchanged",
            f"{self.label}: unchanged, {unchanged.reason}",
            activity=True,
            **self._where(),
        )
        return result

    def _finished(self) -> dict[str, Any]:
        ctx = self.ctx
        result = self._result("ok")
        if self.listed is not None:
            result.update(self._after_listing(self.listed))
        elif self.resumed_listing and not ctx.request.dry_run:
            reason = "the listing was resumed from a checkpoint: nothing recorded this run"
            result["on_missing" if ctx.sync_type.on_missing else "seen"] = {"refused": reason}
        if self.changes is not None and not ctx.request.dry_run:
            self.changes.save(now=ctx.clock.now())
        commit_feed = getattr(self.connector, "commit_feed", None)
        if commit_feed is not None:
            commit_feed(self.plan.operation.name)  # a feed read in full: remembered only now
        ctx.log(
            logging.INFO,
            "step.finished",
            f"{self.label} finished{self.mapping.defaulted_note()}",
            counts={k: result[k] for k in (*COUNT_KEYS, "seconds")},
            activity=True,
            **self._where(),
        )
        return result

    def _after_listing(self, keys: ListedKeys) -> dict[str, Any]:
        """After a complete listing: record what it saw (runner.sync.seen) and apply the sync
        type's `on_missing` (runner.sync.delist), in one transaction on the connection that
        holds the listed keys."""
        ctx, sync_type, account = self.ctx, self.ctx.sync_type, self.account
        now = ctx.clock.now()
        outcome = None
        extra: dict[str, Any] = {}
        with keys.finish() as (conn, listed):
            if sync_type.on_missing:
                outcome = delist_missing(
                    conn,
                    ctx.target,
                    listed,
                    user_id=ctx.request.user_id,
                    account_id=account.id,
                    values=sync_type.on_missing,
                    max_ratio=sync_type.max_missing_ratio,
                    now=now,
                )
                extra["on_missing"] = outcome.as_dict()
            if tracks_seen(ctx.target):
                marked = record_listing(
                    conn,
                    ctx.target,
                    listed,
                    user_id=ctx.request.user_id,
                    account_id=account.id,
                    now=now,
                )
                extra["seen"] = {"missing": marked.missing, "returned": marked.returned}
        if outcome is not None:
            self._log_delist(outcome)
        return extra

    def _log_delist(self, outcome: DelistResult) -> None:
        if outcome.refused:
            message = f"{self.label}: {outcome.refused}"
            self.ctx.log(
                logging.WARNING, "step.delist_refused", message, activity=True, **self._where()
            )
        elif outcome.delisted:
            message = (
                f"{self.label}: {outcome.delisted} row(s) no longer listed: "
                f"set {self.ctx.sync_type.on_missing}"
            )
            self.ctx.log(logging.INFO, "step.delisted", message, activity=True, **self._where())

    def _where(self) -> dict[str, Any]:
        return {"account": self.account, "step": self.plan.name}


def _listed_ids(connector: Any, operation: str) -> Iterator[str]:
    for page in connector.list(operation):
        for record in page.records:
            value = connector.id_of(operation, record)
            if value is not None:
                yield value
