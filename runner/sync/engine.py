"""Run one sync: every step of a sync type, for each account of a user, streamed and batched.

For each active supplier of the job's user (each marketplace integration for a marketplace
sync type such as `order_sync`), or only the job's `supplier_id`, the engine runs the steps
that the account's connector spec declares for the sync type:

- a list step streams the operation's pages;
- a lookup step fans known ids out over `Connector.lookup`: the ids come from streaming its
  `ids_from` list operation, or from the known rows selected by `runner.sync.select`
  (products not synced for `stale_after`, orders not in a final status);
- the first step of a sync type that creates rows upserts; every other step updates only
  its own columns on rows that already exist (`runner.db.write`).

Three stages overlap, joined by small bounded queues: a fetch thread fetches and maps pages
(at most `PREFETCH_PAGES` ahead), the step's thread checks the rows and gathers batches of
`batch_rows`, and on Postgres a write thread writes one batch while the next is being made
(at most one batch waits; SQLite, which works inside this process, is written inline). In a
list step that creates rows, the fetch thread only hashes the records, and the step's thread
maps those whose hash differs from their row's (`_SourceFilter`): an unchanged record is
neither mapped nor written.
Memory stays flat whatever the size of the catalogue. A connector without steps for the sync
type is recorded as skipped; one account's failure is recorded and the others go on; the job
then raises `JobFailed` with the partial result. A dry run computes the same classification
(`runner.sync.diff`) and writes nothing at all.

An account whose budget is spent for longer than a worker may wait (`RetryLater`, raised by
the connector) is "waiting": the other accounts go on, and the job then raises `BudgetWait`
with the result so far, so that the queue defers it to the moment the slot opens, attempt not
charged. A queued job saves its progress as it goes (`runner.sync.checkpoint`): when it runs
again it skips the accounts and steps it finished and resumes the running step at its page.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from runner.clock import Clock, SystemClock
from runner.db.engine import read_only
from runner.db.write import (
    TARGETS,
    BatchWriter,
    RowPreparer,
    Target,
    WriteBatch,
    WriteCounts,
    insert_activity,
    insert_rejects,
    writer_for,
)
from runner.errors import (
    BudgetWait,
    JobFailed,
    JobInterrupted,
    PermanentError,
    RetryLater,
    SyncRunnerError,
    TransientError,
)
from runner.feeds import FeedUnchanged, feed_version
from runner.feeds.state import FeedStateStore
from runner.mapping import SOURCE_HASH_COLUMN, CompiledMapping, Reject, compile_mapping
from runner.progress import Progress
from runner.progress import Status as ProgressStatus
from runner.redact import redact
from runner.spec.model import ConnectorSpec, SpecSet, StepSpec, SyncTypeSpec
from runner.sync.accounts import AccountRow, live_connector, load_accounts
from runner.sync.checkpoint import JobCheckpoint
from runner.sync.delist import DelistResult, delist_missing, load_listed
from runner.sync.diff import DiffReport, DiffSink
from runner.sync.seen import confirm_listing, record_listing, tracks_seen
from runner.sync.select import known_keys
from runner.sync.since import ChangedSince

log = logging.getLogger("sync_runner.sync")

BATCH_ROWS = 5000  # rows per write statement
PREFETCH_PAGES = 6  # pages fetched ahead of the step (while it waits for the database)
# While a sync runs (see _tuned_for_streaming):
GC_YOUNG = 50_000  # the collector's young threshold
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL before it must offer it
ANALYZE_AFTER_ROWS = 1000  # inserted rows before the first statistics refresh
COUNT_KEYS = ("fetched", "inserted", "updated", "unchanged", "unmatched", "duplicates")
COUNT_KEYS += ("rejected", "defaulted", "requests")


@dataclass(frozen=True)
class SyncRequest:
    """What to sync: a user's accounts for one sync type (a job, or a one-off `sync`)."""

    user_id: str
    sync_type: str
    supplier_id: str | None = None  # one supplier or integration; None = all active ones
    job_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    offline: bool = False


class StepFailed(PermanentError):
    """A step that ran but must count as failed (too many rejects)."""


def run_sync(
    engine: Engine,
    specs: SpecSet,
    request: SyncRequest,
    *,
    clock: Clock | None = None,
    checkpoint: Callable[[], None] | None = None,
    on_diff: DiffReport | None = None,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
    resume: JobCheckpoint | None = None,
) -> dict[str, Any]:
    """Run the sync and return its `result_data`.

    Raises `JobFailed` (with the partial result) when an account failed, `BudgetWait` (with
    the partial result) when an account waits for a budget, `PermanentError` for an unknown
    sync type or supplier, and lets `JobInterrupted` from `checkpoint` through.
    `on_diff` receives every change a dry run finds. `resume`: the job's checkpoint.
    """
    with _tuned_for_streaming():
        return _Sync(
            engine,
            specs,
            request,
            clock=clock or SystemClock(),
            checkpoint=checkpoint or (lambda: None),
            on_diff=on_diff or (lambda entry: None),
            progress=progress or Progress(),
            env=env,
            batch_rows=batch_rows,
            resume=resume,
        ).run()


class _StreamingTuning:
    """The interpreter tuned for a sync's three threads while the sync runs, then restored.

    - The cyclic garbage collector. A sync allocates millions of short-lived containers
      (records, rows) that refcounting frees and that form no cycles, yet with the default
      thresholds the collector ran about 400 young and 4 full collections per 100,000
      products, 0.6 to 0.8 s with the GIL held: records waiting in the pipeline's queues
      survive into the older generations and are scanned again and again. Here the young
      generation collects every `GC_YOUNG` net allocations (0.05 to 0.1 s per 100,000), and
      what was alive before the sync (modules, specs, compiled mappings) is frozen out of
      full collections. Cycles made meanwhile are still collected.
    - The GIL's switch interval. The write and fetch threads wait on sockets hundreds of
      times per batch; each time, they need the GIL back from the mapping thread, which
      gives it up only every switch interval (5 ms by default). At `SWITCH_INTERVAL` the
      step no longer waits for the writer (a cold sync of 100,000: 1.4 to 1.8 s of waiting
      -> under 0.3 s; the job 9% faster, median of 5).

    Both settings belong to the process: syncs that overlap in one process (threads) share
    one tuning, set by the first to start and undone by the last to end.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved: tuple[tuple[int, int, int], float] = ((0, 0, 0), 0.0)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                threshold, interval = gc.get_threshold(), sys.getswitchinterval()
                self._saved = (threshold, interval)
                gc.freeze()
                gc.set_threshold(max(threshold[0], GC_YOUNG), threshold[1], threshold[2])
                sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    threshold, interval = self._saved
                    sys.setswitchinterval(interval)
                    gc.set_threshold(*threshold)
                    gc.unfreeze()


_tuned_for_streaming = _StreamingTuning()


class _Sink(Protocol):
    def flush(self, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> WriteCounts: ...


@dataclass
class _DatabaseSink:
    """Writes one step's batches: rows, the checked mark of lookups, and rejects, together."""

    engine: Engine
    target: Target
    user_id: str
    scope_id: str
    columns: tuple[str, ...]
    upsert: bool
    lookup: bool
    clear_hash: bool
    clock: Clock
    inserted: int = 0
    analyzed_at: int = 0  # `inserted` when the statistics were last refreshed
    # The last batch met existing rows (unknown at first). While batches meet none (a first
    # sync), the next one is inserted straight away, without asking which rows exist.
    met_existing: bool = True
    # Rows come through a _SourceFilter: new or changed at the source, so rarely unchanged,
    # and reading their stored hashes first would seldom spare a write.
    prefiltered: bool = False

    def __post_init__(self) -> None:
        self.writer: BatchWriter = writer_for(self.engine)

    def flush(self, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> WriteCounts:
        now = self.clock.now()
        batch = WriteBatch(
            target=self.target,
            user_id=self.user_id,
            account_id=self.scope_id,
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


class _Sync:
    def __init__(
        self,
        engine: Engine,
        specs: SpecSet,
        request: SyncRequest,
        *,
        clock: Clock,
        checkpoint: Callable[[], None],
        on_diff: DiffReport,
        progress: Progress,
        env: Mapping[str, str] | None,
        batch_rows: int,
        resume: JobCheckpoint | None = None,
    ) -> None:
        self.engine = engine
        self.resume = resume
        self.waits: list[tuple[str, datetime]] = []  # (budget, until) the accounts wait for
        self.specs = specs
        self.request = request
        self.clock = clock
        self.checkpoint = checkpoint
        self.on_diff = on_diff
        self.progress = progress
        self.env = env
        self.batch_rows = batch_rows
        sync_type = specs.sync_types.get(request.sync_type)
        if sync_type is None:
            known = ", ".join(sorted(specs.sync_types))
            raise PermanentError(f"unknown sync type {request.sync_type!r} (known: {known})")
        self.sync_type: SyncTypeSpec = sync_type
        self.target = TARGETS[sync_type.target]

    # -- the job ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        request = self.request
        started = time.perf_counter()
        # A queued job's start is logged by the worker; a one-off sync logs its own.
        level = logging.INFO if request.job_id is None else logging.DEBUG
        self._log(level, "job.started", f"{request.sync_type} started")
        accounts = load_accounts(
            self.engine, request.user_id, self.sync_type.source, request.supplier_id
        )
        results: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, Any]] = []
        for account in accounts:
            self.checkpoint()
            done = self.resume.finished_account(account.id) if self.resume else None
            result = done if done is not None else self._account(account)
            results[account.id] = result
            if result["status"] == "failed":
                errors.append(
                    {
                        "supplier_id": account.id,
                        "supplier": account.spec_name,
                        "step": result["failed_step"],
                        "error": result["error"],
                        "transient": result["transient"],
                    }
                )
        totals = _sum(result["totals"] for result in results.values())
        totals["seconds"] = round(time.perf_counter() - started, 3)
        result_data = {
            "sync_type": request.sync_type,
            "dry_run": request.dry_run,
            "accounts": results,
            "totals": totals,
        }
        if self.waits:
            result_data["waiting_for"] = [
                {"budget": budget, "until": _iso(until)} for budget, until in self.waits
            ]
        failed = len(errors)
        if failed:
            message = f"{failed} of {len(accounts)} account(s) failed: " + "; ".join(
                f"{e['supplier']}: {e['error']}" for e in errors
            )
            self._log(logging.ERROR, "job.failed", message, counts=totals, activity=True)
            raise JobFailed(
                message,
                errors=errors,
                result_data=result_data,
                transient=all(e["transient"] for e in errors),
            )
        if self.waits:
            budget, until = min(self.waits, key=lambda wait: wait[1])
            message = f"waits for {budget} until {until:%H:%M} UTC"
            self._log(logging.INFO, "job.waiting", message, counts=totals, activity=True)
            delay = max((until - self.clock.now()).total_seconds(), 0.0)
            raise BudgetWait(message, delay, budget=budget, until=until, result_data=result_data)
        message = f"{request.sync_type} finished: {len(accounts)} account(s)"
        self._log(logging.INFO, "job.finished", message, counts=totals, activity=True)
        return result_data

    # -- one account --------------------------------------------------------------------------

    def _account(self, account: AccountRow) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": account.name,
            "connector": account.spec_name,
            "mode": "mock" if self._offline(account) else "live",
            "status": "ok",
            "reason": None,
            "error": None,
            "failed_step": None,
            "transient": False,
            "steps": {},
            "totals": _sum(()),
        }
        spec = self._spec(account)
        steps = spec.syncs.get(self.request.sync_type, ()) if spec is not None else ()
        skip = None  # a missing spec is a failure, below
        if not account.active:
            skip = f"the account is {account.status}"
        elif spec is not None and not steps:
            skip = f"{account.spec_name} declares no steps for {self.request.sync_type}"
        if skip:
            result.update(status="skipped", reason=skip)
            if self.resume:
                self.resume.save_account(account.id, result)
            self._log(
                logging.INFO,
                "step.skipped",
                f"{account.label}: skipped, {skip}",
                account=account,
                activity=True,
            )
            return result
        try:
            if spec is None:
                raise PermanentError(f"no {account.kind} spec named {account.spec_name!r}")
            connector = self._connector(spec, account)
        except Exception as exc:
            return self._failed(result, account, None, exc)
        pending_inserts: set[str] = set()
        finished = self.resume.finished_steps(account.id) if self.resume else {}
        try:
            for index, step in enumerate(steps):
                name = _step_name(step, result["steps"])
                self.checkpoint()
                if name in finished:  # done before this run of the job
                    result["steps"][name] = finished[name]
                    result["totals"] = _sum(result["steps"].values())
                    continue
                self.progress.begin(f"{account.spec_name}/{name}", index + 1, len(steps))
                try:
                    step_result = self._step(
                        account, spec, connector, step, name, index, pending_inserts
                    )
                except JobInterrupted:
                    raise
                except Exception as exc:
                    if isinstance(exc, _StepResultError):
                        result["steps"][name] = exc.result
                    cause = exc.error if isinstance(exc, _StepResultError) else exc
                    if isinstance(cause, RetryLater):
                        return self._waiting(result, account, name, cause)
                    return self._failed(result, account, name, exc)
                result["steps"][name] = step_result
                result["totals"] = _sum(result["steps"].values())
                if self.resume and index < len(steps) - 1:  # the last: save_account below
                    self.resume.save_step(account.id, result)
        finally:
            connector.close()
        if self.resume:
            self.resume.save_account(account.id, result)
        return result

    def _waiting(
        self, result: dict[str, Any], account: AccountRow, step: str, exc: RetryLater
    ) -> dict[str, Any]:
        """The account waits for a budget: the job is deferred once the others are done."""
        budget = getattr(exc, "budget", None) or account.spec_name
        until = getattr(exc, "until", None) or self.clock.now() + timedelta(
            seconds=exc.delay_seconds
        )
        self.waits.append((budget, until))
        result.update(status="waiting", waiting_for=budget, until=_iso(until))
        waiting = result["steps"].get(step) or {}
        waiting.update(status="waiting", waiting_for=budget, until=_iso(until))
        result["steps"][step] = waiting
        result["totals"] = _sum(s for s in result["steps"].values() if "fetched" in s)
        self._log(
            logging.INFO,
            "step.waiting",
            f"⏸ {account.label}/{step} waits for {budget} until {until:%H:%M} UTC",
            account=account,
            step=step,
            activity=True,
        )
        return result

    def _failed(
        self, result: dict[str, Any], account: AccountRow, step: str | None, exc: Exception
    ) -> dict[str, Any]:
        cause = exc.error if isinstance(exc, _StepResultError) else exc
        transient = isinstance(cause, TransientError | OperationalError)
        error = _describe(cause)
        result.update(status="failed", error=error, failed_step=step, transient=transient)
        if step is not None:
            failed = result["steps"].get(step) or {"status": "failed"}
            failed.update(status="failed", error=error)
            result["steps"][step] = failed
        result["totals"] = _sum(s for s in result["steps"].values() if "fetched" in s)
        where = f"{account.label}/{step}" if step else account.label
        self._log(
            logging.ERROR,
            "step.failed",
            f"{where} failed: {error}",
            account=account,
            step=step,
            activity=True,
            exc_info=not isinstance(cause, SyncRunnerError | OperationalError),
        )
        return result

    def _spec(self, account: AccountRow) -> ConnectorSpec | None:
        pool = self.specs.suppliers if account.kind == "supplier" else self.specs.marketplaces
        return pool.get(account.spec_name)

    def _offline(self, account: AccountRow) -> bool:
        return self.request.offline or account.mode == "mock"

    def _connector(self, spec: ConnectorSpec, account: AccountRow) -> Any:
        if self._offline(account):
            from runner.mock import MockConnector

            seed = int(account.settings.get("mock_seed", 0) or 0)
            return MockConnector(spec, self.specs, seed=seed)
        from runner.budgets import BudgetStore
        from runner.db.sessions import DatabaseTokenStore

        def tokens(credentials: Mapping[str, Any]) -> DatabaseTokenStore | None:
            # Session tokens (auth session_token) live in the database; a dry run writes
            # nothing, so it keeps its token in memory.
            if self.request.dry_run:
                return None
            return DatabaseTokenStore(
                self.engine, self.request.user_id, account.id, credentials, self.clock
            )

        feeds = FeedStateStore(
            self.engine,
            self.request.user_id,
            account.id,
            self.request.sync_type,
            self.clock,
            read_only=self.request.dry_run,
        )
        # A secret the account needs and lacks fails this account with one line.
        return live_connector(
            spec,
            account,
            self.env,
            token_store=tokens,
            feed_state=feeds,
            budgets=BudgetStore(self.engine, account.id, self.clock).make,
        )

    # -- one step -----------------------------------------------------------------------------

    def _step(
        self,
        account: AccountRow,
        spec: ConnectorSpec,
        connector: Any,
        step: StepSpec,
        name: str,
        index: int,
        pending_inserts: set[str],
    ) -> dict[str, Any]:
        sync_type = self.sync_type
        op = spec.operations[step.operation]
        mapping_name = step.mapping or op.mapping
        if mapping_name is None or mapping_name not in self.specs.mappings:
            raise PermanentError(f"{spec.name}.{op.name}: no mapping to turn records into rows")
        mapping_spec = self.specs.mappings[mapping_name]
        if mapping_spec.target != sync_type.target:
            raise PermanentError(
                f"mapping {mapping_name} writes {mapping_spec.target}, "
                f"but {sync_type.name} writes {sync_type.target}"
            )
        wanted = set(sync_type.fields)
        if step.fields is not None:
            wanted &= set(step.fields)
        mapping = compile_mapping(mapping_spec, fields=wanted).for_settings(account.settings)
        key = self.target.key_column
        columns = tuple(c for c in mapping.columns if c != key)
        upsert = index == 0 and sync_type.creates_rows
        lookup = op.kind == "lookup"
        label = f"{account.spec_name}/{name}"
        self._log(logging.INFO, "step.started", f"{label} started", account=account, step=name)

        sink: _Sink
        if self.request.dry_run:
            sink = DiffSink(
                self.engine,
                self.target,
                user_id=self.request.user_id,
                scope_id=account.id,
                account=account.spec_name,
                step=name,
                columns=columns,
                upsert=upsert,
                pending_inserts=pending_inserts,
                report=self.on_diff,
            )
        else:
            sink = _DatabaseSink(
                self.engine,
                self.target,
                self.request.user_id,
                account.id,
                columns,
                upsert=upsert,
                lookup=lookup,
                clear_hash=not sync_type.creates_rows,
                clock=self.clock,
            )
        # A list step that creates rows maps only the records whose source changed.
        source_filter = None
        if upsert and not lookup:
            source_filter = _SourceFilter(
                self.engine,
                self.target,
                mapping,
                self.request.user_id,
                account.id,
            )
            if isinstance(sink, _DatabaseSink):  # a dry run compares, it writes no hash
                sink.columns = (*columns, SOURCE_HASH_COLUMN)
                sink.prefiltered = True
        # A complete listing records what it saw (runner.sync.seen) and may delist what it
        # did not return (runner.sync.delist).
        complete = upsert and (not lookup or bool(step.ids_from)) and step.changed_since is None
        listens = bool(sync_type.on_missing) or tracks_seen(self.target)
        seen: set[str] | None = set() if complete and listens and not self.request.dry_run else None
        expect_feed = getattr(connector, "expect_feed_version", None)
        if expect_feed is not None and op.format.is_feed:
            expect_feed(op.name, feed_version(mapping.fingerprint, op.format))
        field_types = {f.name: f.type for f in mapping_spec.fields}
        preparer = RowPreparer(self.target, columns, field_types)
        # SQLite works inside this process: a second thread would only contend for the GIL.
        writer = _Writer(sink.flush, background=self.engine.dialect.name != "sqlite")
        counts = writer.counts
        changes = None
        if step.changed_since is not None:
            changes = ChangedSince(
                self.engine,
                step.changed_since,
                user_id=self.request.user_id,
                account_id=account.id,
                sync_type=self.request.sync_type,
                step=name,
                began=self.clock.now(),
            )
        narrow = changes.params if changes is not None else {}
        fetched = rejected = pages = 0
        rows: list[dict[str, Any]] = []
        rejects: list[dict[str, Any]] = []
        started = time.perf_counter()
        requests_before = connector.requests
        start = None
        if self.resume and op.kind == "list" and op.resume == "position":
            start = self.resume.position(account.id, name)
        position: Any = start  # where the step goes on after the pages consumed so far
        if start is not None and seen is not None:
            # The keys of the pages read before the checkpoint are not in `seen`: this run
            # cannot tell what the listing left out, so it delists nothing.
            seen = None

        def flush(saved: bool = False) -> None:
            """Write the batch; with `saved`, checkpoint `position` once it is committed."""
            nonlocal rejected, rows, rejects
            good, problems, duplicates = preparer.prepare(rows)
            for problem in problems:
                rejects.append(
                    self._reject(
                        account, name, problem.key, problem.field, problem.reason, problem.row
                    )
                )
            rejected += len(problems)
            done = None
            if saved and self.resume and not self.request.dry_run:
                resume, at = self.resume, position
                done = lambda: resume.save_position(account.id, name, at)  # noqa: E731
            writer.submit(good, rejects, duplicates, done)
            rows, rejects = [], []

        def mapped_pages() -> Iterator[tuple[int, list[dict[str, Any]], list[Reject], Any]]:
            # Runs on the fetch thread, so that its work overlaps the database's. With a
            # source filter it only hashes the records: the step maps those that changed.
            for page in self._pages(account, spec, connector, op.name, step, narrow, start):
                records = page.records
                at = page.position
                self.progress.expect(label, page.total_records, page.total_pages)
                if changes is not None:
                    changes.see(records)
                unread = page.rejects  # a feed's malformed rows
                size = len(records) + len(unread)
                if source_filter is not None:
                    keys, digests = mapping.source_hashes(records)
                    if seen is not None:
                        seen.update(k for k in keys if k is not None)
                    yield size, [], unread, (records, keys, digests), at
                else:
                    if seen is not None:
                        seen.update(filter(None, map(mapping.external_id, records)))
                    mapped, bad = mapping.map_page(records)
                    yield size, mapped, bad + unread, None, at

        def add(mapped: list[dict[str, Any]], bad: list[Reject]) -> None:
            nonlocal rejected
            rows.extend(mapped)
            rejected += len(bad)
            rejects.extend(self._mapping_reject(account, name, r) for r in bad)

        def summary(status: str) -> dict[str, Any]:
            return {
                "operation": op.name,
                "mapping": mapping_name,
                "mode": "upsert" if upsert else "update",
                "status": status,
                **({"changed_since": narrow} if changes is not None else {}),
                "fetched": fetched,
                **counts.as_dict(),
                "unchanged": counts.unchanged + (source_filter.skipped if source_filter else 0),
                "rejected": rejected,
                # values a value map did not know, given its `map_default` (not rejected)
                "defaulted": mapping.defaulted_count,
                **({"defaulted_values": mapping.defaulted} if mapping.defaulted else {}),
                "requests": connector.requests - requests_before,
                "seconds": round(time.perf_counter() - started, 3),
                **({"resumed_at_page": start.get("pages", 0)} if start else {}),
            }

        ratio = step.max_reject_ratio
        if ratio is None:
            ratio = sync_type.max_reject_ratio
        status: ProgressStatus = "failed"
        try:
            with _Prefetch(mapped_pages()) as stream, writer:
                try:
                    for size, mapped, bad, hashed, at in stream:
                        self.checkpoint()
                        pages += 1
                        fetched += size
                        position = at
                        if source_filter is not None:
                            source_filter.add(*hashed)
                            if source_filter.waiting >= self.batch_rows:
                                mapped, more = source_filter.take(writer.counts)
                                bad = bad + more
                        add(mapped, bad)
                        if len(rows) >= self.batch_rows or len(rejects) >= self.batch_rows:
                            # every page consumed is in this batch unless records wait
                            flush(saved=not (source_filter and source_filter.waiting))
                        self.progress.update(label, fetched, pages)
                except RetryLater:
                    # A budget ran out: write what the pages so far brought, and save the
                    # position after them, so that the job resumes at the next page.
                    if source_filter is not None:
                        add(*source_filter.take(writer.counts))
                    flush(saved=True)
                    writer.finish()
                    raise
                if source_filter is not None:
                    add(*source_filter.take(writer.counts))
                flush()
                writer.finish()
            status = "failed" if fetched and rejected / fetched > ratio else "ok"
        except (JobInterrupted, KeyboardInterrupt):
            status = "interrupted"
            raise
        except FeedUnchanged as unchanged:  # nothing to read, nothing written
            status = "ok"
            result = {**summary("unchanged"), "reason": unchanged.reason}
            if seen is not None and tracks_seen(self.target):  # the last listing, confirmed
                with self.engine.begin() as conn:
                    confirm_listing(
                        conn,
                        self.target,
                        user_id=self.request.user_id,
                        account_id=account.id,
                        now=self.clock.now(),
                    )
            self._log(
                logging.INFO,
                "step.unchanged",
                f"{label}: unchanged, {unchanged.reason}",
                account=account,
                step=name,
                activity=True,
            )
            return result
        except Exception as exc:  # keep what the step did before it failed
            if isinstance(exc, RetryLater):
                status = "waiting"
            raise _StepResultError(summary("failed"), exc) from exc
        finally:
            self.progress.finish(label, fetched, pages, status=status)

        if fetched and rejected / fetched > ratio:
            raise _StepResultError(
                summary("failed"),
                StepFailed(
                    f"{rejected} of {fetched} records rejected ({rejected / fetched:.0%}), "
                    f"more than the allowed {ratio:.0%}; see sync_rejects"
                ),
            )
        result = summary("ok")
        if seen is not None:
            result.update(self._after_listing(account, name, seen))
        elif complete and listens and start is not None and not self.request.dry_run:
            reason = "the listing was resumed from a checkpoint: nothing recorded this run"
            result["on_missing" if sync_type.on_missing else "seen"] = {"refused": reason}
        if changes is not None and not self.request.dry_run:
            changes.save(now=self.clock.now())
        commit_feed = getattr(connector, "commit_feed", None)
        if commit_feed is not None:
            commit_feed(op.name)  # a feed read in full: remembered only now
        self._log(
            logging.INFO,
            "step.finished",
            f"{label} finished{mapping.defaulted_note()}",
            account=account,
            step=name,
            counts={k: result[k] for k in (*COUNT_KEYS, "seconds")},
            activity=True,
        )
        return result

    def _after_listing(self, account: AccountRow, step: str, seen: set[str]) -> dict[str, Any]:
        """After a complete listing: record what it saw (runner.sync.seen) and apply the sync
        type's `on_missing` (runner.sync.delist), in one transaction."""
        sync_type = self.sync_type
        now = self.clock.now()
        key_type = self.target.table.c[self.target.key_column].type
        outcome = None
        extra: dict[str, Any] = {}
        with self.engine.begin() as conn:
            listed = load_listed(conn, key_type, seen)
            if sync_type.on_missing:
                outcome = delist_missing(
                    conn,
                    self.target,
                    listed,
                    user_id=self.request.user_id,
                    scope_id=account.id,
                    values=sync_type.on_missing,
                    max_ratio=sync_type.max_missing_ratio,
                    now=now,
                )
                extra["on_missing"] = outcome.as_dict()
            if tracks_seen(self.target):
                marked = record_listing(
                    conn,
                    self.target,
                    listed,
                    user_id=self.request.user_id,
                    account_id=account.id,
                    now=now,
                )
                extra["seen"] = {"missing": marked.missing, "returned": marked.returned}
        if outcome is not None:
            self._log_delist(account, step, outcome)
        return extra

    def _log_delist(self, account: AccountRow, step: str, outcome: DelistResult) -> None:
        sync_type = self.sync_type
        label = f"{account.spec_name}/{step}"
        if outcome.refused:
            self._log(
                logging.WARNING,
                "step.delist_refused",
                f"{label}: {outcome.refused}",
                account=account,
                step=step,
                activity=True,
            )
        elif outcome.delisted:
            self._log(
                logging.INFO,
                "step.delisted",
                f"{label}: {outcome.delisted} row(s) no longer listed: set {sync_type.on_missing}",
                account=account,
                step=step,
                activity=True,
            )

    def _pages(
        self,
        account: AccountRow,
        spec: ConnectorSpec,
        connector: Any,
        op_name: str,
        step: StepSpec,
        params: Mapping[str, str] | None = None,
        start: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """The step's pages: a list (with `params` on its first request, or from `start`, a
        checkpointed position), or lookups fed by `ids_from` or by the known rows."""
        op = spec.operations[op_name]
        if op.kind != "lookup":
            yield from connector.list(op_name, params, start)
            return
        if step.ids_from:
            # The list streams while its ids' lookups are in flight (the connector's client
            # lends each connection to one thread at a time, so the two can overlap).
            ids = _listed_ids(connector, step.ids_from)
        else:
            ids = (key for chunk in self._known(account) for key in chunk)
        yield from connector.lookup(op_name, ids)

    def _known(self, account: AccountRow) -> Iterator[list[str]]:
        sync_type = self.sync_type
        stale = self.request.metadata.get("stale_after_seconds", sync_type.stale_after_seconds)
        synced_before: datetime | None = None
        if stale:
            synced_before = self.clock.now() - timedelta(seconds=float(stale))
        return known_keys(
            self.engine,
            self.target,
            user_id=self.request.user_id,
            scope_id=account.id,
            synced_before=synced_before,
            status_in=sync_type.status_in,
            status_not_in=sync_type.status_not_in,
        )

    # -- records, logs ------------------------------------------------------------------------

    def _reject(
        self,
        account: AccountRow,
        step: str,
        key: str | None,
        field_name: str | None,
        reason: str,
        payload: Any,
    ) -> dict[str, Any]:
        return {
            "job_id": self.request.job_id,
            "user_id": self.request.user_id,
            "supplier_id": account.id,
            "step": step,
            "external_id": key,
            "field": field_name,
            "reason": reason,
            "payload": payload,
        }

    def _mapping_reject(self, account: AccountRow, step: str, reject: Reject) -> dict[str, Any]:
        return self._reject(
            account, step, reject.external_id, reject.field, reject.reason, reject.payload
        )

    def _log(
        self,
        level: int,
        event: str,
        message: str,
        *,
        account: AccountRow | None = None,
        step: str | None = None,
        counts: Mapping[str, Any] | None = None,
        activity: bool = False,
        exc_info: bool = False,
    ) -> None:
        request = self.request
        extra = {
            "event": event,
            "job_id": request.job_id,
            "user_id": request.user_id,
            "sync_type": request.sync_type,
            "supplier": account.spec_name if account else None,
            "step": step,
            "counts": dict(counts) if counts else None,
        }
        if request.dry_run:
            message = f"[dry run] {message}"
        log.log(level, message, extra=extra, exc_info=exc_info)
        if activity and not request.dry_run:
            entry = {
                "user_id": request.user_id,
                "job_id": request.job_id,
                "supplier_id": account.id if account else request.supplier_id,
                "level": logging.getLevelName(level).lower(),
                "event": event,
                "message": redact(message),
                "details": {k: v for k, v in extra.items() if v is not None},
                "created_at": self.clock.now(),
            }
            with self.engine.begin() as conn:
                insert_activity(conn, [entry])


class _SourceFilter:
    """Leaves out the records whose row already carries their `source_hash`.

    The fetch thread hashes each record (`CompiledMapping.source_hashes`); at a batch's end
    one statement (`BatchWriter.differing`) returns the keys whose stored hash differs
    or that have no row, and only those records are mapped, so an unchanged catalogue is
    neither mapped nor written. Records without a key or hash are always mapped. While
    the batches meet no existing row (a first sync), the statement is skipped.
    """

    def __init__(
        self,
        engine: Engine,
        target: Target,
        mapping: CompiledMapping,
        user_id: str,
        scope_id: str,
    ) -> None:
        self.engine = engine
        self.target = target
        self.mapping = mapping
        self.user_id = user_id
        self.scope_id = scope_id
        self.writer = writer_for(engine)
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
        who = {"user_id": self.user_id, "account_id": self.scope_id}
        with self.engine.connect() as conn:
            return self.writer.differing(
                read_only(conn), self.target, keys, digests, column=SOURCE_HASH_COLUMN, **who
            )


class _StepResultError(Exception):
    """Carries a finished step's counts along with the reason it failed."""

    def __init__(self, result: dict[str, Any], error: Exception) -> None:
        super().__init__(str(error))
        self.result = result
        self.error = error


def _listed_ids(connector: Any, operation: str) -> Iterator[str]:
    for page in connector.list(operation):
        for record in page.records:
            value = connector.id_of(operation, record)
            if value is not None:
                yield value


def _step_name(step: StepSpec, taken: Mapping[str, Any]) -> str:
    name = step.operation
    number = 2
    while name in taken:
        name = f"{step.operation}#{number}"
        number += 1
    return name


def _sum(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = dict.fromkeys(COUNT_KEYS, 0)
    seconds = 0.0
    for part in parts:
        for key in COUNT_KEYS:
            totals[key] += part.get(key, 0) or 0
        seconds += part.get("seconds", 0) or 0
    totals["seconds"] = round(seconds, 3)
    return totals


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _describe(exc: BaseException) -> str:
    """One line, secrets removed: the runner's own errors by message, others with their type."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without the SQL text and its parameters
    text = str(exc) if isinstance(exc, SyncRunnerError) else f"{type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))


# ---------------------------------------------------------------------------------------------
# Fetching ahead


class _Done:
    pass


@dataclass
class _Raised:
    error: BaseException


class _Prefetch:
    """Iterate `source` on a background thread, at most PREFETCH_PAGES items ahead.

    The caller's work on one page overlaps the fetch of the next. An error in the source is
    raised in the caller after the pages fetched before it. Leaving the `with` block early
    stops the thread after its current item.
    """

    def __init__(self, source: Iterator[Any], depth: int = PREFETCH_PAGES) -> None:
        self._source = source
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="sync-fetch", daemon=True)

    def _produce(self) -> None:
        try:
            for item in self._source:
                self._queue.put(item)
                if self._stop.is_set():
                    return
            self._queue.put(_Done())
        except BaseException as exc:
            self._queue.put(_Raised(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Iterator[Any]:
        self._thread.start()
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)


class _Writer:
    """Writes batches on a background thread, in order, with at most one batch waiting.

    Mapping the next batch overlaps the database's work on this one. An error in a write is
    raised in the caller at its next `submit` or at `finish`. Leaving the `with` block early
    drops the waiting batch and waits for the one being written, so that `counts` tells
    exactly what was written. With `background=False` every batch is written at `submit`.
    """

    def __init__(
        self, write: Callable[[list[Any], list[Any]], WriteCounts], *, background: bool = True
    ) -> None:
        self.counts = WriteCounts()
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="sync-write", daemon=True)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the caller raises the error at its next call
            try:
                self._write_one(*item)
            except BaseException as exc:
                self._error = exc

    def _write_one(
        self,
        rows: list[Any],
        rejects: list[Any],
        duplicates: int,
        done: Callable[[], None] | None = None,
    ) -> None:
        batch = self._write(rows, rejects)
        batch.duplicates += duplicates
        self.counts.add(batch)
        if done is not None:
            done()  # after the batch committed (a checkpoint)

    def __enter__(self) -> _Writer:
        if self._thread is not None:
            self._thread.start()
        return self

    def submit(
        self,
        rows: list[Any],
        rejects: list[Any],
        duplicates: int,
        done: Callable[[], None] | None = None,
    ) -> None:
        self._raise()
        if self._thread is None:
            self._write_one(rows, rejects, duplicates, done)
        else:
            self._queue.put((rows, rejects, duplicates, done))

    def finish(self) -> None:
        """Wait until every batch is written; raise the first write error."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
