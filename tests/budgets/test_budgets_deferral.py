"""Budget waits defer jobs (attempt unspent) and deferred jobs resume at the next page.

A BigBuy-shaped fake allows 10 requests per endpoint per hour across all clients; the runner
spends the budgets of specs/suppliers/bigbuy.yaml, shared in the database, on the fake clock.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from runner.clock import FakeClock
from runner.config import load_specs
from runner.queue import Queue
from runner.worker import Worker, WorkerOptions
from tests.budgets.support import PATHS, add_bigbuy, assert_products_exact, jobs
from tests.fakes.bigbuy import BigBuyServer
from tests.sync.support import T0

HOUR = 3600


def _worker(engine, specs, clock) -> Worker:
    options = WorkerOptions(max_jobs=1, schedules=False, maintenance=False)
    return Worker(engine, specs, clock=clock, options=options)


def test_jobs_one_after_another_never_overspend_and_the_first_that_does_not_fit_waits(
    engine, start_server, caplog
):
    clock = FakeClock(T0)
    server = start_server(
        BigBuyServer(products=2500, endpoint_limit=(10, HOUR), wall=lambda: clock.now().timestamp())
    )
    add_bigbuy(engine, "bb", server.base_url, max_wait_seconds=0)
    specs = load_specs()
    queue = Queue(engine, specs.runner.queue, clock)
    # 2,500 products at 10,000 a page: one request per list, so ten jobs fit in the hour.
    for _ in range(11):
        queue.enqueue("user-a", "supplier_api", account_id="bb")
        clock.advance(1)
    outcomes = []
    for _ in range(11):
        with caplog.at_level(logging.INFO, logger="sync_runner"):
            report = _worker(engine, specs, clock).run()  # each job by its own worker
        outcomes += [o.outcome for o in report.outcomes]
        clock.advance(1)
    assert outcomes == ["completed"] * 10 + ["deferred"]
    assert server.refused == 0
    assert all(server.per_window(path) == 10 for path in PATHS.values())

    waiting = jobs(engine)[-1]
    assert waiting.status == "pending"
    assert waiting.attempts == 0  # the attempt was given back
    first_products_call = T0 + timedelta(seconds=11)  # the first job ran after the enqueues
    # the window and a second's margin for the time a request takes to arrive
    assert waiting.scheduled_at == first_products_call + timedelta(seconds=HOUR + 1)
    assert waiting.result_data["waiting_for"] == [
        {"budget": "bigbuy/products", "until": waiting.scheduled_at.isoformat()[:19] + "Z"}
    ]
    assert waiting.result_data["accounts"]["bb"]["status"] == "waiting"
    assert "⏸ job" in caplog.text and "waits for bigbuy/products until 09:00 UTC" in caplog.text

    # Not due before the window reopens; then it runs and completes.
    assert _worker(engine, specs, clock).run().outcomes == []
    clock.set(waiting.scheduled_at)
    (done,) = _worker(engine, specs, clock).run().outcomes
    assert done.outcome == "completed"
    assert server.refused == 0
    assert [job.status for job in jobs(engine)] == ["completed"] * 11
    assert_products_exact(engine, "bb", 2500)


def test_a_step_deferred_in_its_pages_resumes_at_the_next_page(engine, start_server, make_specs):
    clock = FakeClock(T0)
    server = start_server(BigBuyServer(products=500, wall=lambda: clock.now().timestamp()))
    specs_dir = make_specs()
    bigbuy = specs_dir / "suppliers" / "bigbuy.yaml"
    text = bigbuy.read_text().replace("size: 10000,", "size: 100,")
    bigbuy.write_text(
        text.replace("products: {requests: 10, per: hour}", "products: {requests: 3, per: hour}")
    )
    specs = load_specs(specs_dir)
    add_bigbuy(engine, "bb", server.base_url, max_wait_seconds=0)
    queue = Queue(engine, specs.runner.queue, clock)
    queue.enqueue("user-a", "supplier_api", account_id="bb")

    (first,) = _worker(engine, specs, clock).run().outcomes
    assert first.outcome == "deferred"
    pages = [r.query["page"] for r in server.requests if r.path == PATHS["products"]]
    assert pages == ["0", "1", "2"]
    (job,) = jobs(engine)
    assert job.attempts == 0
    assert job.checkpoint["accounts"]["bb"]["step"] == "products"
    assert job.checkpoint["accounts"]["bb"]["position"]["params"]["page"] == "3"

    clock.set(job.scheduled_at)
    (second,) = _worker(engine, specs, clock).run().outcomes
    assert second.outcome == "completed"
    pages = [r.query["page"] for r in server.requests if r.path == PATHS["products"]]
    assert pages == ["0", "1", "2", "3", "4", "5"]  # page 5 is the empty end; none twice
    (job,) = jobs(engine)
    assert job.checkpoint is None
    assert job.result_data["accounts"]["bb"]["steps"]["products"]["resumed_at_page"] == 3
    assert_products_exact(engine, "bb", 500)


def test_a_job_of_several_accounts_keeps_what_the_others_did(engine, start_server):
    clock = FakeClock(T0)
    wall = lambda: clock.now().timestamp()  # noqa: E731
    roomy = start_server(BigBuyServer(products=30, wall=wall))
    tight = start_server(BigBuyServer(products=20, wall=wall))
    add_bigbuy(engine, "a-roomy", roomy.base_url, max_wait_seconds=0)
    add_bigbuy(
        engine,
        "b-tight",
        tight.base_url,
        max_wait_seconds=0,
        budgets={"stock": {"requests": 1, "per": "hour"}},
    )
    specs = load_specs()
    queue = Queue(engine, specs.runner.queue, clock)
    queue.enqueue("user-a", "inventory_update", account_id="b-tight")  # spends b's stock slot
    clock.advance(1)
    queue.enqueue("user-a", "supplier_api")  # every supplier account of the user
    (first,) = _worker(engine, specs, clock).run().outcomes
    assert first.outcome == "completed" and first.sync_type == "inventory_update"
    (second,) = _worker(engine, specs, clock).run().outcomes
    assert second.outcome == "deferred"
    job = next(j for j in jobs(engine) if j.source_type == "supplier_api")
    accounts = job.result_data["accounts"]
    assert accounts["a-roomy"]["status"] == "ok"
    assert accounts["b-tight"]["status"] == "waiting"
    assert accounts["b-tight"]["waiting_for"] == "bigbuy/stock"
    assert list(accounts["b-tight"]["steps"]) == ["products", "information", "images", "stock"]
    assert job.checkpoint["accounts"]["a-roomy"]["done"] is True

    roomy_calls = len(roomy.requests)
    clock.set(job.scheduled_at)
    (third,) = _worker(engine, specs, clock).run().outcomes
    assert third.outcome == "completed"
    assert len(roomy.requests) == roomy_calls  # a-roomy was done: not fetched again
    stock = [r for r in tight.requests if r.path == PATHS["stock"]]
    assert len(stock) == 2  # inventory_update's, then the resumed job's; no other list again
    assert len(tight.requests) == 5
    job = next(j for j in jobs(engine) if j.source_type == "supplier_api")
    assert {a["status"] for a in job.result_data["accounts"].values()} == {"ok"}
    assert_products_exact(engine, "a-roomy", 30)
    assert_products_exact(engine, "b-tight", 20)
