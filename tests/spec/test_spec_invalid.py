"""Invalid-spec fixtures: each file in invalid/ breaks one spec file in one way.

A fixture's first line `# target: <path>` says which file of a copy of the bundled specs it
becomes (replacing or adding it); its `# expect: file:line:col: path: message` lines list
every issue the checker must report, exactly. Comments do not move line numbers, so the
fixture's own line numbers are the ones expected.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.spec.load import check_specs

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def parse_fixture(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# target: "), f"{path.name}: first line must be '# target: ...'"
    target = lines[0].removeprefix("# target: ").strip()
    expected = [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]
    return target, expected


def issues_for(fixture: Path, workdir: Path) -> list[str]:
    shutil.copytree(ROOT / "specs", workdir / "specs")
    shutil.copytree(ROOT / "mappings", workdir / "mappings")
    target, _ = parse_fixture(fixture)
    (workdir / target).write_text(fixture.read_text(encoding="utf-8"), encoding="utf-8")
    _, issues = check_specs(workdir / "specs", workdir / "mappings")
    return [str(issue) for issue in issues]


def test_there_are_enough_fixtures():
    assert len(FIXTURES) >= 30


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_invalid_spec_reports_file_line_path_and_message(fixture, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # reported files are relative to the working directory
    _, expected = parse_fixture(fixture)
    assert expected, f"{fixture.name} declares no '# expect:' line"
    assert issues_for(fixture, tmp_path) == expected
