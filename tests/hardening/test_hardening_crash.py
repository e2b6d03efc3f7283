"""Crash anywhere: SIGKILL the runner at random points, recover, and compare with a clean run.

A property test, seeded and reproducible (`SEED`, and the iteration in every message): the
same `supplier_api` job (15,000 acme products in 15 slow pages, written in batches of 5,000,
so that a kill lands before the claim, while pages are fetched, between or during batch
writes, or after the finish) runs in `sync-runner
run`, which is killed with SIGKILL after a random delay. Recovery runs then take the job over
once its lease has passed (the test moves a dead worker's lease expiry into the past, which is
what waiting out the schema's minimum lease of 10 s would do), until it completes. Each time,
the final database equals that of a crash-free run: the same rows with the same content, no
duplicate, no lost row, and no job left `running`.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from runner.db.engine import make_engine
from runner.db.tables import import_jobs, imported_products
from runner.queue import Queue
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import ROOT, acme_project, add_acme, cli, products

SEED = 20250115
RUNS = {"sqlite": 20, "postgres": 8}  # 28 killed runs in all
TOTAL = 15_000
SHORT_LEASES = {  # the schema's minimum lease; the test expires a dead worker's lease itself
    "lease_seconds": 10,
    "heartbeat_seconds": 1,
    "max_attempts": 10,
    "poll_seconds": 1,
    "backoff": {"base_seconds": 0.01, "max_seconds": 0.05, "jitter": 0},
}


def fresh_database(db_backend: str, request, tmp_path, index: int) -> str:
    """A new migrated database for one iteration (the conftest's templates)."""
    if db_backend == "sqlite":
        import shutil

        path = tmp_path / f"crash-{index}.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("_postgres")
    name = server.create(template=server.migrated_template())
    request.addfinalizer(lambda: server.drop(name))
    return server.url(name)


def expire_leases(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(import_jobs)
            .where(import_jobs.c.status == "running")
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def run_until_done(args: list[str], engine, job_id: str, where: str) -> int:
    """Recovery runs until the job completes; returns how many runs it took."""
    for runs in range(1, 8):
        done = cli("run", "--no-maintenance", *args, timeout=120)
        assert done.returncode == 0, f"{where}: {done.stderr[-2000:]}"
        if Queue(engine).get(job_id)["status"] == "completed":
            return runs
        time.sleep(0.05)
    raise AssertionError(f"{where}: job {job_id} never completed: {Queue(engine).get(job_id)}")


@pytest.mark.slow
def test_sigkill_anywhere_then_recovery_equals_a_clean_run(
    db_backend, request, tmp_path, make_specs
):
    server = CatalogServer(products=TOTAL, slow=0.08).start()
    rng = random.Random(f"{SEED}-{db_backend}")
    specs = acme_project(make_specs, {"queue": SHORT_LEASES, "schedules": []})
    reference = None
    clean_seconds = 0.0
    outcomes: list[str] = []
    try:
        for index in range(RUNS[db_backend] + 1):  # iteration 0: the crash-free reference
            where = f"seed {SEED}, {db_backend} iteration {index}"
            url = fresh_database(db_backend, request, tmp_path, index)
            engine = make_engine(url)
            try:
                add_acme(engine, "acme-1", server, page_size=1000)
                job_id = Queue(engine).enqueue("user-a", "supplier_api", account_id="acme-1").job_id
                common = ["--specs", str(specs), "--database-url", url]
                if index == 0:
                    started = time.monotonic()
                    run_until_done(common, engine, job_id, where)
                    clean_seconds = time.monotonic() - started  # start-up included
                    reference = products(engine)
                    assert len(reference) == TOTAL
                    continue
                # mostly inside the job, sometimes before the claim or after the finish
                delay = rng.uniform(0.4, 1.1) * clean_seconds
                worker = subprocess.Popen(
                    [sys.executable, "-m", "runner", "run", "--no-maintenance", *common],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(delay)
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=30)
                killed = Queue(engine).get(job_id)
                with engine.connect() as conn:
                    written = conn.scalar(select(func.count()).select_from(imported_products))
                outcomes.append(f"{killed['status']}/{written}")
                expire_leases(engine)  # what 10 s of waiting does to a dead worker's lease
                run_until_done(common, engine, job_id, where)

                assert products(engine) == reference, where  # same rows, same content
                with engine.connect() as conn:
                    assert (
                        conn.scalar(select(func.count()).select_from(imported_products)) == TOTAL
                    ), where
                    running = conn.scalar(
                        select(func.count()).where(import_jobs.c.status == "running")
                    )
                assert running == 0, where
                job = Queue(engine).get(job_id)
                if killed["status"] == "running":  # killed mid-job: its lost attempt is on record
                    assert any(e["type"] == "LeaseExpired" for e in job["errors"]), where
            finally:
                engine.dispose()
    finally:
        server.stop()
    # the kills landed at different stages: before the claim, mid-job, after the finish
    print(f"{db_backend}: {len(outcomes)} SIGKILLs survived (status/rows at the kill): {outcomes}")
    mid_job = [o for o in outcomes if o.startswith("running/")]
    assert len(mid_job) >= len(outcomes) // 4, outcomes  # the kills landed inside the job
    assert len(set(outcomes)) >= 3, outcomes  # at different stages
