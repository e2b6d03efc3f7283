"""Pushes to marketplaces: importing this package registers the handlers of the push sync
types (`push:` in sync_types.yaml). `run_push()` (in `runner.push.run`) is the plain function
behind the handlers and the `sync` command."""

from __future__ import annotations

from runner.handlers import JobContext, register
from runner.push.run import PushRequest, run_push

PUSH_TYPES = ("stock_push", "price_push")


def run_job(ctx: JobContext) -> dict:
    """The handler of a push sync type: the job's push, its result_data returned."""
    job = ctx.job
    request = PushRequest(
        user_id=job.user_id,
        sync_type=job.source_type,
        integration_id=job.supplier_id,
        job_id=job.id,
        dry_run=ctx.dry_run,
        offline=ctx.offline,
    )
    return run_push(ctx.engine, ctx.specs, request, clock=ctx.clock, checkpoint=ctx.checkpoint)


for _name in PUSH_TYPES:
    register(_name)(run_job)

__all__ = ["PUSH_TYPES", "PushRequest", "run_job", "run_push"]
