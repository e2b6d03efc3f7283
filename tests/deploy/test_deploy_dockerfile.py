"""The Dockerfile: hadolint and our own checks pass, and each catches a planted error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from deploy_support import ROOT, require_tool

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def hadolint(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [require_tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True
    )


def test_hadolint_passes_the_dockerfile(tmp_path):
    result = hadolint(tmp_path, DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_our_checks_pass_the_dockerfile(policy):
    assert policy.check_dockerfile(DOCKERFILE) == []


def test_a_root_user_fails_hadolint_and_our_checks(tmp_path, policy):
    planted = DOCKERFILE.replace("USER 10001:10001", "USER root")
    assert planted != DOCKERFILE
    result = hadolint(tmp_path, planted)
    assert result.returncode == 1
    assert "DL3002" in result.stdout  # last USER should not be root
    assert any("must be numeric" in p for p in policy.check_dockerfile(planted))
    numeric_root = DOCKERFILE.replace("USER 10001:10001", "USER 0")
    assert any("must not be root" in p for p in policy.check_dockerfile(numeric_root))


def test_no_user_at_all_passes_hadolint_but_not_our_checks(tmp_path, policy):
    planted = DOCKERFILE.replace("USER 10001:10001\n", "")
    assert hadolint(tmp_path, planted).returncode == 0  # hadolint's blind spot
    assert any("must set USER" in p for p in policy.check_dockerfile(planted))


def test_shell_form_entrypoint_fails_hadolint_and_our_checks(tmp_path, policy):
    planted = DOCKERFILE.replace('ENTRYPOINT ["sync-runner"]', "ENTRYPOINT sync-runner")
    result = hadolint(tmp_path, planted)
    assert result.returncode == 1
    assert "DL3025" in result.stdout
    assert any("exec form" in p for p in policy.check_dockerfile(planted))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    PYTHONUNBUFFERED=1 \\\n", "", "PYTHONUNBUFFERED=1"),
        ('      org.opencontainers.image.revision="${REVISION}" \\\n', "", "image.revision"),
        ("ARG PYTHON_IMAGE=python:3.12-slim-bookworm\n", "", "ARG PYTHON_IMAGE"),
        ('CMD ["run"]', "CMD run", "CMD must be exec form"),
    ],
)
def test_our_checks_catch_planted_errors(policy, old, new, expected):
    assert old in DOCKERFILE
    problems = policy.check_dockerfile(DOCKERFILE.replace(old, new))
    assert any(expected in p for p in problems), problems


def test_dockerignore_allows_exactly_what_the_dockerfile_copies():
    """The build context is an allowlist: everything COPY takes from it, nothing else."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(part.rstrip("/") for part in line.split()[1:-1])
    assert copied == allowed
    assert all((ROOT / name).exists() for name in copied)
