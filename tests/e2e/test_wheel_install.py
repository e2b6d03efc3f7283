"""The wheel carries the bundled specs, mappings and schemas: after a plain `pip install` of
a wheel built from the repository, `sync-runner demo` works from an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the wheel and a fresh virtual environment

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel (and its dependencies, from the wheels `pip wheel` made)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    built = run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(dist)], cwd=base)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("sync_runner-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q"]
    done = run([*pip, "--no-index", "--find-links", str(dist), str(wheel)], cwd=base)
    assert done.returncode == 0, done.stdout + done.stderr
    return env_dir / "bin" / "sync-runner"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNC_RUNNER_", "DATABASE"))}
    return {**env, **extra}


def test_demo_runs_from_an_empty_folder(installed, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = run([str(installed), "demo"], cwd=folder, env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "products" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["sync-runner.db"]
    checked = run([str(installed), "validate"], cwd=folder, env=clean_env(), timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK")


def test_a_missing_specs_folder_names_the_four_places(installed, tmp_path):
    env = clean_env(SYNC_RUNNER_SPECS=str(tmp_path / "nowhere"))
    result = run([str(installed), "validate"], cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2
    for place in ("--specs DIR", "$SYNC_RUNNER_SPECS", "./specs", "bundled specs"):
        assert place in result.stderr + result.stdout
    assert "share/sync-runner/specs" in result.stderr + result.stdout
