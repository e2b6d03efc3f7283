"""Resuming: a job handed back (SIGTERM) goes on at its checkpoint; an operation whose
positions expire restarts its step; finished steps are never run again."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from runner.clock import FakeClock
from runner.config import load_specs
from runner.db.tables import import_jobs
from runner.errors import JobInterrupted
from runner.handlers import JobContext
from runner.queue import Queue
from runner.sync import run_job
from runner.worker import Worker, WorkerOptions
from tests.budgets.support import PATHS, add_bigbuy, assert_products_exact, jobs
from tests.fakes.bigbuy import BigBuyServer
from tests.sync.support import T0


def _small_pages(make_specs, *, products_budget: int = 10, restart: bool = False):
    specs_dir = make_specs()
    bigbuy = specs_dir / "suppliers" / "bigbuy.yaml"
    text = bigbuy.read_text().replace("size: 10000,", "size: 100,")
    text = text.replace(
        "products: {requests: 10, per: hour}",
        f"products: {{requests: {products_budget}, per: hour}}",
    )
    if restart:
        text = text.replace("    budget: products\n", "    budget: products\n    resume: restart\n")
    bigbuy.write_text(text)
    return load_specs(specs_dir)


def _pages(server, name: str) -> list[str]:
    return [r.query["page"] for r in server.requests if r.path == PATHS[name]]


def test_a_job_handed_back_on_sigterm_resumes_at_its_checkpoint(engine, start_server, make_specs):
    clock = FakeClock(T0)
    server = start_server(BigBuyServer(products=500))
    specs = _small_pages(make_specs)
    add_bigbuy(engine, "bb", server.base_url, rate_limit=False)
    queue = Queue(engine, specs.runner.queue, clock)
    job_id = queue.enqueue("user-a", "supplier_api", account_id="bb").job_id

    # The worker is told to stop (SIGTERM) once a batch of the information list committed
    # (not once the server saw its page 2: the fetch thread reads ahead of the batches).
    def stop_reason() -> str | None:
        with engine.connect() as conn:
            stored = conn.execute(
                select(import_jobs.c.checkpoint).where(import_jobs.c.id == job_id)
            ).scalar()
        running = ((stored or {}).get("accounts") or {}).get("bb") or {}
        return "worker stopping (SIGTERM)" if running.get("step") == "information" else None

    job = queue.claim("w1")
    ctx = JobContext(job=job, engine=engine, specs=specs, clock=clock, stop_reason=stop_reason)
    with pytest.raises(JobInterrupted):
        run_job(ctx, batch_rows=100)  # a batch per page: every page is checkpointed
    assert queue.release(job)
    (held,) = jobs(engine)
    assert held.status == "pending" and held.attempts == 0
    checkpoint = held.checkpoint["accounts"]["bb"]
    assert checkpoint["step"] == "information"
    assert list(checkpoint["result"]["steps"]) == ["products"]
    stopped_at = int(checkpoint["position"]["params"]["page"])
    before = len(_pages(server, "information"))

    options = WorkerOptions(max_jobs=1, schedules=False, maintenance=False)
    (done,) = Worker(engine, specs, clock=clock, options=options).run().outcomes
    assert done.outcome == "completed"
    assert _pages(server, "products") == ["0", "1", "2", "3", "4", "5"]  # not run again
    information = _pages(server, "information")
    assert information[before:] == [str(p) for p in range(stopped_at, 6)]  # from the checkpoint
    assert max(information.count(p) for p in information) <= 2
    (job_row,) = jobs(engine)
    assert job_row.id == job_id and job_row.status == "completed"
    products = job_row.result_data["accounts"]["bb"]["steps"]["products"]
    assert products["fetched"] == 500  # the finished step's counts were kept
    assert_products_exact(engine, "bb", 500)


def test_an_operation_whose_positions_expire_restarts_its_step(engine, start_server, make_specs):
    clock = FakeClock(T0)
    server = start_server(BigBuyServer(products=500, wall=lambda: clock.now().timestamp()))
    specs = _small_pages(make_specs, products_budget=3, restart=True)
    add_bigbuy(engine, "bb", server.base_url, max_wait_seconds=0)
    Queue(engine, specs.runner.queue, clock).enqueue("user-a", "supplier_api", account_id="bb")
    options = WorkerOptions(max_jobs=1, schedules=False, maintenance=False)

    (first,) = Worker(engine, specs, clock=clock, options=options).run().outcomes
    assert first.outcome == "deferred"
    assert _pages(server, "products") == ["0", "1", "2"]
    clock.set(jobs(engine)[0].scheduled_at)
    (second,) = Worker(engine, specs, clock=clock, options=options).run().outcomes
    assert second.outcome == "deferred"  # from page 0 again: 3 pages, then the budget
    assert _pages(server, "products") == ["0", "1", "2"] * 2
