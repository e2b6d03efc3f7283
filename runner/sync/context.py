"""What every part of one sync shares: the request, the run's settings, its logs and rejects."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from runner.clock import Clock
from runner.db.write import Target
from runner.feeds.state import FeedStateStore
from runner.mapping import Reject
from runner.progress import Progress
from runner.redact import redact
from runner.spec.model import ConnectorSpec, SpecSet, SyncTypeSpec
from runner.sync.accounts import AccountRow, live_connector
from runner.sync.checkpoint import JobCheckpoint
from runner.sync.diff import DiffReport
from runner.sync.sinks import record_activity

log = logging.getLogger("sync_runner.sync")


@dataclass(frozen=True)
class SyncRequest:
    """What to sync: a user's accounts for one sync type (a job, or a one-off `sync`)."""

    user_id: str
    sync_type: str
    # One supplier or integration (`import_jobs.supplier_id`); None = all active ones.
    account_id: str | None = None
    job_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    offline: bool = False


@dataclass
class SyncContext:
    """One sync's request and settings, shared by its accounts and steps."""

    engine: Engine
    specs: SpecSet
    request: SyncRequest
    sync_type: SyncTypeSpec
    target: Target
    clock: Clock
    checkpoint: Callable[[], None]
    on_diff: DiffReport
    progress: Progress
    env: Mapping[str, str] | None
    batch_rows: int
    resume: JobCheckpoint | None

    def offline(self, account: AccountRow) -> bool:
        return self.request.offline or account.mode == "mock"

    def connector(self, spec: ConnectorSpec, account: AccountRow) -> Any:
        """The account's connector: the mock one offline, else HTTP (its session tokens,
        feed state and request budgets kept in the database)."""
        ctx, request = self, self.request
        if ctx.offline(account):
            from runner.mock import MockConnector

            seed = int(account.settings.get("mock_seed", 0) or 0)
            return MockConnector(spec, ctx.specs, seed=seed)
        from runner.budgets import BudgetStore
        from runner.db.sessions import DatabaseTokenStore

        def tokens(credentials: Mapping[str, Any]) -> DatabaseTokenStore | None:
            # Session tokens (auth session_token) live in the database; a dry run writes
            # nothing, so it keeps its token in memory.
            if request.dry_run:
                return None
            return DatabaseTokenStore(
                ctx.engine, request.user_id, account.id, credentials, ctx.clock
            )

        feeds = FeedStateStore(
            ctx.engine,
            request.user_id,
            account.id,
            request.sync_type,
            ctx.clock,
            read_only=request.dry_run,
        )
        # A secret the account needs and lacks fails this account with one line.
        return live_connector(
            spec,
            account,
            ctx.env,
            token_store=tokens,
            feed_state=feeds,
            budgets=BudgetStore(ctx.engine, account.id, ctx.clock).make,
        )

    def reject(
        self,
        account: AccountRow,
        step: str,
        key: str | None,
        field_name: str | None,
        reason: str,
        payload: Any,
    ) -> dict[str, Any]:
        """A `sync_rejects` row of this job."""
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

    def mapping_reject(self, account: AccountRow, step: str, reject: Reject) -> dict[str, Any]:
        return self.reject(
            account, step, reject.external_id, reject.field, reject.reason, reject.payload
        )

    def log(
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
        """Log an event of the sync; with `activity` (not in a dry run), also record it in
        `activity_logs`."""
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
                "supplier_id": account.id if account else request.account_id,
                "level": logging.getLevelName(level).lower(),
                "event": event,
                "message": redact(message),
                "details": {k: v for k, v in extra.items() if v is not None},
                "created_at": self.clock.now(),
            }
            record_activity(self.engine, [entry])
