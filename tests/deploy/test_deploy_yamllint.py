"""yamllint with the repository's .yamllint.yaml passes on k8s/ and catches planted errors."""

from __future__ import annotations

import shutil
import subprocess

from deploy_support import ROOT, require_tool


def yamllint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("yamllint"), "--strict", "-c", str(ROOT / ".yamllint.yaml"), *args],
        capture_output=True,
        text=True,
    )


def test_yamllint_passes_k8s():
    result = yamllint(str(ROOT / "k8s"))
    assert result.returncode == 0, result.stdout


def test_yamllint_catches_a_duplicate_key_and_trailing_spaces(tmp_path):
    shutil.copytree(ROOT / "k8s", tmp_path / "k8s")
    cronjob = tmp_path / "k8s/base/cronjob.yaml"
    text = cronjob.read_text()
    cronjob.write_text(
        text.replace("  timeZone: Etc/UTC\n", "  timeZone: Etc/UTC\n  timeZone: UTC  \n")
    )
    result = yamllint(str(tmp_path / "k8s"))
    assert result.returncode == 1
    assert "duplication of key" in result.stdout
    assert "trailing spaces" in result.stdout
