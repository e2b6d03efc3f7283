"""`format:` in the spec: what validate refuses, with file, line and field."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from runner.cli import cli

GOOD = """    format:
      type: csv
      encoding: latin-1
      delimiter: ";"
      decimal: ","
      thousands: "."
      decimal_columns: [EK-Preis, VK-Preis]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch, specs_dir):
    """A copy of `specs_dir` (the bundled specs and the docs' feed suppliers) to edit."""
    shutil.copytree(specs_dir, tmp_path / "work")
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "work"


def validate_with(workdir, old: str, new: str) -> tuple[int, list[str]]:
    path = workdir / "specs" / "suppliers" / "grossmarkt.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "--specs", "specs"])
    return result.exit_code, result.output.splitlines()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (GOOD, "    format: xlsx\n", "$.operations.catalogue.format: 'xlsx' is not one of"),
        (
            'delimiter: ";"',
            'delimter: ";"',
            "format.delimter: unknown key 'delimter'; did you mean 'delimiter'?",
        ),
        (GOOD, "    format: {type: xml}\n", "an xml feed needs record:"),
        ("encoding: latin-1", "encoding: latin-99", "format.encoding: unknown encoding"),
        (GOOD, "    format: {type: jsonl, decimal: ','}\n", "decimal is an option of csv and"),
        (GOOD, "    format: {type: xml, record: p, delimiter: ';'}\n", "an option of csv feeds"),
        (
            GOOD,
            GOOD + "    paginate: {type: page_number, page_param: p}\n",
            "a csv feed is one file read whole: it takes no paginate",
        ),
        (GOOD, "    format: {type: csv, header: false}\n", "header: false needs columns:"),
        (GOOD, "    format: {type: json, delimiter: ';'}\n", "is an option of feed formats"),
    ],
)
def test_format_slips_are_named_with_file_line_and_field(workdir, old, new, expected):
    code, lines = validate_with(workdir, old, new)
    assert code == 2
    assert lines[0].startswith("specs/suppliers/grossmarkt.yaml:")
    assert any(expected in line for line in lines), lines


def test_the_kind_name_alone_is_a_format(workdir):
    code, lines = validate_with(workdir, GOOD, "    format: csv\n")
    assert (code, lines) == (0, ["OK: 7 connectors, 11 mappings, 4 sync types"])
