"""The four sync types end to end against the fake servers, on SQLite and Postgres."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from runner.clock import FakeClock
from runner.db.tables import activity_logs, imported_products, orders, sync_rejects
from runner.errors import BudgetWait, JobFailed, JobInterrupted
from runner.handlers import HandlerRegistry, Job, JobContext
from runner.sync import register_handlers
from runner.sync.accounts import UnknownAccount
from runner.sync.diff import format_entry
from runner.sync.engine import SyncRequest, run_sync
from tests.fakes import catalog
from tests.sync.support import (
    T0,
    EditedBigBuy,
    add_supplier,
    count,
    products_of,
)

CENT = Decimal("0.01")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def sync(engine, specs, sync_type, user="user-a", **options):
    request_keys = ("metadata", "dry_run", "job_id", "account_id")
    request_options = {k: options.pop(k) for k in request_keys if k in options}
    return run_sync(engine, specs, SyncRequest(user, sync_type, **request_options), **options)


def step(result, account_id, name):
    return result["accounts"][account_id]["steps"][name]


def counts(step_result):
    keys = ("fetched", "inserted", "updated", "unchanged", "rejected")
    return tuple(step_result[k] for k in keys)


def test_bigbuy_full_sync_builds_products_from_all_lists(engine, specs, start_server):
    server = start_server(EditedBigBuy(products=25))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    result = sync(engine, specs, "supplier_api")

    assert counts(step(result, "bb", "products")) == (25, 25, 0, 0, 0)
    for name in ("information", "images", "stock"):
        assert counts(step(result, "bb", name)) == (25, 0, 25, 0, 0)
    assert step(result, "bb", "products")["requests"] == 1
    assert result["accounts"]["bb"]["status"] == "ok"

    rows = products_of(engine, "bb")
    assert len(rows) == 25
    for index in range(25):
        product = catalog.bigbuy_product(0, index)
        row = rows[str(product["id"])]
        assert row.sku == product["sku"]
        assert row.name == catalog.bigbuy_information(0, index, "en")["name"]
        images = sorted(catalog.bigbuy_images(0, index)["images"], key=lambda i: i["position"])
        assert row.image_urls == [image["url"] for image in images]
        stocks = catalog.bigbuy_stock(0, index)["stocks"]
        assert row.stock_quantity == sum(s["quantity"] for s in stocks)
        assert row.price == money(product["retailPrice"])
        assert row.cost_price == money(product["wholesalePrice"])
        assert row.status == "active" and row.currency == "EUR"

    # Unchanged data: nothing is rewritten.
    again = sync(engine, specs, "supplier_api")
    for name in ("products", "information", "images", "stock"):
        assert counts(step(again, "bb", name)) == (25, 0, 0, 25, 0)
    assert products_of(engine, "bb") == rows

    # Three changed prices: exactly three rows change, in price_update and in a full sync.
    changed = [catalog.bigbuy_id(i) for i in (2, 5, 11)]
    for product_id in changed:
        server.edits[product_id] = {"retailPrice": 999.99}
    prices = sync(engine, specs, "price_update")
    assert counts(step(prices, "bb", "prices")) == (25, 0, 3, 22, 0)
    after = products_of(engine, "bb")
    assert {k for k in after if after[k].price == Decimal("999.99")} == {str(i) for i in changed}
    assert sync(engine, specs, "price_update")["totals"]["updated"] == 0

    # The job left one activity entry per step and one for the job.
    with engine.connect() as conn:
        events = conn.execute(select(activity_logs.c.event)).scalars().all()
    assert events.count("job.finished") == 4
    assert events.count("step.finished") == 4 + 4 + 1 + 1


def test_aliexpress_prices_come_from_the_detail_call(engine, specs, aliexpress):
    add_supplier(engine, "ae", "aliexpress", base_url=aliexpress.base_url)
    clock = FakeClock(T0)
    result = sync(engine, specs, "supplier_api", clock=clock)
    product = step(result, "ae", "product")
    assert counts(product) == (12, 12, 0, 0, 0)
    details = [
        r for r in aliexpress.requests if r.params.get("method") == "aliexpress.ds.product.get"
    ]
    assert len(details) == 12  # one detail call per product
    assert product["requests"] == len(aliexpress.requests)  # the id feed's pages included
    rows = products_of(engine, "ae")
    for index in range(12):
        detail = catalog.aliexpress_product(0, index)
        skus = detail["ae_item_sku_info_dtos"]["ae_item_sku_info_d_t_o"]
        row = rows[str(catalog.aliexpress_id(index))]
        assert row.price == money(max(float(s["sku_price"]) for s in skus))
        assert row.cost_price == money(min(float(s["offer_sale_price"]) for s in skus))
        assert row.stock_quantity == sum(int(s["sku_available_stock"]) for s in skus)
        assert row.name == detail["ae_item_base_info_dto"]["subject"]

    # Lookups refresh only stale products (24 h by default), or all with stale_after 0.
    clock.advance(hours=1)
    assert step(sync(engine, specs, "price_update", clock=clock), "ae", "product")["fetched"] == 0
    every = sync(engine, specs, "price_update", clock=clock, metadata={"stale_after_seconds": 0})
    assert counts(step(every, "ae", "product")) == (12, 0, 0, 12, 0)
    assert all(r.last_synced_at == clock.now() for r in products_of(engine, "ae").values())
    clock.advance(hours=25)
    stale = sync(engine, specs, "inventory_update", clock=clock)
    assert counts(step(stale, "ae", "product")) == (12, 0, 0, 12, 0)


def test_a_job_never_touches_another_users_rows(engine, specs, start_server):
    server = start_server(EditedBigBuy(products=10))
    add_supplier(engine, "bb-a", "bigbuy", base_url=server.base_url)
    add_supplier(engine, "bb-b", "bigbuy", base_url=server.base_url, user_id="user-b")
    sync(engine, specs, "supplier_api", user="user-b")
    # Stray rows of user B under user A's supplier id, with the same external ids.
    with engine.begin() as conn:
        conn.execute(
            imported_products.insert(),
            [
                {
                    "user_id": "user-b",
                    "supplier_id": "bb-a",
                    "external_id": str(catalog.bigbuy_id(i)),
                    "price": Decimal("1.00"),
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i in range(10)
            ],
        )
    before = {sid: products_of(engine, sid, user_id="user-b") for sid in ("bb-a", "bb-b")}
    server.edits = {catalog.bigbuy_id(i): {"retailPrice": 5.55} for i in range(10)}
    result = sync(engine, specs, "supplier_api", user="user-a")
    assert list(result["accounts"]) == ["bb-a"]
    assert step(result, "bb-a", "products")["inserted"] == 10
    sync(engine, specs, "price_update", user="user-a", metadata={"stale_after_seconds": 0})
    after = {sid: products_of(engine, sid, user_id="user-b") for sid in ("bb-a", "bb-b")}
    assert after == before
    assert {r.price for r in products_of(engine, "bb-a").values()} == {Decimal("5.55")}
    with pytest.raises(UnknownAccount):
        sync(engine, specs, "supplier_api", user="user-a", account_id="bb-b")


def test_bad_records_are_rejected_and_too_many_fail_the_step(
    engine, specs, start_server, aliexpress
):
    server = start_server(EditedBigBuy(products=25))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    add_supplier(engine, "ae", "aliexpress", base_url=aliexpress.base_url)
    bad = catalog.bigbuy_id(3)
    server.edits[bad] = {"retailPrice": "n/a"}
    result = sync(engine, specs, "supplier_api", job_id="job-1", account_id="bb")
    assert counts(step(result, "bb", "products")) == (25, 24, 0, 0, 1)
    assert str(bad) not in products_of(engine, "bb") and len(products_of(engine, "bb")) == 24
    with engine.connect() as conn:
        reject = conn.execute(select(sync_rejects)).one()
    assert (reject.job_id, reject.user_id, reject.supplier_id, reject.step) == (
        "job-1",
        "user-a",
        "bb",
        "products",
    )
    assert (reject.external_id, reject.field) == (str(bad), "price")
    assert "n/a" in reject.reason
    assert reject.payload["retailPrice"] == "n/a" and reject.payload["id"] == bad

    # 6 of 25 (24%) is more than the allowed 20%: the step fails, the other supplier goes on.
    for index in (4, 5, 6, 7, 8):
        server.edits[catalog.bigbuy_id(index)] = {"retailPrice": None}
    with pytest.raises(JobFailed) as failed:
        sync(engine, specs, "supplier_api", job_id="job-2")
    error = failed.value
    assert not error.transient
    bb = error.result_data["accounts"]["bb"]
    assert bb["status"] == "failed" and bb["failed_step"] == "products"
    assert "6 of 25 records rejected (24%)" in bb["error"]
    assert bb["steps"]["products"]["rejected"] == 6 and "information" not in bb["steps"]
    assert error.result_data["accounts"]["ae"]["status"] == "ok"
    assert error.errors == [
        {
            "supplier_id": "bb",
            "supplier": "bigbuy",
            "step": "products",
            "error": bb["error"],
            "transient": False,
        }
    ]
    assert count(engine, sync_rejects) == 1 + 6


def test_dry_run_writes_nothing_and_reports_the_exact_diff(engine, specs, start_server):
    server = start_server(EditedBigBuy(products=25))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)

    # On an empty table: everything would be inserted, and later steps fill the new rows.
    entries = []
    preview = sync(engine, specs, "supplier_api", dry_run=True, on_diff=entries.append)
    assert count(engine, imported_products) == 0 and count(engine, activity_logs) == 0
    assert counts(step(preview, "bb", "products")) == (25, 25, 0, 0, 0)
    assert counts(step(preview, "bb", "stock")) == (25, 0, 25, 0, 0)
    real = sync(engine, specs, "supplier_api")
    for name in ("products", "information", "images", "stock"):
        assert counts(step(preview, "bb", name)) == counts(step(real, "bb", name))
    assert len([e for e in entries if e.kind == "insert"]) == 25

    rows = products_of(engine, "bb")
    logs = count(engine, activity_logs)
    changed = {catalog.bigbuy_id(i): 12.5 + i for i in (1, 2, 3)}
    for product_id, price in changed.items():
        server.edits[product_id] = {"retailPrice": price}
    server.edits[catalog.bigbuy_id(9)] = {"wholesalePrice": "x"}  # a reject
    entries = []
    preview = sync(engine, specs, "price_update", dry_run=True, on_diff=entries.append)
    assert products_of(engine, "bb") == rows  # values, updated_at, last_synced_at
    assert count(engine, activity_logs) == logs and count(engine, sync_rejects) == 0
    assert counts(step(preview, "bb", "prices")) == (25, 0, 3, 21, 1)
    updates = {e.key: e.changes for e in entries if e.kind == "update"}
    assert updates == {
        str(pid): {"price": (rows[str(pid)].price, money(price))} for pid, price in changed.items()
    }
    (reject,) = [e for e in entries if e.kind == "reject"]
    assert reject.key == str(catalog.bigbuy_id(9)) and "cost_price" in reject.reason
    line = format_entry(entries[0])
    assert line.startswith(("~ bigbuy/prices", "! bigbuy/prices"))

    real = sync(engine, specs, "price_update")
    assert counts(step(real, "bb", "prices")) == counts(step(preview, "bb", "prices"))


def test_skipped_failed_and_transient_accounts(engine, specs, start_server, make_specs):
    ok = start_server(EditedBigBuy(products=5))
    limited = start_server(EditedBigBuy(products=5, rate_limit=(1, 3600)))
    add_supplier(engine, "a-ok", "bigbuy", base_url=ok.base_url)
    add_supplier(
        engine, "b-badkey", "bigbuy", base_url=ok.base_url, credentials={"api_key": "wrong"}
    )
    add_supplier(engine, "c-off", "bigbuy", base_url=ok.base_url, status="inactive")
    add_supplier(
        engine, "d-limited", "bigbuy", base_url=limited.base_url, settings={"max_wait_seconds": 1}
    )

    skipped = sync(engine, specs, "supplier_api", account_id="c-off")
    assert skipped["accounts"]["c-off"]["status"] == "skipped"
    assert skipped["accounts"]["c-off"]["reason"] == "the account is inactive"

    with pytest.raises(JobFailed) as failed:
        sync(engine, specs, "supplier_api")
    result = failed.value.result_data
    assert list(result["accounts"]) == ["a-ok", "b-badkey", "d-limited"]  # inactive left out
    assert result["accounts"]["a-ok"]["status"] == "ok"
    assert result["accounts"]["b-badkey"]["status"] == "failed"
    assert "wrong" not in result["accounts"]["b-badkey"]["error"]
    assert failed.value.transient is False  # the 401 is permanent
    assert len(products_of(engine, "a-ok")) == 5
    assert result["accounts"]["d-limited"]["status"] == "waiting"  # not a failure

    with pytest.raises(BudgetWait) as waiting:
        sync(engine, specs, "inventory_update", account_id="d-limited")
    # rate limited for longer than a worker may wait: deferred, not failed
    assert waiting.value.budget == "bigbuy"
    assert waiting.value.result_data["accounts"]["d-limited"]["status"] == "waiting"

    # A connector that declares no steps for the sync type is skipped with the reason.
    specs_dir = make_specs()
    bigbuy_yaml = specs_dir / "suppliers" / "bigbuy.yaml"
    text = bigbuy_yaml.read_text()
    bigbuy_yaml.write_text(text.replace("  inventory_update:\n    - operation: stock\n", ""))
    from runner.config import load_specs

    narrowed = load_specs(specs_dir)
    result = sync(engine, narrowed, "inventory_update", account_id="a-ok")
    account = result["accounts"]["a-ok"]
    assert account["status"] == "skipped"
    assert account["reason"] == "bigbuy declares no steps for inventory_update"


def test_the_handler_runs_a_claimed_job(engine, specs, start_server):
    server = start_server(EditedBigBuy(products=5))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    registry = HandlerRegistry()
    register_handlers(registry)  # at start-up: every declared sync type, one handler
    handler = registry.get("supplier_api")
    job = Job(
        id="7c1f0000-0000-4000-8000-000000000001",
        user_id="user-a",
        source_type="supplier_api",
        account_id="bb",
        status="running",
        attempts=1,
        max_attempts=5,
        priority=0,
        metadata={},
        locked_by="w1",
    )
    result = handler(JobContext(job=job, engine=engine, specs=specs, clock=FakeClock(T0)))
    assert result["totals"]["inserted"] == 5
    with engine.connect() as conn:
        entry = conn.execute(
            select(activity_logs).where(activity_logs.c.event == "job.finished")
        ).one()
    assert entry.job_id == job.id and entry.user_id == "user-a" and entry.created_at == T0
    assert orders is not None


def test_an_interrupted_job_stops_fetching_at_once(engine, specs, start_server):
    server = start_server(EditedBigBuy(products=20_000))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    calls = []

    def checkpoint() -> None:
        calls.append(1)
        if len(calls) > 3:  # the job start, the account, the step, then the first page
            raise JobInterrupted("worker stopping (SIGTERM)")

    with pytest.raises(JobInterrupted):
        sync(engine, specs, "supplier_api", checkpoint=checkpoint)
    # The fetch thread stopped a few pages ahead (bounded queue), not at page 20.
    assert 1 <= len(server.requests) <= 5
    assert count(engine, activity_logs) == 0
