"""Pushes to marketplaces. `run_job` runs a push sync type's job (`push:` in
sync_types.yaml); `runner.sync.run_declared` sends those jobs here. `run_push()` (in
`runner.push.run`) is the plain function behind it and the `sync` command."""

from __future__ import annotations

from runner.handlers import JobContext
from runner.push.run import PushRequest, run_push


def run_job(ctx: JobContext) -> dict:
    """The handler of a push sync type: the job's push, its result_data returned."""
    job = ctx.job
    request = PushRequest(
        user_id=job.user_id,
        sync_type=job.source_type,
        account_id=job.account_id,
        job_id=job.id,
        dry_run=ctx.dry_run,
        offline=ctx.offline,
    )
    return run_push(ctx.engine, ctx.specs, request, clock=ctx.clock, checkpoint=ctx.checkpoint)


__all__ = ["PushRequest", "run_job", "run_push"]
