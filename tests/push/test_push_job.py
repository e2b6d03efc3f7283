"""A push through the queue and the worker, and through `sync-runner sync --dry-run`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from runner.cli import cli
from runner.config import load_specs
from runner.db.tables import import_jobs
from runner.push.run import PushRequest, run_push
from runner.queue import Queue
from runner.worker import Worker, WorkerOptions
from tests.fakes.woocommerce import WooCommerceServer
from tests.push.support import SHOP, USER, add_integration, seed, set_stock


@pytest.fixture
def store():
    server = WooCommerceServer(orders=0).start()
    yield server
    server.stop()


def test_the_worker_runs_a_queued_stock_push(engine, store):
    specs = load_specs()
    seed(engine, store, 120)
    job_id = Queue(engine, specs.runner.queue).enqueue(USER, "stock_push", account_id=SHOP).job_id
    Worker(engine, specs, options=WorkerOptions(schedules=False, maintenance=False)).run()
    with engine.connect() as conn:
        job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()
    assert job.status == "completed", job.errors
    assert job.result_data["totals"]["accepted"] == 120
    assert store.batches == 2 and len(store.updates) == 120


def test_sync_dry_run_lists_each_item_and_sends_nothing(engine, db_url, store):
    seed(engine, store, 120)
    args = ["sync", "--user", USER, "--type", "stock_push", "--database-url", db_url]
    CliRunner().invoke(cli, args, catch_exceptions=False)  # everything pushed once
    set_stock(engine, [3, 7])
    store.batches = 0
    result = CliRunner().invoke(cli, [*args, "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    items = [line for line in lines if line.startswith("> ")]
    assert items == [
        '> SKU-3 (sup-1/p00003): stock_quantity 503  {"id":1003,"stock_quantity":503}',
        '> SKU-7 (sup-1/p00007): stock_quantity 507  {"id":1007,"stock_quantity":507}',
    ]
    assert "woocommerce (Store): ok: linked 120 (new 0, unmatched 0), changed 2, sent 2" in (
        result.output
    )
    assert store.batches == 0


def test_an_offline_push_links_and_sends_to_the_mock_shop(engine):
    specs = load_specs()
    seed(engine, None, 250)
    add_integration(engine, "mock-shop", "woocommerce", "https://shop.example.com", {}, {})
    request = PushRequest(user_id=USER, sync_type="stock_push", offline=True)
    result = run_push(engine, specs, request)["accounts"]["mock-shop"]
    assert (result["mode"], result["match"]["linked"], result["accepted"]) == ("mock", 250, 250)
    assert result["requests"] == 3  # 100 a batch, as the real store
    again = run_push(engine, specs, request)["accounts"]["mock-shop"]
    assert (again["sent"], again["requests"]) == (0, 0)


def test_a_manual_link_is_pushed_and_bad_input_is_one_line(engine, db_url, store):
    seed(engine, store, 3)
    store.add_products([{"id": 7777, "sku": "OTHER", "stock_quantity": 0}])
    base = ["--user", USER, "--integration", SHOP, "--supplier", "sup-1", "--database-url", db_url]
    run = CliRunner().invoke
    ok = run(cli, ["links", "set", *base, "--external-id", "p00001", "--product-id", "7777"])
    assert ok.exit_code == 0, ok.output
    bad = run(cli, ["links", "set", *base, "--external-id", "nope", "--product-id", "1"])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        "error: user 'user-a' has no imported product 'nope' of supplier 'sup-1'"
    ]
    CliRunner().invoke(
        cli, ["sync", "--user", USER, "--type", "stock_push", "--database-url", db_url]
    )
    assert store.products[7777]["stock_quantity"] == 11  # p00001's stock, by the manual link
    assert 1001 not in {u["id"] for u in store.updates}
    listed = run(cli, ["links", "list", "--user", USER, "--database-url", db_url])
    assert "sup-1/p00001  sku SKU-1  -> 7777  (manual)" in listed.output
    assert listed.output.rstrip().endswith("3 link(s)")
    gone = run(cli, ["links", "remove", *base, "--external-id", "p00001"])
    assert gone.exit_code == 0
    again = run(cli, ["links", "remove", *base, "--external-id", "p00001"])
    assert again.exit_code == 2 and "no link of sup-1/p00001" in again.output


def test_a_schedule_of_a_push_targets_the_integrations_whose_spec_pushes(engine, store):
    from runner.schedules import _schedule_targets
    from runner.spec.model import ScheduleSpec

    specs = load_specs()
    seed(engine, store, 1)
    schedule = ScheduleSpec(name="stock-out", sync_type="stock_push", cron="10 * * * *")
    with engine.connect() as conn:
        assert _schedule_targets(conn, specs, schedule) == [(USER, SHOP)]
