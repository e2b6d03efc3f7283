"""Pushes of stock and prices to WooCommerce, against the fake store over real HTTP, on
SQLite and Postgres: links by SKU, only what changed, in the fewest batches, per-item errors
as rejects, safety refusals, and a dry run that lists exactly what the real run sends."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from runner.config import load_specs
from runner.db.tables import (
    activity_logs,
    imported_products,
    listing_links,
    rate_budget_slots,
    sync_rejects,
)
from runner.errors import JobInterrupted
from runner.push.run import PushRequest, run_push
from runner.sync.accounts import UnknownAccount
from tests.fakes.woocommerce import WooCommerceServer
from tests.push.support import SHOP, SUPPLIER, T0, USER, record_listing, seed, set_stock

N = 5_000  # linked products: the figure


@pytest.fixture(scope="module")
def specs():
    return load_specs()


@pytest.fixture
def store():
    server = WooCommerceServer(orders=0).start()
    yield server
    server.stop()


def push(engine, specs, sync_type="stock_push", **options) -> dict[str, Any]:
    dry = options.pop("dry_run", False)
    request = PushRequest(user_id=USER, sync_type=sync_type, dry_run=dry, job_id="job-1")
    return run_push(engine, specs, request, **options)["accounts"][SHOP]


def count(engine: Engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_a_push_sends_exactly_what_changed_in_the_fewest_batches(engine, specs, store):
    seed(engine, store, N)
    first = push(engine, specs)
    assert first["status"] == "ok"
    assert first["match"]["linked"] == N and first["match"]["unmatched"] == 0
    assert (first["sent"], first["accepted"], store.batches) == (N, N, N // 100)
    assert count(engine, listing_links, listing_links.c.stock_hash.is_not(None)) == N

    changed = list(range(0, N, 33))[: N * 3 // 100]  # 3 % of the products
    set_stock(engine, changed)
    store.batches, store.updates = 0, []
    result = push(engine, specs)
    assert (result["changed"], result["sent"], result["accepted"]) == (150, 150, 150)
    assert store.batches == math.ceil(len(changed) / 100) == 2
    assert sorted(u["id"] for u in store.updates) == [1000 + i for i in changed]
    assert all(store.products[1000 + i]["stock_quantity"] == 500 + i for i in changed)
    # every write spent a slot of the declared budget, shared in the database
    assert count(engine, rate_budget_slots, rate_budget_slots.c.budget == "woocommerce/writes")

    store.batches = 0
    again = push(engine, specs)
    assert (again["changed"], again["sent"], again["unchanged"], store.batches) == (0, 0, N, 0)


def test_per_item_errors_become_rejects_and_the_rest_goes_through(engine, specs, store):
    seed(engine, store, 300)
    push(engine, specs)
    set_stock(engine, list(range(10)))
    del store.products[1003], store.products[1004]  # listings deleted in the shop
    store.refuses.add(1007)  # a value the shop refuses
    store.updates = []
    result = push(engine, specs)
    assert (result["sent"], result["accepted"], result["rejected"]) == (10, 7, 3)
    with engine.connect() as conn:
        rejects = conn.execute(
            select(sync_rejects.c.external_id, sync_rejects.c.reason).order_by(
                sync_rejects.c.external_id
            )
        ).all()
    assert [r.external_id for r in rejects] == ["p00003", "p00004", "p00007"]
    assert rejects[0].reason == "woocommerce_rest_product_invalid_id: Invalid ID."
    assert rejects[2].reason == "rest_invalid_param: Invalid parameter(s): stock_quantity"
    assert len(store.updates) == 7
    # nothing lost: what failed is sent again next time, and only that
    store.refuses.clear()
    store.updates = []
    retry = push(engine, specs)
    assert (retry["sent"], retry["accepted"], retry["rejected"]) == (3, 1, 2)
    assert [u["id"] for u in store.updates] == [1007]


def test_the_dry_run_lists_exactly_what_the_real_run_sends(engine, specs, store):
    seed(engine, store, 250)
    listed: list[dict] = []
    dry = push(engine, specs, dry_run=True, on_item=lambda item: listed.append(item.body))
    assert store.batches == 0 and count(engine, listing_links) == 0  # nothing written
    assert dry["sent"] == 250 and dry["items"][0]["body"] == listed[0]
    real = push(engine, specs)
    assert real["sent"] == 250
    assert store.updates == listed

    set_stock(engine, [5, 17, 200])
    listed.clear()
    push(engine, specs, dry_run=True, on_item=lambda item: listed.append(item.body))
    assert listed == [
        {"id": 1005, "stock_quantity": 505},
        {"id": 1017, "stock_quantity": 517},
        {"id": 1200, "stock_quantity": 700},
    ]
    store.updates = []
    push(engine, specs)
    assert store.updates == listed


def test_an_interrupted_push_resumes_without_sending_anything_twice(engine, specs, store):
    seed(engine, store, 450)

    def stop_after_two_batches() -> None:  # the worker's SIGTERM, between two batches
        if store.batches == 2:
            raise JobInterrupted("SIGTERM")

    with pytest.raises(JobInterrupted):
        push(engine, specs, checkpoint=stop_after_two_batches)
    assert len(store.updates) == 200
    resumed = push(engine, specs)
    assert (resumed["sent"], resumed["unchanged"]) == (250, 200)
    ids = [u["id"] for u in store.updates]
    assert len(ids) == len(set(ids)) == 450  # every change sent, none twice


def test_stock_is_not_pushed_from_a_listing_that_did_not_complete(engine, specs, store):
    seed(engine, store, 50, listing="failed")
    result = push(engine, specs)
    assert (result["sent"], result["refused"], store.batches) == (0, 50, 0)
    assert "did not complete: truncated" in result["refused_suppliers"][SUPPLIER]
    record_listing(engine, "ok")  # the next listing completed
    assert push(engine, specs)["sent"] == 50


def test_a_push_that_would_zero_too_much_of_a_shop_is_refused(engine, specs, store):
    seed(engine, store, 100)
    push(engine, specs)
    set_stock(engine, list(range(30)), stock=0)
    store.batches = 0
    result = push(engine, specs)
    assert result["status"] == "refused" and store.batches == 0
    assert "would set 30 of 100 linked products (30%) to 0 stock" in result["reason"]
    assert count(engine, activity_logs, activity_logs.c.event == "push.refused") == 1
    set_stock(engine, list(range(10, 30)))  # the supplier fixed its feed: 10 % zeroed
    result = push(engine, specs)
    assert (result["status"], result["accepted"]) == ("ok", 30)


def test_a_price_push_sends_the_declared_rule(engine, specs, store):
    seed(engine, store, 3)
    result = push(engine, specs, sync_type="price_push")
    assert result["accepted"] == 3
    # cost 5, 6, 7 + 40 % -> 7.00, 8.40, 9.80 -> .99 endings, floor 4.99
    assert [store.products[1000 + i]["regular_price"] for i in range(3)] == [
        "7.99",
        "8.99",
        "9.99",
    ]
    assert push(engine, specs, sync_type="price_push")["sent"] == 0


def test_unmatched_and_ambiguous_skus_are_reported_never_guessed(engine, specs, store):
    seed(engine, store, 5)
    store.add_products([{"id": 9001, "sku": "SKU-1", "stock_quantity": 0}])  # SKU-1 twice
    del store.products[1002]  # SKU-2 not in the store
    result = push(engine, specs)
    assert result["match"]["linked"] == 3
    assert (result["match"]["unmatched"], result["match"]["ambiguous"]) == (1, 1)
    assert result["sent"] == 3


def test_a_rate_limited_batch_is_sent_again_once(engine, specs, store):
    seed(engine, store, 150)
    store.faults.rate_limit(0.2, path="/wp-json/wc/v3/products/batch")
    result = push(engine, specs)
    assert result["accepted"] == 150
    assert len(store.updates) == 150 and store.batches == 2


def test_a_push_touches_only_its_own_users_links(engine, specs, store):
    seed(engine, store, 20)
    with engine.begin() as conn:  # user-b: the same external ids and SKUs, its own shop
        conn.execute(
            insert(imported_products),
            [
                {
                    "user_id": "user-b",
                    "supplier_id": SUPPLIER,
                    "external_id": f"p{i:05d}",
                    "sku": f"SKU-{i}",
                    "stock_quantity": 0,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i in range(20)
            ],
        )
        conn.execute(
            insert(listing_links),
            [
                {
                    "user_id": "user-b",
                    "integration_id": SHOP,
                    "supplier_id": SUPPLIER,
                    "external_id": f"p{i:05d}",
                    "remote_product_id": "1",
                    "matched_by": "manual",
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i in range(20)
            ],
        )
    result = push(engine, specs)
    assert (result["match"]["linked"], result["accepted"]) == (20, 20)
    with engine.connect() as conn:
        theirs = conn.execute(
            select(listing_links.c.stock_hash, listing_links.c.updated_at).where(
                listing_links.c.user_id == "user-b"
            )
        ).all()
    assert len(theirs) == 20 and all(h is None and u == T0 for h, u in theirs)
    with pytest.raises(UnknownAccount):
        run_push(engine, specs, PushRequest("user-b", "stock_push", account_id="nope"))
