"""The one handler of every sync type declared in sync_types.yaml, and its registration.

`register_handlers(registry)` installs that handler; the worker's start-up calls it
(`runner.handlers.load_handlers`). Importing this module registers nothing. A sync type with
`push:` goes to the push runner (`runner.push`), every other one to `run_sync()` (in
`runner.sync.engine`), the plain function behind the handler, the `sync` command and the demo.
"""

from __future__ import annotations

from runner.handlers import HandlerRegistry, JobContext
from runner.sync.checkpoint import JobCheckpoint
from runner.sync.engine import SyncRequest, run_sync


def request_for(ctx: JobContext) -> SyncRequest:
    """The sync a claimed job asks for."""
    job = ctx.job
    return SyncRequest(
        user_id=job.user_id,
        sync_type=job.source_type,
        account_id=job.account_id,
        job_id=job.id,
        metadata=job.metadata,
        dry_run=ctx.dry_run,
        offline=ctx.offline,
    )


DIFF_LIMIT = 10_000  # dry-run changes kept in result_data["diff"]


def run_job(ctx: JobContext, **options) -> dict:
    """Run a (non-push) sync type's job: its sync, its result_data returned.

    `options` go to `run_sync`. A dry run without an `on_diff` of its own puts the changes it
    found in `result_data["diff"]` (the first DIFF_LIMIT; `diff_omitted` counts the rest), so
    that `sync-runner run-job ID --dry-run` shows them.
    """
    diff: list[dict] = []
    omitted = 0
    collect = ctx.dry_run and "on_diff" not in options
    if collect:

        def keep(entry) -> None:
            nonlocal omitted
            if len(diff) < DIFF_LIMIT:
                diff.append(entry.as_dict())
            else:
                omitted += 1

        options["on_diff"] = keep
    if not ctx.dry_run and "resume" not in options:
        options["resume"] = JobCheckpoint.load(ctx.engine, ctx.job)  # go on where it stopped
    result = run_sync(
        ctx.engine,
        ctx.specs,
        request_for(ctx),
        clock=ctx.clock,
        checkpoint=ctx.checkpoint,
        **options,
    )
    if collect:
        result["diff"] = diff
        result["diff_omitted"] = omitted
    return result


def run_declared(ctx: JobContext) -> dict:
    """The handler of every declared sync type: a push (`push:`) goes to `runner.push`,
    every other sync type to `run_job`."""
    if ctx.specs.sync_types[ctx.job.source_type].push:
        from runner.push import run_job as run_push_job

        return run_push_job(ctx)
    return run_job(ctx)


def register_handlers(registry: HandlerRegistry) -> None:
    """Start-up: every sync type the specs declare runs through `run_declared`."""
    registry.handle_declared(run_declared)


__all__ = [
    "SyncRequest",
    "register_handlers",
    "request_for",
    "run_declared",
    "run_job",
    "run_sync",
]
