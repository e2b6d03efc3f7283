"""Start `python -m runner <args>` against a test database, as a pod would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start_runner(
    *args: str,
    db_url: str,
    specs_dir: Path,
    handler_modules: str,
    paths: list[str],
    log_level: str = "warning",
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """The process, with stdout and stderr piped as text; `paths` go on PYTHONPATH."""
    environ = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SYNC_RUNNER_SPECS": str(specs_dir),
        "SYNC_RUNNER_HANDLER_MODULES": handler_modules,
        "PYTHONPATH": os.pathsep.join(filter(None, [*paths, os.environ.get("PYTHONPATH")])),
        "LOG_LEVEL": log_level,
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
