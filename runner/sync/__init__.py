"""The sync engine. Importing this package registers the handlers of the four sync types.

`run_sync()` (in `runner.sync.engine`) is the plain function behind the handlers, the
`sync` command and the demo.
"""

from __future__ import annotations

from runner.handlers import JobContext, register
from runner.sync.checkpoint import JobCheckpoint
from runner.sync.engine import SyncRequest, run_sync

SYNC_TYPES = ("supplier_api", "inventory_update", "price_update", "order_sync")


def request_for(ctx: JobContext) -> SyncRequest:
    """The sync a claimed job asks for."""
    job = ctx.job
    return SyncRequest(
        user_id=job.user_id,
        sync_type=job.source_type,
        supplier_id=job.supplier_id,
        job_id=job.id,
        metadata=job.metadata,
        dry_run=ctx.dry_run,
        offline=ctx.offline,
    )


DIFF_LIMIT = 10_000  # dry-run changes kept in result_data["diff"]


def run_job(ctx: JobContext, **options) -> dict:
    """The handler of every sync type: run the job's sync and return its result_data.

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


for _name in SYNC_TYPES:
    register(_name)(run_job)

import runner.push  # noqa: E402,F401  (registers the push sync types' handlers)

__all__ = ["SYNC_TYPES", "SyncRequest", "request_for", "run_job", "run_sync"]
