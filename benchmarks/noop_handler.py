"""A no-op job handler, for the queue benchmark in benchmarks/sync_bench.py.

It is loaded through the runner's hook for extra handler modules, from the repository root:

    SYNC_RUNNER_HANDLER_MODULES=benchmarks.noop_handler PYTHONPATH=. \\
        sync-runner run --no-schedules --no-maintenance --specs benchmarks/specs

and registers the sync type `bench_noop`, whose jobs do nothing. A run of such jobs measures
the queue alone: claim, lease keeper, finish.

`SYNC_BENCH_START_AT` (Unix time in seconds), when set, holds the import until that moment,
so that worker processes started one after another begin claiming together.
"""

from __future__ import annotations

import os
import time
from typing import Any

from runner.handlers import JobContext, register

SYNC_TYPE = "bench_noop"


@register(SYNC_TYPE)
def noop(ctx: JobContext) -> dict[str, Any]:
    return {}


_start_at = float(os.environ.get("SYNC_BENCH_START_AT") or 0)
if _start_at:
    time.sleep(max(0.0, _start_at - time.time()))
