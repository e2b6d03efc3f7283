"""Every invalid spec, through the real CLI: a located error, exit 2, the database untouched.

The corpus is the spec checker's fixtures (tests/spec/invalid, one broken spec each) plus
the sandbox escapes of tests/hardening/invalid_specs (templates that reach for internals,
globals, loops, includes, or nest too deep). Each fixture says which file of a copy of the
bundled specs it replaces (`# target:`) and every line the checker must print
(`# expect:`). Each one runs a database command (`run`, `sync`, `run-job`, `enqueue`,
`maintain`, `stats`, in turn) against a real migrated database holding rows; afterwards
every table holds exactly what it held before, and the SQLite file was not even opened (its
bytes are unchanged and no WAL file appeared), because specs are checked before connecting.

The fixtures run inside one subprocess that calls the CLI's entry point once per fixture
(`sync-runner` in-process, standalone mode: the same parsing, output and exit codes), so
the corpus costs one interpreter start instead of seventy; a few run as separate processes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from runner.db.tables import import_jobs, imported_products, suppliers
from tests.hardening.support import ROOT, T0, cli, snapshot

CORPUS = sorted((ROOT / "tests" / "spec" / "invalid").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "hardening" / "invalid_specs").glob("*.yaml")
)
COMMANDS = [
    ["run", "--no-maintenance"],
    ["sync", "--user", "user-a", "--type", "supplier_api"],
    ["run-job", "00000000-0000-4000-8000-000000000001"],
    ["enqueue", "--user", "user-a", "--type", "inventory_update"],
    ["maintain"],
    ["stats"],
]

DRIVER = r"""
import contextlib, io, json, os, sys
from runner.cli import cli

results = []
for case in json.load(sys.stdin):
    os.chdir(case["cwd"])
    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            cli.main(case["args"], prog_name="sync-runner", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    results.append({"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
print(json.dumps(results))
"""


def parse_fixture(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    target = lines[0].removeprefix("# target: ").strip()
    expected = [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]
    return target, expected


def project_for(fixture: Path, where: Path) -> Path:
    """A copy of the bundled specs and mappings with the fixture written over its target."""
    shutil.copytree(ROOT / "specs", where / "specs")
    shutil.copytree(ROOT / "mappings", where / "mappings")
    target, _ = parse_fixture(fixture)
    (where / target).write_text(fixture.read_text(encoding="utf-8"), encoding="utf-8")
    return where


def seed_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(suppliers).values(
                id="sup-1",
                user_id="user-a",
                name="BigBuy",
                supplier_type="bigbuy",
                api_credentials={"api_key": "k" * 12},
                settings={},
                created_at=T0,
                updated_at=T0,
            )
        )
        conn.execute(
            insert(imported_products),
            [
                {
                    "user_id": "user-a",
                    "supplier_id": "sup-1",
                    "external_id": str(n),
                    "name": f"product {n}",
                    "created_at": T0,
                    "updated_at": T0,
                }
                for n in range(5)
            ],
        )
        conn.execute(
            insert(import_jobs).values(
                id="00000000-0000-4000-8000-000000000001",
                user_id="user-a",
                source_type="supplier_api",
                supplier_id="sup-1",
                status="pending",
                scheduled_at=T0,
                concurrency_key="user-a|supplier_api|sup-1",
                created_at=T0,
                updated_at=T0,
                errors=[],
                metadata={},
            )
        )


def sqlite_files(db_url: str) -> dict[str, str]:
    path = Path(db_url.removeprefix("sqlite:///"))
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in path.parent.glob(path.name + "*")
    }


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 50
    assert len(list((ROOT / "tests" / "hardening" / "invalid_specs").glob("*.yaml"))) >= 15


@pytest.mark.slow
def test_every_invalid_spec_exits_2_with_located_errors_and_touches_nothing(
    db_url, db_backend, engine, tmp_path
):
    seed_rows(engine)
    before = snapshot(engine)
    engine.dispose()  # closed (checkpointed) before the file is fingerprinted
    files_before = sqlite_files(db_url) if db_backend == "sqlite" else None

    cases, expected = [], []
    for index, fixture in enumerate(CORPUS):
        project = project_for(fixture, tmp_path / f"{index:03d}-{fixture.stem}")
        command = COMMANDS[index % len(COMMANDS)]
        args = [*command, "--specs", str(project / "specs"), "--database-url", db_url]
        cases.append({"cwd": str(project), "args": args})
        expected.append(parse_fixture(fixture)[1])
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)

    for fixture, case, want, got in zip(CORPUS, cases, expected, results, strict=True):
        where = f"{fixture.name} via `{case['args'][0]}`"
        assert got["code"] == 2, f"{where}: exit {got['code']}\n{got['stderr']}"
        lines = got["stderr"].splitlines()
        assert lines[:-1] == want, where  # every located error, exactly, and nothing else
        summary = lines[-1]  # e.g. "error: 2 spec error(s): fix them first (sync-runner validate)"
        assert f"{len(want)} " in summary and summary.endswith("(sync-runner validate)"), where
        assert "Traceback" not in got["stderr"] and got["stdout"] == "", where
    if files_before is not None:
        assert sqlite_files(db_url) == files_before  # the file was not even opened
    assert snapshot(engine) == before  # no table changed


@pytest.mark.parametrize(
    "fixture", [CORPUS[0], CORPUS[-1], CORPUS[len(CORPUS) // 2]], ids=lambda p: p.stem
)
def test_separate_processes_exit_2_and_create_no_database(fixture, tmp_path):
    project = project_for(fixture, tmp_path / "project")
    missing = tmp_path / "never" / "created.db"
    done = cli(
        "run",
        "--specs",
        str(project / "specs"),
        "--database-url",
        f"sqlite:///{missing}",
        cwd=project,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[:-1] == parse_fixture(fixture)[1]
    assert not missing.parent.exists()
    check = cli("validate", "--specs", str(project / "specs"), cwd=project)
    assert check.returncode == 2
    assert check.stdout.splitlines()[: len(parse_fixture(fixture)[1])] == parse_fixture(fixture)[1]
