"""WooCommerce variable products: their variations are matched by SKU (one listing of the
variations a product) and pushed with `POST /products/{id}/variations/batch`, up to 100 a
request per product, against the fake store over real HTTP, on SQLite and Postgres."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import update

from runner.config import load_specs
from runner.db.tables import listing_links
from runner.push.links import list_links
from runner.push.run import PushRequest, run_push
from tests.fakes.woocommerce import WooCommerceServer
from tests.push.support import SHOP, USER, add_store, seed, set_stock

SIMPLE = 50  # SKU-0 .. SKU-49: simple products 1000 + i
PARENTS = (7001, 7002, 7003)  # variable products of 40 variations each: SKU-50 .. SKU-169
PER_PARENT = 40
N = SIMPLE + PER_PARENT * len(PARENTS)


def _parent(i: int) -> int:
    return PARENTS[(i - SIMPLE) // PER_PARENT]


@pytest.fixture
def store(engine):
    server = WooCommerceServer(orders=0).start()
    seed(engine, None, N)
    simple = [
        {"id": 1000 + i, "sku": f"SKU-{i}", "stock_quantity": 0, "regular_price": "1.00"}
        for i in range(SIMPLE)
    ]
    variable = [
        {
            "id": parent,
            "sku": f"PARENT-{parent}",
            "type": "variable",
            "variations": [
                {"id": 9000 + i, "sku": f"SKU-{i}", "stock_quantity": 0, "regular_price": "1.00"}
                for i in range(N)
                if i >= SIMPLE and _parent(i) == parent
            ],
        }
        for parent in PARENTS
    ]
    server.add_products(simple + variable)
    add_store(engine, server)
    yield server
    server.stop()


def push(engine, sync_type: str = "stock_push") -> dict:
    request = PushRequest(user_id=USER, sync_type=sync_type, account_id=SHOP)
    return run_push(engine, load_specs(), request)["accounts"][SHOP]


def _variation(store, i: int) -> dict:
    return store.variations[_parent(i)][9000 + i]


def test_variations_are_linked_by_sku_and_pushed_a_batch_per_product(engine, store):
    first = push(engine)
    assert first["match"]["linked"] == N and first["match"]["unmatched"] == 0
    assert store.variation_reads == len(PARENTS)  # one page of 40 a product
    links = {link["sku"]: link for link in list_links(engine, USER, SHOP)}
    assert links["SKU-60"]["remote_product_id"] == "7001"
    assert links["SKU-60"]["remote_variant_id"] == "9060"
    assert links["SKU-3"]["remote_variant_id"] is None
    assert "PARENT-7001" not in links  # a variable product is not a listing itself
    assert first["accepted"] == N
    assert (store.batches, store.variation_batches) == (1, len(PARENTS))
    assert _variation(store, 60)["stock_quantity"] == 10 + 60 % 7
    assert store.products[1003]["stock_quantity"] == 10 + 3 % 7

    changed = [3, 55, 56, 100, 169]
    set_stock(engine, changed)
    store.batches = store.variation_batches = 0
    store.updates = []
    second = push(engine)
    assert (second["sent"], second["accepted"]) == (5, 5)
    assert (store.batches, store.variation_batches) == (1, 3)  # 7001: 55, 56; 7002; 7003
    per_product = Counter(u.get("product_id") for u in store.updates)
    assert per_product == {None: 1, 7001: 2, 7002: 1, 7003: 1}
    assert _variation(store, 100)["stock_quantity"] == 600
    assert push(engine)["sent"] == 0


def test_variation_prices_and_a_variation_left_in_doubt(engine, store):
    assert push(engine, "price_push")["accepted"] == N
    assert _variation(store, 61)["regular_price"] == "36.99"  # cost 26 + 40 % -> 36.99
    push(engine)  # the stock; then a stock push is killed with two variations in doubt
    set_stock(engine, [61, 62])
    _variation(store, 61)["stock_quantity"] = 561  # the killed push had set this one
    with engine.begin() as conn:
        conn.execute(
            update(listing_links)
            .where(listing_links.c.external_id.in_(["p00061", "p00062"]))
            .values(stock_sending="0" * 32)
        )
    store.updates = []
    result = push(engine)
    assert (result["in_doubt"], result["read_back"]) == (2, 2)
    assert [(u["product_id"], u["id"]) for u in store.updates] == [(7001, 9062)]
