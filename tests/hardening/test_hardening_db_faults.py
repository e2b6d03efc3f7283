"""Database faults, through the CLI.

- Postgres drops the runner's connections in the middle of a job (`pg_terminate_backend`,
  from the test, while the job fetches a slow supplier's pages and writes them): the run
  ends with exit 0 (the job recorded as a retry, or completed on reconnect) or exit 3 with
  one clear `error: database unavailable: ...` line (the documented code for a lost
  database; the job stays leased and is taken over later). Either way, later runs complete
  the job, and the rows equal a clean run's: a verifying sync finds every row unchanged.
- The database is unreachable at start: exit 3 and exactly one clear line, without the
  password, for Postgres (nothing listening) and SQLite (no such file, not created).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, update

from runner.db.tables import import_jobs
from runner.queue import Queue
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import ROOT, acme_project, add_acme, cli, products

TOTAL = 6000
QUEUE = {
    "lease_seconds": 10,
    "heartbeat_seconds": 1,
    "max_attempts": 10,
    "poll_seconds": 1,
    "backoff": {"base_seconds": 0.01, "max_seconds": 0.05, "jitter": 0},
}
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = %(db)s AND pid <> pg_backend_pid()"
)


@pytest.fixture
def db_backend():
    return "postgres"


@pytest.mark.postgres
@pytest.mark.parametrize("storm", [False, True], ids=["one-drop", "drop-storm"])
def test_postgres_drops_the_connection_mid_job(db_url, engine, make_specs, storm):
    server = CatalogServer(products=TOTAL, slow=0.15).start()
    admin = create_engine(db_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    database = db_url.rsplit("/", 1)[1]
    try:
        specs = acme_project(make_specs, {"queue": QUEUE, "schedules": []})
        add_acme(engine, "acme-1", server, page_size=500)
        job_id = Queue(engine).enqueue("user-a", "supplier_api", account_id="acme-1").job_id
        common = ["--specs", str(specs), "--database-url", db_url]
        worker = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", "--no-maintenance", *common],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while Queue(engine).get(job_id)["status"] != "running" or len(server.requests) < 3:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        engine.dispose()  # our own pool must not hold the connections we count
        killed = 0
        with admin.connect() as conn:
            for _ in range(20 if storm else 1):
                killed += conn.exec_driver_sql(TERMINATE, {"db": database}).scalar_one()
                time.sleep(0.1)
        assert killed >= 1
        _, err = worker.communicate(timeout=120)
        assert worker.returncode in (0, 3), err[-3000:]
        assert "Traceback" not in err
        if worker.returncode == 3:
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and errors[0].startswith("error: database unavailable"), err
        after_drop = Queue(engine).get(job_id)
        if after_drop["status"] == "running":  # the process died holding the lease
            with engine.begin() as conn:  # what waiting out the 10 s lease does
                conn.execute(
                    update(import_jobs)
                    .where(import_jobs.c.id == job_id)
                    .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
        for _ in range(5):
            if Queue(engine).get(job_id)["status"] == "completed":
                break
            done = cli("run", "--no-maintenance", *common)
            assert done.returncode == 0, done.stderr[-3000:]
            time.sleep(0.05)
        job = Queue(engine).get(job_id)
        assert job["status"] == "completed", job
        assert len(products(engine)) == TOTAL

        server.slow = 0
        check = cli("sync", "--user", "user-a", "--type", "supplier_api", "--json", *common)
        assert check.returncode == 0, check.stderr
        step = json.loads(check.stdout)["accounts"]["acme-1"]["steps"]["products"]
        assert (step["inserted"], step["updated"], step["unchanged"]) == (0, 0, TOTAL)
    finally:
        server.stop()
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_database_at_start_exits_3_with_one_line(tmp_path):
    url = f"postgresql://runner:s3cret-pass@127.0.0.1:{free_port()}/shop"
    missing = tmp_path / "no" / "such.db"
    for args in (
        ["run", "--database-url", url],
        ["run-job", "00000000-0000-4000-8000-000000000001", "--database-url", url],
        ["sync", "--user", "u", "--type", "supplier_api", "--database-url", url],
        ["stats", "--database-url", url],
        ["run", "--database-url", f"sqlite:///{missing}"],
    ):
        done = cli(*args, env={"DATABASE_URL": None})
        assert done.returncode == 3, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)
        assert "s3cret-pass" not in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == ""
    assert not missing.parent.exists()
