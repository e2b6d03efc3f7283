"""The sync engine: see docs/architecture.md ("The sync engine") for its modules and flow.

Importing the package imports nothing else, so that `validate` can use the planner
(`runner.sync.plan`) without a database driver; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SyncRequest": "runner.sync.engine",
    "run_sync": "runner.sync.engine",
    "register_handlers": "runner.sync.jobs",
    "request_for": "runner.sync.jobs",
    "run_declared": "runner.sync.jobs",
    "run_job": "runner.sync.jobs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runner.sync' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
