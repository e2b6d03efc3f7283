"""Real worker processes (`python -m runner ...`) on one queue, on SQLite and Postgres:
exactly once under competition, SIGKILL recovery, SIGTERM hand-back, per-key exclusion,
schedules enqueued once by two pods, and exit code 3 for an unreachable database.

The workers load the handlers of `queue_test_handlers.py` (this folder) through
`SYNC_RUNNER_HANDLER_MODULES`; every run of a job is recorded in `qt_runs`, whose primary
key is the job id, so a second run of any job fails loudly.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from queue_test_handlers import qt_marks, qt_runs, side
from sqlalchemy import func, insert, select, update

from runner.db.tables import import_jobs, imported_products, marketplace_integrations, suppliers
from runner.queue import Queue
from runner.spec.model import QueueSpec
from tests.runner_process import start_runner

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
LEASE = 10  # the schema's minimum; the crash test expires the lease itself (see there)


@pytest.fixture
def specs_dir(make_specs) -> Path:
    return make_specs(
        {"queue": {"lease_seconds": LEASE, "heartbeat_seconds": 1, "max_attempts": 3}}
    )


@pytest.fixture
def side_tables(engine):
    side.create_all(engine)
    return engine


Spawn = Callable[..., subprocess.Popen]


@pytest.fixture
def spawn(db_url, specs_dir) -> Spawn:
    """Start `python -m runner <args>` against the test database; killed at teardown."""
    started: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        process = start_runner(
            *args,
            db_url=db_url,
            specs_dir=specs_dir,
            handler_modules="queue_test_handlers",
            paths=[str(HERE)],
            env=env,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_for(condition: Callable[[], bool], timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def scalar(engine, stmt):
    with engine.connect() as conn:
        return conn.scalar(stmt)


def job_row(engine, job_id: str) -> dict:
    with engine.connect() as conn:
        stmt = select(import_jobs).where(import_jobs.c.id == job_id)
        return dict(conn.execute(stmt).one()._mapping)


def enqueue_many(engine, count: int, **options) -> list[str]:
    queue = Queue(engine, QueueSpec(max_attempts=3))
    rows = [queue.new_row(f"user-{i}", "qt_record", **options) for i in range(count)]
    with engine.begin() as conn:
        return queue.enqueue_rows(conn, rows)


RUN = ("run", "--no-maintenance", "--no-schedules")


def test_competing_workers_run_every_job_exactly_once(side_tables, spawn, db_backend):
    engine = side_tables
    count = 1000 if db_backend == "postgres" else 200
    ids = enqueue_many(engine, count)
    workers = [spawn(*RUN) for _ in range(4)]
    results = [finish(w, timeout=240) for w in workers]
    assert [rc for rc, _, _ in results] == [0, 0, 0, 0], [err for _, _, err in results]
    with engine.connect() as conn:
        runs = conn.execute(select(qt_runs.c.job_id, qt_runs.c.worker)).all()
        statuses = dict(
            conn.execute(
                select(import_jobs.c.status, func.count()).group_by(import_jobs.c.status)
            ).all()
        )
        attempts = set(conn.scalars(select(import_jobs.c.attempts)))
    assert sorted(r.job_id for r in runs) == sorted(ids)  # each ran, none twice (primary key)
    assert statuses == {"completed": count}  # nothing left pending, nothing failed
    assert attempts == {1}  # no job was claimed twice
    assert len({r.worker for r in runs}) >= 2  # the workers really competed


def test_a_killed_worker_s_job_is_finished_by_another_after_the_lease(side_tables, spawn):
    """SIGKILL mid-job. While the lease lives nobody else may take the job; once it has
    expired another worker finishes it with attempts = 2 and no duplicate product row.

    Waiting out a real 10 s lease would only slow the suite down, so after checking that a
    second worker leaves the job alone, the test moves the stored expiry into the past,
    which is exactly what the passing of time does to a dead worker's lease."""
    engine = side_tables
    queue = Queue(engine)
    job_id = queue.enqueue(
        "u1", "qt_record", metadata={"mark": True, "upsert": True, "hang_on_attempt": 1}
    ).job_id
    victim = spawn(*RUN)
    wait_for(lambda: scalar(engine, select(func.count()).select_from(qt_marks)) == 1, what="start")
    victim.send_signal(signal.SIGKILL)
    finish(victim)
    held = job_row(engine, job_id)
    assert (held["status"], held["attempts"]) == ("running", 1)
    assert held["lease_expires_at"] > datetime.now(UTC)

    rc, _, err = finish(spawn(*RUN))  # lease still live: this worker must leave it alone
    assert rc == 0, err
    assert job_row(engine, job_id)["attempts"] == 1

    with engine.begin() as conn:  # the lease runs out
        conn.execute(
            update(import_jobs)
            .where(import_jobs.c.id == job_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    rc, _, err = finish(spawn(*RUN))
    assert rc == 0, err
    done = job_row(engine, job_id)
    assert (done["status"], done["attempts"]) == ("completed", 2)
    assert [(e["attempt"], e["type"]) for e in done["errors"]] == [(1, "LeaseExpired")]
    with engine.connect() as conn:
        assert conn.execute(select(qt_runs.c.attempt)).scalars().all() == [2]
        products = conn.execute(select(imported_products.c.name)).scalars().all()
    assert products == ["attempt 2"]  # upserted twice, one row


@pytest.mark.parametrize("ignore_stop", [False, True], ids=["cooperative", "stubborn"])
def test_sigterm_hands_the_job_back_uncharged_within_the_grace_period(
    side_tables, spawn, ignore_stop
):
    engine = side_tables
    job_id = (
        Queue(engine)
        .enqueue(
            "u1", "qt_record", metadata={"mark": True, "sleep": 30, "ignore_stop": ignore_stop}
        )
        .job_id
    )
    worker = spawn(*RUN, "--grace-seconds", "1")
    wait_for(lambda: scalar(engine, select(func.count()).select_from(qt_marks)) == 1, what="start")
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    rc, _, err = finish(worker, timeout=10)
    elapsed = time.monotonic() - sent
    assert elapsed < 3, f"took {elapsed:.1f}s to stop"
    # a cooperative job stops at its next checkpoint; a stubborn one is handed back by the
    # lease keeper when the grace period is over, which then ends the process (exit 1)
    assert rc == (1 if ignore_stop else 0), err
    assert "Traceback" not in err
    job = job_row(engine, job_id)
    assert (job["status"], job["attempts"], job["locked_by"]) == ("pending", 0, None)
    assert scalar(engine, select(func.count()).select_from(qt_runs)) == 0


def test_same_key_never_runs_twice_at_once_but_other_keys_do(side_tables, spawn):
    engine = side_tables
    queue = Queue(engine)
    for supplier in ("A", "A", "A", "B", "B", "B"):
        queue.enqueue(
            "u1",
            "qt_record",
            account_id=supplier,
            metadata={"sleep": 0.3, "mark": True, "wait_for_pids": 2},
        )
    workers = [spawn(*RUN) for _ in range(3)]
    assert [finish(w)[0] for w in workers] == [0, 0, 0]
    with engine.connect() as conn:
        runs = conn.execute(select(qt_runs.c.key, qt_runs.c.started, qt_runs.c.ended)).all()
    assert len(runs) == 6

    def overlap(a, b) -> bool:
        return a.started < b.ended and b.started < a.ended

    for key in {r.key for r in runs}:
        same = sorted((r for r in runs if r.key == key), key=lambda r: r.started)
        assert not any(overlap(x, y) for x, y in itertools.pairwise(same)), key
    a_runs = [r for r in runs if r.key.endswith("|A")]
    b_runs = [r for r in runs if r.key.endswith("|B")]
    assert any(overlap(a, b) for a in a_runs for b in b_runs), "different keys never overlapped"


def test_two_pods_starting_together_enqueue_each_schedule_once(side_tables, spawn, make_specs):
    engine = side_tables
    now = datetime.now(UTC)
    common = {"status": "active", "created_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(
            insert(suppliers),
            [
                {
                    "id": f"sup-{i}",
                    "user_id": f"u{i}",
                    "name": "s",
                    "supplier_type": "bigbuy",
                    **common,
                }
                for i in range(5)
            ],
        )
        conn.execute(
            insert(marketplace_integrations),
            [
                {
                    "id": "mkt-1",
                    "user_id": "u1",
                    "platform": "shopify",
                    "name": "m",
                    "shop_url": "https://x.myshopify.com",
                    **common,
                }
            ],
        )
    specs = make_specs(
        {
            "queue": {"lease_seconds": LEASE, "heartbeat_seconds": 1},
            # yearly slots: both pods see the same slot even across a minute boundary
            "schedules": [
                {"name": "stock", "sync_type": "inventory_update", "cron": "0 0 1 1 *"},
                {"name": "orders", "sync_type": "order_sync", "cron": "0 0 1 1 *"},
            ],
        },
        name="scheduled",
    )
    env = {"SYNC_RUNNER_SPECS": str(specs), "QT_OVERRIDE_SYNC_TYPES": "inventory_update,order_sync"}
    pods = [spawn("run", "--no-maintenance", env=env) for _ in range(2)]
    assert [finish(p)[0] for p in pods] == [0, 0]
    with engine.connect() as conn:
        jobs = conn.execute(select(import_jobs.c.dedupe_key, import_jobs.c.status)).all()
        runs = conn.execute(select(func.count()).select_from(qt_runs)).scalar()
    assert len(jobs) == 6 == len({j.dedupe_key for j in jobs}) == runs
    assert {j.status for j in jobs} == {"completed"}
    # a third pod later in the same slot enqueues nothing: the slot is done
    assert finish(spawn("run", "--no-maintenance", env=env))[0] == 0
    assert scalar(engine, select(func.count()).select_from(import_jobs)) == 6


def test_unreachable_database_exits_3_with_one_line(tmp_path, specs_dir):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "run",
            "--database-url",
            "postgresql://bob:pa55word@127.0.0.1:1/shop",
        ],
        env={**os.environ, "SYNC_RUNNER_SPECS": str(specs_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: database unavailable at postgresql+psycopg://bob:***@")
    assert "pa55word" not in result.stderr + result.stdout


def test_a_bad_spec_exits_2_before_touching_the_database(tmp_path, make_specs):
    specs = make_specs({"queue": {"lease_seconds": "soon"}}, name="broken")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "run",
            "--specs",
            str(specs),
            "--database-url",
            f"sqlite:///{tmp_path / 'never.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "lease_seconds" in result.stderr
    assert not (tmp_path / "never.db").exists()


def test_ctrl_c_hands_the_job_back_and_exits_130(side_tables, spawn):
    """Ctrl-C on a terminal is SIGINT: the job goes back uncharged, one line says so, and
    the exit code is 130 as shells expect (SIGTERM keeps 0, above)."""
    engine = side_tables
    job_id = Queue(engine).enqueue("u1", "qt_record", metadata={"mark": True, "sleep": 30}).job_id
    worker = spawn(*RUN, "--grace-seconds", "1")
    wait_for(lambda: scalar(engine, select(func.count()).select_from(qt_marks)) == 1, what="start")
    worker.send_signal(signal.SIGINT)
    rc, _, err = finish(worker, timeout=10)
    assert rc == 130, err
    assert err.rstrip().endswith("interrupted, job handed back")
    assert "Traceback" not in err
    job = job_row(engine, job_id)
    assert (job["status"], job["attempts"]) == ("pending", 0)
