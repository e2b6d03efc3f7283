"""Run one sync: every step of a sync type, for each account of a user, streamed and batched.

For each active supplier of the job's user (each marketplace integration for a marketplace
sync type such as `order_sync`), or only the job's account, the engine plans the steps that
the account's connector spec declares for the sync type (`runner.sync.plan`) and runs them
one after the other (`runner.sync.step`, through `runner.sync.pipeline` into a sink of
`runner.sync.sinks`). A connector without steps for the sync type is recorded as skipped;
one account's failure is recorded and the others go on; the job then raises `JobFailed` with
the partial result. A dry run computes the same classification (`runner.sync.diff`) and
writes nothing at all.

An account whose budget is spent for longer than a worker may wait (`RetryLater`, raised by
the connector) is "waiting": the other accounts go on, and the job then raises `BudgetWait`
with the result so far, so that the queue defers it to the moment the slot opens, attempt not
charged. A queued job saves its progress as it goes (`runner.sync.checkpoint`): when it runs
again it skips the accounts and steps it finished and resumes the running step at its page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from runner.clock import Clock, SystemClock
from runner.db.write import TARGETS
from runner.errors import (
    BudgetWait,
    JobFailed,
    JobInterrupted,
    PermanentError,
    RetryLater,
    SyncRunnerError,
    is_transient,
    one_line,
)
from runner.progress import Progress
from runner.spec.model import SpecSet
from runner.sync.accounts import AccountRow, load_accounts
from runner.sync.checkpoint import JobCheckpoint
from runner.sync.context import SyncContext, SyncRequest
from runner.sync.diff import DiffReport
from runner.sync.plan import PlanError, StepPlan, plan_steps
from runner.sync.results import AccountResult, JobResult, iso
from runner.sync.step import StepFailed, StepResultError, StepRun

BATCH_ROWS = 5000  # rows per write statement

__all__ = ["BATCH_ROWS", "StepFailed", "SyncRequest", "run_sync"]


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
    sync type or account, and lets `JobInterrupted` from `checkpoint` through.
    `on_diff` receives every change a dry run finds. `resume`: the job's checkpoint.
    """
    sync_type = specs.sync_types.get(request.sync_type)
    if sync_type is None:
        known = ", ".join(sorted(specs.sync_types))
        raise PermanentError(f"unknown sync type {request.sync_type!r} (known: {known})")
    ctx = SyncContext(
        engine=engine,
        specs=specs,
        request=request,
        sync_type=sync_type,
        target=TARGETS[sync_type.target],
        clock=clock or SystemClock(),
        checkpoint=checkpoint or (lambda: None),
        on_diff=on_diff or (lambda entry: None),
        progress=progress or Progress(),
        env=env,
        batch_rows=batch_rows,
        resume=resume,
    )
    return _Job(ctx).run()


class _Job:
    """One sync over every account of the request."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.waits: list[tuple[str, Any]] = []  # (budget, until) the accounts wait for

    def run(self) -> dict[str, Any]:
        ctx, request = self.ctx, self.ctx.request
        started = time.perf_counter()
        # A queued job's start is logged by the worker; a one-off sync logs its own.
        level = logging.INFO if request.job_id is None else logging.DEBUG
        ctx.log(level, "job.started", f"{request.sync_type} started")
        accounts = load_accounts(
            ctx.engine, request.user_id, ctx.sync_type.source, request.account_id
        )
        results: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, Any]] = []
        for account in accounts:
            ctx.checkpoint()
            done = ctx.resume.finished_account(account.id) if ctx.resume else None
            result = done if done is not None else self._account(account).as_dict()
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
        job = JobResult(
            request.sync_type,
            request.dry_run,
            results,
            seconds=round(time.perf_counter() - started, 3),
            waits=self.waits,
        )
        return self._ended(job, len(accounts), errors)

    def _ended(self, job: JobResult, accounts: int, errors: list[dict[str, Any]]) -> dict[str, Any]:
        """The job's result_data; raises `JobFailed` or `BudgetWait` with it."""
        ctx, result_data, totals = self.ctx, job.as_dict(), job.totals()
        if errors:
            message = f"{len(errors)} of {accounts} account(s) failed: " + "; ".join(
                f"{e['supplier']}: {e['error']}" for e in errors
            )
            ctx.log(logging.ERROR, "job.failed", message, counts=totals, activity=True)
            raise JobFailed(
                message,
                errors=errors,
                result_data=result_data,
                transient=all(e["transient"] for e in errors),
            )
        if self.waits:
            budget, until = min(self.waits, key=lambda wait: wait[1])
            message = f"waits for {budget} until {until:%H:%M} UTC"
            ctx.log(logging.INFO, "job.waiting", message, counts=totals, activity=True)
            delay = max((until - ctx.clock.now()).total_seconds(), 0.0)
            raise BudgetWait(message, delay, budget=budget, until=until, result_data=result_data)
        message = f"{ctx.request.sync_type} finished: {accounts} account(s)"
        ctx.log(logging.INFO, "job.finished", message, counts=totals, activity=True)
        return result_data

    # -- one account --------------------------------------------------------------------------

    def _account(self, account: AccountRow) -> AccountResult:
        ctx = self.ctx
        mode = "mock" if ctx.offline(account) else "live"
        result = AccountResult(account.name, account.spec_name, mode)
        spec = ctx.specs.spec_of(account.kind, account.spec_name)
        steps = spec.syncs.get(ctx.request.sync_type, ()) if spec is not None else ()
        skip = None  # a missing spec is a failure, below
        if not account.active:
            skip = f"the account is {account.status}"
        elif spec is not None and not steps:
            skip = f"{account.spec_name} declares no steps for {ctx.request.sync_type}"
        if skip:
            result.status, result.reason = "skipped", skip
            if ctx.resume:
                ctx.resume.save_account(account.id, result.as_dict())
            message = f"{account.label}: skipped, {skip}"
            ctx.log(logging.INFO, "step.skipped", message, account=account, activity=True)
            return result
        try:
            if spec is None:
                raise PermanentError(f"no {account.kind} spec named {account.spec_name!r}")
            plans = plan_steps(ctx.specs, ctx.sync_type, spec)
            connector = ctx.connector(spec, account)
        except Exception as exc:
            step = exc.name if isinstance(exc, PlanError) else None
            return self._failed(result, account, step, exc)
        try:
            return self._steps(result, account, connector, plans)
        finally:
            connector.close()

    def _steps(
        self,
        result: AccountResult,
        account: AccountRow,
        connector: Any,
        plans: tuple[StepPlan, ...],
    ) -> AccountResult:
        """Run the account's steps in order; the first failure or wait ends the account."""
        ctx = self.ctx
        pending_inserts: set[str] = set()  # a dry run's keys inserted by earlier steps
        finished = ctx.resume.finished_steps(account.id) if ctx.resume else {}
        for plan in plans:
            ctx.checkpoint()
            if plan.name in finished:  # done before this run of the job
                result.add_step(plan.name, finished[plan.name])
                continue
            ctx.progress.begin(f"{account.spec_name}/{plan.name}", plan.index + 1, len(plans))
            try:
                step = StepRun(ctx, account, connector, plan, pending_inserts).run()
            except JobInterrupted:
                raise
            except Exception as exc:
                if isinstance(exc, StepResultError):
                    result.add_step(plan.name, exc.result)
                cause = exc.error if isinstance(exc, StepResultError) else exc
                if isinstance(cause, RetryLater):
                    return self._waiting(result, account, plan.name, cause)
                return self._failed(result, account, plan.name, exc)
            result.add_step(plan.name, step)
            if ctx.resume and plan.index < len(plans) - 1:  # the last: save_account below
                ctx.resume.save_step(account.id, result.as_dict())
        if ctx.resume:
            ctx.resume.save_account(account.id, result.as_dict())
        return result

    def _waiting(
        self, result: AccountResult, account: AccountRow, step: str, exc: RetryLater
    ) -> AccountResult:
        """The account waits for a budget: the job is deferred once the others are done."""
        ctx = self.ctx
        budget = getattr(exc, "budget", None) or account.spec_name
        until = getattr(exc, "until", None) or ctx.clock.now() + timedelta(
            seconds=exc.delay_seconds
        )
        self.waits.append((budget, until))
        result.status, result.waiting_for, result.until = "waiting", budget, iso(until)
        waiting = result.steps.get(step) or {}
        waiting.update(status="waiting", waiting_for=budget, until=iso(until))
        result.add_step(step, waiting)
        ctx.log(
            logging.INFO,
            "step.waiting",
            f"⏸ {account.label}/{step} waits for {budget} until {until:%H:%M} UTC",
            account=account,
            step=step,
            activity=True,
        )
        return result

    def _failed(
        self, result: AccountResult, account: AccountRow, step: str | None, exc: Exception
    ) -> AccountResult:
        cause = exc.error if isinstance(exc, StepResultError) else exc
        error = one_line(cause)
        result.status, result.error, result.failed_step = "failed", error, step
        result.transient = is_transient(cause)
        if step is not None:
            failed = result.steps.get(step) or {"status": "failed"}
            failed.update(status="failed", error=error)
            result.add_step(step, failed)
        where = f"{account.label}/{step}" if step else account.label
        self.ctx.log(
            logging.ERROR,
            "step.failed",
            f"{where} failed: {error}",
            account=account,
            step=step,
            activity=True,
            exc_info=not isinstance(cause, SyncRunnerError | OperationalError),
        )
        return result
