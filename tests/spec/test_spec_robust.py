"""The checker never crashes on a broken spec: it reports. Mutations of the bundled files
(a line removed, a value replaced by a number, null, a mapping, a list or text, or indented)
must each give issues or none, never an exception."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.spec.load import check_specs

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("mappings/*.yaml")])
MUTATIONS = [
    lambda line: "",
    lambda line: line.replace(":", ": [", 1),
    lambda line: line.replace(": ", ": 5 #", 1),
    lambda line: line.replace(": ", ": null #", 1),
    lambda line: line.replace(": ", ": {} #", 1),
    lambda line: line.replace(": ", ": [] #", 1),
    lambda line: line.replace(": ", ': "x" #', 1),
    lambda line: "  " + line,
]
EVERY = 10  # mutate every 10th line of each file (every line of every file takes minutes)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mutated_specs_never_crash_the_checker(path, tmp_path):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    target = tmp_path / path.relative_to(ROOT)
    lines = path.read_text(encoding="utf-8").splitlines()
    for index in range(1, len(lines), EVERY):
        mutate = MUTATIONS[index % len(MUTATIONS)]
        changed = [*lines[:index], mutate(lines[index]), *lines[index + 1 :]]
        target.write_text("\n".join(changed) + "\n", encoding="utf-8")
        _, issues = check_specs(tmp_path / "specs", tmp_path / "mappings")
        assert all(issue.line >= 1 and issue.column >= 1 for issue in issues)
