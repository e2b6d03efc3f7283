"""constraints.txt: the one set of exact versions the image installs (Dockerfile
PIP_CONSTRAINT), complete for the runtime dependencies and within pyproject's ranges."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import distribution

import pytest
from deploy_support import ROOT
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CONSTRAINTS = ROOT / "constraints.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pins() -> dict[str, str]:
    found = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)", line)
            assert match, f"not an exact pin: {line!r}"
            found[canonicalize_name(match[1])] = match[2]
    return found


def runtime_closure() -> set[str]:
    """The names of every package the project needs at run time (markers evaluated here,
    extras followed: psycopg[binary] brings psycopg-binary)."""
    environment = default_environment()

    def wanted(requirement: Requirement, extras: set[str]) -> bool:
        marker = requirement.marker
        return marker is None or any(
            marker.evaluate({**environment, "extra": extra}) for extra in {"", *extras}
        )

    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        for raw in distribution(name).requires or []:
            sub = Requirement(raw)
            if wanted(sub, set(requirement.extras)):
                todo.append(sub)
    return names


def test_every_runtime_dependency_is_pinned_exactly():
    missing = runtime_closure() - set(pins())
    assert missing == set(), f"add to constraints.txt: {sorted(missing)}"


def test_the_pins_satisfy_pyproject():
    pinned = pins()
    requirements = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    requirements += [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    for requirement in requirements:
        version = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_dockerfile_installs_from_the_constraints():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "PIP_CONSTRAINT=/src/constraints.txt" in dockerfile
    assert re.search(r"^COPY [^\n]*\bconstraints\.txt\b[^\n]* \./$", dockerfile, re.M)


@pytest.mark.slow
def test_a_constrained_build_makes_exactly_the_pinned_wheels(tmp_path):
    """What the Dockerfile's build stage does: every wheel it makes is the pinned version."""
    env = {**os.environ, "PIP_CONSTRAINT": str(CONSTRAINTS)}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", str(ROOT), "-w", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    pinned = pins()
    made = {}
    for wheel in tmp_path.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        made[canonicalize_name(name)] = version
    made.pop("sync-runner")
    assert made == {name: pinned[name] for name in made}
    assert set(made) == runtime_closure()
