"""Loaded by worker processes of the budget tests (SYNC_RUNNER_HANDLER_MODULES): the real
sync handler with a batch of one page, so that every page is checkpointed."""

from __future__ import annotations

from runner.handlers import JobContext, register
from runner.sync import run_job

PAGE_ROWS = 50


@register("supplier_api", replace=True)
def supplier_api_in_small_batches(ctx: JobContext) -> dict:
    return run_job(ctx, batch_rows=PAGE_ROWS)
