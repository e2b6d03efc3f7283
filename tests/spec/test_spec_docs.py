"""docs/specs.md: its worked examples are real. The files each shows validate next to the
bundled specs, and the errors it quotes are the ones `validate` prints. (The second example,
CJdropshipping, is also synced against a fake in tests/sync/test_session_token.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.spec.load import load_specs

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
FILES = dict(re.findall(r"\*\*`([^`]+\.yaml)`\*\*\n\n```yaml\n(.*?)```", DOC, flags=re.S))
ACME = {name: text for name, text in FILES.items() if "acme" in name}
CJ = {name: text for name, text in FILES.items() if "cjdropshipping" in name}
# The feed suppliers' examples, one per format.
FEED_FILES = {
    name: text
    for name, text in FILES.items()
    if not any(k in name for k in ("acme", "cjdropshipping"))
}


def quoted_errors(marker: str) -> list[str]:
    """The output lines of the first code block after `marker` in the doc."""
    block = re.search(re.escape(marker) + r".*?```\n(.*?)```", DOC, flags=re.S).group(1)
    return [
        line for line in block.splitlines() if re.match(r"(specs|mappings)/|\d+ errors? in", line)
    ]


def bundled_plus(files: dict[str, str], tmp_path: Path, monkeypatch) -> Path:
    """A copy of the bundled specs with the example's files added, as the working dir."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    return bundled_plus(ACME, tmp_path, monkeypatch)


def validate() -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["validate", "--specs", "specs"])
    return result.exit_code, result.output.splitlines()


def edit(path: str, old: str, new: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    assert old in text
    Path(path).write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_doc_shows_two_examples_of_five_files():
    assert set(ACME) == {
        "specs/suppliers/acme.yaml",
        "mappings/acme_product.yaml",
        "mappings/acme_stock.yaml",
    }
    assert set(CJ) == {
        "specs/suppliers/cjdropshipping.yaml",
        "mappings/cjdropshipping_product.yaml",
    }
    assert len(FILES) == len(ACME) + len(CJ) + len(FEED_FILES) == 11


def test_second_example_validates_as_quoted(tmp_path, monkeypatch):
    bundled_plus(CJ, tmp_path, monkeypatch)
    block = DOC.split("## Second worked example", 1)[1]
    quoted = re.search(r"\$ sync-runner validate --specs specs\n(OK: .*)\n", block).group(1)
    assert validate() == (0, [quoted])
    cj = load_specs(Path("specs"), Path("mappings")).suppliers["cjdropshipping"]
    assert cj.auth.type == "session_token"
    assert cj.response.classify[0].as_ == "retry_after"


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
    assert validate() == (0, ["OK: 7 connectors, 11 mappings, 6 sync types"])
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
    assert validate() == (0, ["OK: 5 connectors, 10 mappings, 6 sync types"])
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


def test_step_4_runs_as_written(workdir):
    """ "Try it offline, then for real": the first block's commands, in a shell, as written
    (the account added with `sync-runner accounts`, no SQL), then the account switched live."""
    block = re.search(r"### 4\. Try it offline.*?```sh\n(.*?)```", DOC, flags=re.S).group(1)
    assert "INSERT" not in block and "sqlite3" not in block
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    (bin_dir / "sync-runner").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m runner "$@"\n')
    (bin_dir / "sync-runner").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"acme\s+ok\s+25\s+25\b", result.stdout), result.stdout
    live = subprocess.run(
        ["bash", "-c", "sync-runner accounts set acme-1 --mode live --json"],
        cwd=workdir,
        env={**env, "DATABASE_URL": "sqlite:///acme.db"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert live.returncode == 0, live.stderr
    assert '"mode": "live"' in live.stdout


def test_the_push_examples_are_the_bundled_specs():
    """The push section quotes sync_types.yaml and woocommerce.yaml as they are."""
    section = DOC[DOC.index("### Pushes: `stock_push` and `price_push`") :]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[:3]
    assert blocks[0] in (ROOT / "specs" / "sync_types.yaml").read_text(encoding="utf-8")
    woo = (ROOT / "specs" / "marketplaces" / "woocommerce.yaml").read_text(encoding="utf-8")
    assert blocks[1] in woo
    shopify = (ROOT / "specs" / "marketplaces" / "shopify.yaml").read_text(encoding="utf-8")
    assert blocks[2] in shopify
