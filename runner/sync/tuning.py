"""Interpreter settings for a process that runs syncs, applied once by the process's owner.

The worker commands (`run`, `run-job`) and the one-off `sync` call `tune_for_streaming()` at
start-up, after the specs are loaded; library code (`run_sync`) never changes process-wide
state, so an embedder or a test keeps its own settings.

- The cyclic garbage collector. A sync allocates millions of short-lived containers
  (records, rows) that refcounting frees and that form no cycles, yet with the default
  thresholds the collector ran about 400 young and 4 full collections per 100,000
  products, 0.6 to 0.8 s with the GIL held: records waiting in the pipeline's queues
  survive into the older generations and are scanned again and again. Here the young
  generation collects every `GC_YOUNG` net allocations, and what is alive at start-up
  (modules, specs) is frozen out of full collections. Cycles are still collected.
- The GIL's switch interval. The write and fetch threads wait on sockets hundreds of times
  per batch; each time, they need the GIL back from the mapping thread, which gives it up
  only every switch interval (5 ms by default). At `SWITCH_INTERVAL` the step no longer
  waits for the writer.

Measured in docs/performance.md ("Interpreter tuning").
"""

from __future__ import annotations

import gc
import sys

GC_YOUNG = 50_000  # the collector's young threshold
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL before it must offer it


def tune_for_streaming() -> None:
    """Tune this process for syncs (see the module docstring); idempotent, never undone."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG), middle, old)
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
