"""Interpreter tuning belongs to the process: `run_sync` leaves it alone, the commands apply it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from runner.db.tables import import_jobs
from runner.mapping import CompiledMapping
from runner.sync.engine import SyncRequest, run_sync
from runner.sync.tuning import GC_YOUNG, SWITCH_INTERVAL
from tests.sync.support import EditedBigBuy, add_supplier

ROOT = Path(__file__).resolve().parents[2]


def settings() -> tuple[tuple[int, int, int], int, float]:
    return gc.get_threshold(), gc.get_freeze_count(), sys.getswitchinterval()


def test_a_sync_changes_no_process_wide_setting(engine, specs, start_server, monkeypatch):
    server = start_server(EditedBigBuy(products=3))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    before = settings()
    seen = []
    original = CompiledMapping.map

    def watching(self, record):
        seen.append(settings())
        return original(self, record)

    monkeypatch.setattr(CompiledMapping, "map", watching)
    result = run_sync(engine, specs, SyncRequest("user-a", "supplier_api"))
    assert result["totals"]["inserted"] == 3
    assert seen and set(seen) == {before}  # while it ran, too
    assert settings() == before


def test_run_job_tunes_its_process_once_at_start_up(db_url, engine):
    """`run-job` (like `run` and `sync`) calls tune_for_streaming after loading the specs:
    the young generation collects far less often, what lived then is frozen, the GIL moves
    sooner. A probe handler reports what the job's process has."""
    env = {**os.environ, "SYNC_RUNNER_HANDLER_MODULES": "tests.sync.tuning_probe"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "runner", *args, "--database-url", db_url],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    enqueued = cli("enqueue", "--user", "user-a", "--type", "tuning_probe")
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.split()[-1]
    ran = cli("run-job", job_id)
    assert ran.returncode == 0, ran.stderr
    with engine.connect() as conn:
        job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()._mapping
    assert job["status"] == "completed"
    assert job["result_data"] == {
        "young": max(700, GC_YOUNG),
        "frozen": True,
        "switch_interval": min(0.005, SWITCH_INTERVAL),
    }
