"""docs/specs.md: its worked example is real. The three files it shows validate next to the
bundled specs, and the errors it quotes are the ones `validate` prints."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.spec.load import load_specs

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
ALL_FILES = dict(re.findall(r"\*\*`([^`]+\.yaml)`\*\*\n\n```yaml\n(.*?)```", DOC, flags=re.S))
# The worked example of a third supplier (acme), and those of feed suppliers, one per format.
FILES = {name: text for name, text in ALL_FILES.items() if "acme" in name}
FEED_FILES = {name: text for name, text in ALL_FILES.items() if "acme" not in name}


def quoted_errors(marker: str) -> list[str]:
    """The output lines of the first code block after `marker` in the doc."""
    block = re.search(re.escape(marker) + r".*?```\n(.*?)```", DOC, flags=re.S).group(1)
    return [
        line for line in block.splitlines() if re.match(r"(specs|mappings)/|\d+ errors? in", line)
    ]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate() -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["validate", "--specs", "specs"])
    return result.exit_code, result.output.splitlines()


def edit(path: str, old: str, new: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    assert old in text
    Path(path).write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_doc_shows_three_files():
    assert set(FILES) == {
        "specs/suppliers/acme.yaml",
        "mappings/acme_product.yaml",
        "mappings/acme_stock.yaml",
    }


def test_the_doc_shows_a_feed_supplier_of_each_format():
    assert set(FEED_FILES) == {
        "specs/suppliers/grossmarkt.yaml",
        "mappings/grossmarkt_product.yaml",
        "specs/suppliers/lumen.yaml",
        "mappings/lumen_product.yaml",
        "specs/suppliers/parcelo.yaml",
        "mappings/parcelo_product.yaml",
    }


def test_feed_examples_validate_and_read_their_formats(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    for name, text in FEED_FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert validate() == (0, ["OK: 7 connectors, 11 mappings, 4 sync types"])
    specs = load_specs(Path("specs"), Path("mappings"))
    formats = {
        name: specs.suppliers[name].operations[op].format
        for name, op in (("grossmarkt", "catalogue"), ("lumen", "catalogue"), ("parcelo", "export"))
    }
    assert formats["grossmarkt"].type == "csv"
    assert (formats["grossmarkt"].delimiter, formats["grossmarkt"].decimal) == (";", ",")
    assert formats["grossmarkt"].encoding == "latin-1"
    assert formats["lumen"].type == "xml"
    assert formats["lumen"].record == "products/product"
    assert formats["parcelo"].type == "jsonl"


def test_worked_example_validates_and_serves_three_sync_types(workdir):
    assert validate() == (0, ["OK: 5 connectors, 10 mappings, 4 sync types"])
    specs = load_specs(Path("specs"), Path("mappings"))
    acme = specs.suppliers["acme"]
    assert set(acme.syncs) == {"supplier_api", "inventory_update", "price_update"}
    assert acme.operations["stock"].kind == "lookup"
    assert acme.operations["products"].paginate.params["stop_on_short_page"] is True


def test_worked_example_slips_give_the_quoted_errors(workdir):
    edit("specs/suppliers/acme.yaml", "limit_param: limit", "limt_param: limit")
    edit("specs/suppliers/acme.yaml", "mapping: acme_product", "mapping: acme_prodcut")
    code, lines = validate()
    assert code == 2
    assert lines == quoted_errors("Had we written")


def test_quoted_errors_at_the_top_are_real(workdir):
    edit("specs/suppliers/acme.yaml", "total_path: meta.total", "totl_path: meta.total")
    edit("mappings/acme_product.yaml", "  price: {from", "  prise: {from")
    code, lines = validate()
    assert code == 2
    assert lines == quoted_errors("then a summary, and exits 2:")
