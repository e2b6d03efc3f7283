"""The job handler registry: which function runs a claimed job.

Every sync type declared in `specs/sync_types.yaml` runs through one generic handler, which
the sync engine installs at start-up (`runner.sync.register_handlers(registry)`, called by
`load_handlers`): a new sync type needs YAML only. A handler registered under a name (tests,
`$SYNC_RUNNER_HANDLER_MODULES`) runs that name's jobs instead. The worker looks a claimed
job's handler up by `import_jobs.source_type`.

    from runner.handlers import JobContext, register

    @register("inventory_update")
    def inventory_update(ctx: JobContext) -> dict:
        for page in pages:
            ctx.checkpoint()          # raises JobInterrupted when the worker must stop
            ...
        return {"updated": 3}          # result_data (JSON-able)

A handler returns its `result_data`, or raises (see `runner.errors`):
- `RetryLater(message, delay_seconds)`: defer the job by the delay; no attempt is charged;
  a `BudgetWait` (a spent request budget) defers it to its `until` and keeps its
  `result_data` (what the job did, what it waits for);
- `TransientError`: retry with exponential, capped, jittered backoff until `max_attempts`,
  then `failed`;
- `PermanentError`: `failed` at once;
- `JobFailed`: its `errors` and `result_data` are recorded; retried if `.transient` and
  attempts remain, else `failed`;
- `JobInterrupted`: the job goes back to `pending` and the attempt is not charged;
- anything else: `failed` with the exception's one-line message (traceback in debug logs).
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from runner.clock import Clock, SystemClock
from runner.errors import JobInterrupted, PermanentError
from runner.spec.model import SpecSet

HANDLER_MODULES_ENV = "SYNC_RUNNER_HANDLER_MODULES"


@dataclass(frozen=True)
class Job:
    """A frozen snapshot of a claimed `import_jobs` row.

    The first ten fields are the contract handlers rely on (`account_id` was `supplier_id`,
    still readable under that name, deprecated). `attempts` counts this attempt
    (attempts are charged when a job is claimed). The others serve the queue itself.
    """

    id: str
    user_id: str
    source_type: str  # the sync type
    account_id: str | None  # the supplier account or marketplace integration; None: all
    status: str
    attempts: int
    max_attempts: int
    priority: int
    metadata: dict[str, Any]
    locked_by: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    dedupe_key: str | None = None
    concurrency_key: str = ""
    scheduled_at: datetime | None = None
    lease_expires_at: datetime | None = None
    # What the job saved of its progress, as claimed (runner.sync.checkpoint); None when the
    # Job was not read from its row.
    checkpoint: Any = None

    @property
    def supplier_id(self) -> str | None:
        """Deprecated: the old name of `account_id`, kept for handlers written against it."""
        warnings.warn(
            "Job.supplier_id is deprecated: use Job.account_id", DeprecationWarning, stacklevel=2
        )
        return self.account_id

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = row._mapping
        return cls(
            id=m["id"],
            user_id=m["user_id"],
            source_type=m["source_type"],
            account_id=m["supplier_id"],  # the column keeps its name in the shop's schema
            status=m["status"],
            attempts=m["attempts"],
            max_attempts=m["max_attempts"],
            priority=m["priority"],
            metadata=dict(m["metadata"] or {}),
            locked_by=m["locked_by"],
            errors=list(m["errors"] or []),
            dedupe_key=m["dedupe_key"],
            concurrency_key=m["concurrency_key"],
            scheduled_at=m["scheduled_at"],
            lease_expires_at=m["lease_expires_at"],
            checkpoint=m["checkpoint"] or {},
        )


def _never_stop() -> str | None:
    return None


@dataclass
class JobContext:
    """Everything a handler gets. `checkpoint()` is cheap: call it between pages/batches."""

    job: Job
    engine: Engine
    specs: SpecSet
    offline: bool = False
    dry_run: bool = False
    clock: Clock = field(default_factory=SystemClock)
    log: logging.Logger | logging.LoggerAdapter = field(
        default_factory=lambda: logging.getLogger("sync_runner.job")
    )
    # Set by the worker: returns why the job must stop (SIGTERM, lease lost), else None.
    stop_reason: Callable[[], str | None] = field(default=_never_stop, repr=False)

    def checkpoint(self) -> None:
        """Raise `JobInterrupted` if the worker is stopping or has lost this job's lease."""
        reason = self.stop_reason()
        if reason:
            raise JobInterrupted(reason)


Handler = Callable[[JobContext], dict]


class NoHandler(PermanentError):
    """No handler is registered for a job's sync type, and the specs do not declare it."""


class HandlerRegistry:
    """Handlers by sync type, and the one handler of every declared sync type."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._declared: Handler | None = None

    def register(self, sync_type: str, handler: Handler, *, replace: bool = False) -> None:
        """Make `handler` run jobs of `sync_type`; a different one under a taken name raises,
        unless `replace=True`."""
        current = self._handlers.get(sync_type)
        if current is not None and current is not handler and not replace:
            name = getattr(current, "__qualname__", repr(current))
            raise ValueError(f"sync type {sync_type!r} already has a handler: {name}")
        self._handlers[sync_type] = handler

    def handle_declared(self, handler: Handler) -> None:
        """Make `handler` run every sync type the job's specs declare (and none registered)."""
        self._declared = handler

    def get(self, sync_type: str) -> Handler:
        """The handler of `sync_type`. Without one registered, the declared sync types'
        handler, which raises `NoHandler` for a sync type the job's specs do not declare."""
        handler = self._handlers.get(sync_type)
        if handler is not None:
            return handler
        declared = self._declared
        if declared is None:
            raise self._missing(sync_type)

        def run_declared(ctx: JobContext) -> dict:
            if sync_type not in ctx.specs.sync_types:
                raise self._missing(sync_type)
            return declared(ctx)

        return run_declared

    def types(self) -> list[str]:
        return sorted(self._handlers)

    def _missing(self, sync_type: str) -> NoHandler:
        known = ", ".join(self.types()) or "none"
        return NoHandler(f"no handler registered for sync type {sync_type!r} (registered: {known})")


HANDLERS = HandlerRegistry()  # the process's registry, filled at start-up by `load_handlers`


def register(sync_type: str, *, replace: bool = False) -> Callable[[Handler], Handler]:
    """Decorator: make `handler` the one that runs jobs of `sync_type` (in `HANDLERS`).

    Registering a different function under a taken name raises, unless `replace=True`.
    """

    def decorator(handler: Handler) -> Handler:
        HANDLERS.register(sync_type, handler, replace=replace)
        return handler

    return decorator


def get_handler(sync_type: str) -> Handler:
    """The handler of `sync_type` (see `HandlerRegistry.get`); raises `NoHandler`."""
    return HANDLERS.get(sync_type)


def registered_types() -> list[str]:
    return HANDLERS.types()


def load_handlers(
    environ: Mapping[str, str] | None = None, registry: HandlerRegistry = HANDLERS
) -> None:
    """Fill the registry at start-up: the sync engine's handler of every declared sync type
    (`runner.sync.register_handlers`), then every module named in
    `$SYNC_RUNNER_HANDLER_MODULES` (comma-separated; extra handlers, tests). Idempotent.
    """
    from runner.sync import register_handlers

    environ = os.environ if environ is None else environ
    register_handlers(registry)
    for name in filter(None, (m.strip() for m in environ.get(HANDLER_MODULES_ENV, "").split(","))):
        importlib.import_module(name)
