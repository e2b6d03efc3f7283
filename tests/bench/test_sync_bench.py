"""The sync benchmark runs end to end on a small catalogue (no timing is asserted).

benchmarks/sync_bench.py starts the fake supplier and the runner as real processes, so these
tests take a few seconds each. The checks that matter are the benchmark's own: every product
inserted cold, none changed warm, exactly 1% updated when 1% of the prices changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sync_bench.py"


def run_bench(*options: str) -> dict:
    command = [sys.executable, str(SCRIPT), "-n", "1500", "--page-size", "400", "--runs", "1"]
    done = subprocess.run(
        [*command, *options, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def check_sync_rows(report: dict, backend: str) -> None:
    rows = {row["phase"]: row for row in report["sync"] if row["backend"] == backend}
    assert set(rows) == {"cold", "warm", "nightly", "changed"}
    assert all(row["ok"] for row in rows.values())
    cold, warm, changed = (rows[p]["runs"][0]["totals"] for p in ("cold", "warm", "changed"))
    assert cold["inserted"] == 1500 and cold["fetched"] == 1500 and cold["requests"] == 4
    assert warm["unchanged"] == 1500 and warm["updated"] == warm["inserted"] == 0
    nightly = rows["nightly"]["runs"][0]["totals"]
    assert nightly["unchanged"] == 1500 and nightly["updated"] == nightly["inserted"] == 0
    assert changed["updated"] == 15 and changed["unchanged"] == 1485
    for row in rows.values():
        assert row["products_per_second"] > 0
        assert row["peak_rss_mb"] > 10  # the runner process's own peak, not this one's
        assert row["x_floor"] > 0
    floor = next(f for f in report["floor"] if f["backend"] == backend)
    assert floor["cold"] == pytest.approx(floor["fetch"] + floor["write_cold"], abs=0.002)


@pytest.mark.slow
def test_sync_bench_sqlite() -> None:
    report = run_bench("--backends", "sqlite", "--no-queue")
    check_sync_rows(report, "sqlite")
    startup = report["startup"]
    assert startup["ok"] and startup["validate_imports"] == []
    assert startup["help_seconds"] > 0


@pytest.mark.slow
@pytest.mark.postgres
def test_sync_bench_postgres_and_queue(_postgres) -> None:
    _postgres.admin()  # skips (loudly) when Postgres is not reachable
    report = run_bench(
        "--backends", "postgres", "--queue-jobs", "30", "--workers", "1,2", "--no-startup"
    )
    check_sync_rows(report, "postgres")
    queue = {q["workers"]: q for q in report["queue"]}
    assert set(queue) == {1, 2}
    for q in queue.values():
        assert q["ok"] and q["completed"] == 30 and q["jobs_per_second"] > 0
    assert queue[1]["x_one_worker"] == 1.0


def test_sync_bench_markdown_table() -> None:
    command = [sys.executable, str(SCRIPT), "-n", "300", "--page-size", "100", "--runs", "1"]
    command += ["--backends", "sqlite", "--phases", "warm", "--no-queue", "--no-startup"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| sqlite | warm |" in done.stdout and "300 unchanged" in done.stdout
    assert "| sqlite | fetch + parse |" in done.stdout
