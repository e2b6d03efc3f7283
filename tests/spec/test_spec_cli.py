"""`sync-runner validate` and `sync-runner explain`, through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from runner.cli import cli
from runner.spec.load import check_specs, load_specs

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def broken(tmp_path, monkeypatch):
    """A copy of the bundled specs with one misspelt key in one supplier."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    path = tmp_path / "specs" / "suppliers" / "bigbuy.yaml"
    text = path.read_text().replace("rate_limit:", "rate_limits:")
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    return (
        text.splitlines().index(next(line for line in text.splitlines() if "rate_limits:" in line))
        + 1
    )


def test_validate_bundled_specs_exits_0_with_a_summary():
    result = run("validate", "--specs", str(ROOT / "specs"))
    assert result.exit_code == 0, result.output
    assert result.output == "OK: 4 connectors, 8 mappings, 6 sync types\n"


def test_validate_names_file_line_path_and_cause(broken):
    result = run("validate", "--specs", "specs")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"specs/suppliers/bigbuy.yaml:{broken}:1: $.rate_limits: unknown key 'rate_limits'; "
        "did you mean 'rate_limit'?",
        "1 error in 1 file",
    ]


def test_validate_json_format(broken):
    result = run("validate", "--specs", "specs", "--mappings", "mappings", "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["summary"] == "1 error in 1 file"
    assert report["errors"] == [
        {
            "file": "specs/suppliers/bigbuy.yaml",
            "line": broken,
            "column": 1,
            "path": "$.rate_limits",
            "message": "unknown key 'rate_limits'; did you mean 'rate_limit'?",
        }
    ]
    ok = run("validate", "--specs", str(ROOT / "specs"), "--format", "json")
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True


def test_validate_counts_every_error_and_file(broken):
    mapping = Path("mappings") / "bigbuy_stock.yaml"
    mapping.write_text(mapping.read_text().replace("type: integer", "type: int"))
    result = run("validate", "--specs", "specs")
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == "2 errors in 2 files"


def test_validate_uses_environment_defaults(broken, monkeypatch):
    monkeypatch.setenv("SYNC_RUNNER_SPECS", str(ROOT / "specs"))
    monkeypatch.setenv("SYNC_RUNNER_MAPPINGS", str(ROOT / "mappings"))
    assert run("validate").exit_code == 0


def test_validate_is_fast_and_imports_no_database_or_http_code():
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "from runner.cli import cli\n"
        "try:\n"
        f"    cli(['validate', '--specs', {str(ROOT / 'specs')!r}], prog_name='sync-runner')\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "elapsed = time.perf_counter() - start\n"
        "banned = sorted(m for m in sys.modules\n"
        "                if m.split('.')[0] in ('sqlalchemy', 'psycopg', 'httpx', 'alembic'))\n"
        "import json\n"
        "print(json.dumps([status, banned, elapsed]), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    status, banned, elapsed = json.loads(done.stderr.strip().splitlines()[-1])
    assert status == 0
    assert banned == []
    assert elapsed < 1.0  # typically ~0.2 s for imports, schemas and every check


def test_validate_and_explain_help_teach_with_an_example():
    for command in ("validate", "explain"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.output
        assert "sync-runner " + command in result.output


KINDS = [
    ("supplier", "bigbuy"),
    ("supplier", "aliexpress"),
    ("marketplace", "shopify"),
    ("marketplace", "woocommerce"),
    ("sync-type", "inventory_update"),
    ("mapping", "aliexpress_product"),
]


@pytest.mark.parametrize(("kind", "name"), KINDS)
def test_explain_prints_the_effective_spec(kind, name):
    result = run("explain", kind, name, "--specs", str(ROOT / "specs"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"# {kind} {name} (from ")
    data = yaml.safe_load(result.output)
    assert isinstance(data, dict)
    assert "{{" in result.output or kind in ("sync-type",)  # templates stay unrendered


def test_explain_output_is_a_valid_spec_that_loads_to_the_same_model(tmp_path, monkeypatch):
    """Effective specs, written back in place of every bundled file, load to equal objects."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "specs", "specs")
    shutil.copytree(ROOT / "mappings", "mappings")
    original = load_specs(Path("specs"), Path("mappings"))
    for name, connector in {**original.suppliers, **original.marketplaces}.items():
        kind = connector.kind
        text = run("explain", kind, name, "--specs", "specs").output
        Path(connector.source_file).write_text(text)
    for name, mapping in original.mappings.items():
        Path(mapping.source_file).write_text(run("explain", "mapping", name).output)
    sync_types = {
        name: yaml.safe_load(run("explain", "sync-type", name).output)
        for name in original.sync_types
    }
    Path("specs/sync_types.yaml").write_text(yaml.safe_dump(sync_types, allow_unicode=True))
    _, issues = check_specs(Path("specs"), Path("mappings"))
    assert issues == []
    assert load_specs(Path("specs"), Path("mappings")) == original


def test_explain_runner_defaults_roundtrip():
    from runner.spec.build import build_runner
    from runner.spec.explain import explain_runner

    runner = load_specs(ROOT / "specs", ROOT / "mappings").runner
    assert build_runner(explain_runner(runner), runner.source_file) == runner


def test_explain_unknown_name_suggests(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["explain", "supplier", "bigbuyy"])
    assert result.exit_code == 2
    assert "unknown supplier 'bigbuyy'; did you mean 'bigbuy'?" in result.output


def test_explain_refuses_invalid_specs(broken):
    result = CliRunner().invoke(cli, ["explain", "supplier", "bigbuy", "--specs", "specs"])
    assert result.exit_code == 2
    assert f"specs/suppliers/bigbuy.yaml:{broken}:1: $.rate_limits: unknown key" in result.output
