"""Fixtures of the deployment tests: the policy module, the deploy tools, rendered overlays."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from deploy_support import ROOT, render_overlay, require_tool


@pytest.fixture(scope="session")
def policy() -> ModuleType:
    """scripts/deploy_policy.py, imported from its file."""
    spec = importlib.util.spec_from_file_location(
        "deploy_policy", ROOT / "scripts" / "deploy_policy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_policy"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl")


@pytest.fixture(scope="session")
def rendered(kubectl) -> Callable[[str], list[dict[str, Any]]]:
    """rendered("cronjob") -> the documents of k8s/overlays/production/cronjob (cached)."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def get(overlay: str) -> list[dict[str, Any]]:
        if overlay not in cache:
            cache[overlay] = render_overlay(
                kubectl, ROOT / "k8s" / "overlays" / "production" / overlay
            )
        return copy.deepcopy(cache[overlay])  # a test may plant errors in its copy

    return get


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of k8s/, specs/ and mappings/ in tmp_path, to plant errors in."""
    for folder in ("k8s", "specs", "mappings"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path
