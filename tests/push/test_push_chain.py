"""Schedules `after:` a sync type: a stock push chained after each successful
`inventory_update`, enqueued in the completion's transaction, once per parent job."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from runner.config import load_specs
from runner.db.tables import import_jobs, suppliers
from runner.demo import DEMO_USER, seed_demo
from runner.queue import Queue
from runner.schedules import chain_succeeded, enqueue_chained
from runner.worker import Worker, WorkerOptions

CHAIN = "stock-after-inventory"  # the bundled runner.yaml's chained schedule


def _jobs(engine, sync_type: str) -> list:
    with engine.connect() as conn:
        return conn.execute(
            select(import_jobs)
            .where(import_jobs.c.source_type == sync_type)
            .order_by(import_jobs.c.created_at, import_jobs.c.id)
        ).all()


def _drain(engine, specs, *, offline: bool = True) -> None:
    """Run the queue; offline: every account, even a live one, reads and pushes mock data."""
    options = WorkerOptions(offline=offline, schedules=False, maintenance=False)
    Worker(engine, specs, options=options).run()


def test_a_completed_inventory_update_chains_one_stock_push_per_integration(engine):
    specs = load_specs()
    seed_demo(engine, specs)
    queue = Queue(engine, specs.runner.queue)
    queue.enqueue(DEMO_USER, "supplier_api", priority=10)
    parent = queue.enqueue(
        DEMO_USER, "inventory_update", metadata={"stale_after_seconds": 0}
    ).job_id
    _drain(engine, specs)

    pushes = _jobs(engine, "stock_push")
    assert sorted(job.supplier_id for job in pushes) == ["demo-shopify", "demo-woocommerce"]
    for job in pushes:
        assert job.dedupe_key == f"after:{CHAIN}:{parent}:{job.supplier_id}"
        assert job.metadata == {"schedule": CHAIN, "after_job": parent}
        assert job.user_id == DEMO_USER
        assert job.status == "completed", job.errors  # the same drain ran them
        assert job.result_data["totals"]["accepted"] > 0
    # Neither the supplier sync nor the pushes chain anything else.
    assert len(_jobs(engine, "price_push")) == 0

    # The completion seen again (a second worker, a replay) chains nothing new.
    result = _jobs(engine, "inventory_update")[0].result_data
    with engine.begin() as conn:
        assert enqueue_chained(conn, queue, specs, queue._get_job(parent), result) == []
    assert len(_jobs(engine, "stock_push")) == 2

    # A second inventory_update chains its own pushes, which send nothing new.
    second = queue.enqueue(
        DEMO_USER, "inventory_update", metadata={"stale_after_seconds": 0}
    ).job_id
    _drain(engine, specs)
    later = [job for job in _jobs(engine, "stock_push") if job.metadata["after_job"] == second]
    assert len(later) == 2
    assert all(job.status == "completed" for job in later)
    assert sum(job.result_data["totals"]["accepted"] for job in later) == 0


def test_a_failed_or_partial_inventory_update_chains_nothing(engine):
    specs = load_specs()
    seed_demo(engine, specs)
    # One more supplier account, live and without credentials: its listing fails, the job
    # fails (the mock ones went through), and no push follows it.
    with engine.begin() as conn:
        row = conn.execute(select(suppliers).where(suppliers.c.user_id == DEMO_USER)).first()
        values = dict(row._mapping)
        values.update(id="live-no-key", name="Live without key", mode="live")
        conn.execute(insert(suppliers).values(values))
    queue = Queue(engine, specs.runner.queue)
    queue.enqueue(DEMO_USER, "supplier_api", priority=10, max_attempts=1)
    parent = queue.enqueue(
        DEMO_USER, "inventory_update", max_attempts=1, metadata={"stale_after_seconds": 0}
    ).job_id
    _drain(engine, specs, offline=False)  # the mock accounts stay mock; the live one fails
    assert queue.get(parent)["status"] == "failed"
    assert _jobs(engine, "stock_push") == []

    # Without the failing account, the next one chains.
    with engine.begin() as conn:
        conn.execute(
            update(suppliers).where(suppliers.c.id == "live-no-key").values(status="inactive")
        )
    queue.enqueue(DEMO_USER, "inventory_update", metadata={"stale_after_seconds": 0})
    _drain(engine, specs)
    assert len(_jobs(engine, "stock_push")) == 2


def test_only_a_fully_completed_listing_chains():
    ok = {"status": "ok"}
    assert chain_succeeded({"accounts": {"a": ok, "b": {"status": "skipped"}}})
    assert not chain_succeeded({"accounts": {"a": ok, "b": {"status": "failed"}}})
    assert not chain_succeeded({"accounts": {"a": ok, "b": {"status": "waiting"}}})
    assert not chain_succeeded({"accounts": {"a": {"status": "skipped"}}})
    assert not chain_succeeded({"accounts": {}})
    assert not chain_succeeded(None)
