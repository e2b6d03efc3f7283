"""Budgets and checkpoints across real `sync-runner run` processes, on SQLite and Postgres.

- jobs drained one after another, each by its own process, never overspend a budget shared
  in the database, and the first that does not fit waits, attempt unspent, then completes;
- two workers draining one account's jobs in parallel never exceed the budget together;
- SIGKILL at 10 random points of a 20-page sync, each followed by lease expiry and a new
  worker: the rows equal a clean run's, and no page is fetched more than twice.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from runner.config import load_specs
from runner.db.tables import import_jobs, imported_products
from runner.queue import Queue
from runner.sync.engine import SyncRequest, run_sync
from tests.budgets.support import PATHS, add_bigbuy, assert_products_exact, jobs
from tests.fakes.base import Reply, Request
from tests.fakes.bigbuy import BigBuyServer
from tests.runner_process import start_runner

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUN = ("run", "--no-maintenance", "--no-schedules")


@pytest.fixture
def spawn(db_url):
    started: list[subprocess.Popen] = []

    def start(specs_dir: Path, *args: str) -> subprocess.Popen:
        process = start_runner(
            *args,
            db_url=db_url,
            specs_dir=specs_dir,
            handler_modules="small_batches",
            paths=[str(HERE), str(ROOT)],
            log_level="info",
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _finish(process: subprocess.Popen, timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out + err


def _edit(path: Path, *replacements: tuple[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)


def test_jobs_drained_by_one_process_each_never_overspend(engine, make_specs, spawn, start_server):
    window = 20.0
    server = start_server(BigBuyServer(products=2500, endpoint_limit=(3, window)))
    specs_dir = make_specs()
    limits = {name: {"requests": 3, "seconds": window} for name in PATHS}
    add_bigbuy(engine, "bb", server.base_url, budgets=limits, max_wait_seconds=1)
    queue = Queue(engine)
    for _ in range(4):
        queue.enqueue("user-a", "supplier_api", account_id="bb")
    logs = [_finish(spawn(specs_dir, *RUN, "--max-jobs", "1")) for _ in range(4)]
    statuses = [job.status for job in jobs(engine)]
    assert statuses == ["completed"] * 3 + ["pending"]
    waiting = jobs(engine)[-1]
    assert waiting.attempts == 0
    first_call = min(server.calls[PATHS["products"]])
    reopens = datetime.fromtimestamp(first_call + window + 1, UTC)  # + a second's margin
    assert abs((waiting.scheduled_at - reopens).total_seconds()) < 0.5
    assert "⏸ job" in logs[-1] and "waits for bigbuy/products" in logs[-1]
    assert server.refused == 0

    time.sleep(max((waiting.scheduled_at - datetime.now(UTC)).total_seconds(), 0) + 0.2)
    _finish(spawn(specs_dir, *RUN))
    assert [job.status for job in jobs(engine)] == ["completed"] * 4
    assert server.refused == 0
    assert max(server.per_window(path) for path in PATHS.values()) == 3
    assert_products_exact(engine, "bb", 2500)


class _AllEndpoints(BigBuyServer):
    """Counts every request of the account in one sliding window, whatever the endpoint."""

    def _over_endpoint_limit(self, path: str) -> float | None:
        return super()._over_endpoint_limit("*")


def test_two_workers_in_parallel_never_exceed_the_budget_together(
    engine, make_specs, spawn, start_server
):
    server = start_server(_AllEndpoints(products=1000, endpoint_limit=(20, 2.0)))
    specs_dir = make_specs()
    bigbuy = specs_dir / "suppliers" / "bigbuy.yaml"
    text = bigbuy.read_text().replace("size: 10000,", "size: 100,")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("budget:"))
    bigbuy.write_text(
        text.replace(
            "rate_limit: {requests: 10, per: hour}", "rate_limit: {requests: 20, seconds: 2}"
        )
        + "\n"
    )
    add_bigbuy(engine, "bb", server.base_url)
    queue = Queue(engine)
    queue.enqueue("user-a", "supplier_api", account_id="bb")
    queue.enqueue("user-a", "price_update", account_id="bb")
    queue.enqueue("user-a", "inventory_update", account_id="bb")
    workers = [spawn(specs_dir, *RUN) for _ in range(2)]
    for worker in workers:
        _finish(worker, timeout=180)
    assert server.refused == 0
    assert server.per_window("*") <= 20
    assert len(server.calls["*"]) == 4 * 11 + 2 * 11  # every list: 10 pages and the end
    assert {job.status for job in jobs(engine)} == {"completed"}
    assert {job.locked_by for job in jobs(engine)}.__len__() == 2  # both really worked


class _Held(BigBuyServer):
    """Holds the first request of a chosen page until the test lets it go (or kills)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hold_page: str | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()

    def handle(self, request: Request) -> Reply:
        if request.path == PATHS["products"] and request.query.get("page") == self.hold_page:
            self.hold_page = None
            self.arrived.set()
            self.release.wait(30)
        return super().handle(request)


def _rows(engine, supplier_id: str) -> dict:
    skip = {"id", "supplier_id", "created_at", "updated_at", "last_synced_at"}
    with engine.connect() as conn:
        rows = conn.execute(
            select(imported_products).where(imported_products.c.supplier_id == supplier_id)
        ).mappings()
        return {row["external_id"]: {k: v for k, v in row.items() if k not in skip} for row in rows}


def _checkpoint_page(engine, job_id: str) -> str | None:
    with engine.connect() as conn:
        checkpoint = conn.scalar(select(import_jobs.c.checkpoint).where(import_jobs.c.id == job_id))
    position = ((checkpoint or {}).get("accounts", {}).get("killed") or {}).get("position")
    return (position or {}).get("params", {}).get("page")


def test_sigkill_at_ten_random_points_of_a_twenty_page_sync(
    engine, make_specs, spawn, start_server
):
    server = start_server(_Held(products=1000))  # 20 pages of 50
    specs_dir = make_specs({"queue": {"lease_seconds": 10, "heartbeat_seconds": 1}})
    bigbuy = specs_dir / "suppliers" / "bigbuy.yaml"
    text = bigbuy.read_text().replace("size: 10000,", "size: 50,")
    start = text.index("  supplier_api:\n")
    end = text.index("  inventory_update:")
    bigbuy.write_text(text[:start] + "  supplier_api:\n    - operation: products\n" + text[end:])
    specs = load_specs(specs_dir)
    add_bigbuy(engine, "killed", server.base_url, rate_limit=False)
    add_bigbuy(engine, "clean", server.base_url, rate_limit=False)
    job_id = (
        Queue(engine).enqueue("user-a", "supplier_api", account_id="killed", max_attempts=20).job_id
    )

    points = sorted(random.Random(15).sample(range(1, 20), 10))
    for page in points:
        server.hold_page = str(page)
        server.arrived.clear()
        server.release.clear()
        worker = spawn(specs_dir, *RUN)
        assert server.arrived.wait(60), f"page {page} never requested"
        deadline = time.monotonic() + 30  # every page before it written and checkpointed
        while _checkpoint_page(engine, job_id) != str(page) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _checkpoint_page(engine, job_id) == str(page)
        worker.send_signal(signal.SIGKILL)
        worker.communicate()
        server.release.set()
        with engine.begin() as conn:  # the lease expires (instead of waiting 10 s)
            conn.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job_id)
                .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    _finish(spawn(specs_dir, *RUN))
    (job,) = [j for j in jobs(engine) if j.id == job_id]
    assert job.status == "completed"

    fetched = Counter(r.query["page"] for r in server.requests if r.path == PATHS["products"])
    assert set(fetched) == {str(p) for p in range(21)}  # 20 pages and the empty end
    assert max(fetched.values()) <= 2
    assert {p for p, n in fetched.items() if n == 2} == {str(p) for p in points}

    run_sync(engine, specs, SyncRequest("user-a", "supplier_api", account_id="clean"))
    assert _rows(engine, "killed") == _rows(engine, "clean")
    assert len(_rows(engine, "killed")) == 1000
