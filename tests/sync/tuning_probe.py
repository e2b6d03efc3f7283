"""A handler that reports the interpreter settings of the process running it (test_tuning)."""

from __future__ import annotations

import gc
import sys

from runner.handlers import JobContext, register


@register("tuning_probe", replace=True)
def probe(ctx: JobContext) -> dict:
    return {
        "young": gc.get_threshold()[0],
        "frozen": gc.get_freeze_count() > 0,
        "switch_interval": sys.getswitchinterval(),
    }
