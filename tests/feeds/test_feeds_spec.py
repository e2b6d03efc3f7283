"""`format:` in the spec: what validate refuses, with file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

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
    assert (code, lines) == (0, ["OK: 7 connectors, 11 mappings, 6 sync types"])


def test_explain_of_a_feed_supplier_is_a_spec_that_loads_to_the_same_model(workdir):
    from runner.spec.load import load_specs

    original = load_specs(Path("specs"), Path("mappings"))
    for name in ("grossmarkt", "lumen", "parcelo"):
        result = CliRunner().invoke(cli, ["explain", "supplier", name, "--specs", "specs"])
        assert result.exit_code == 0, result.output
        assert "format:" in result.output and "records:" not in result.output
        Path(original.suppliers[name].source_file).write_text(result.output, encoding="utf-8")
    assert load_specs(Path("specs"), Path("mappings")) == original
