"""Pushes to Shopify's REST Admin API, against the fake shop over real HTTP, on SQLite and
Postgres: variants linked by SKU, one inventory level or one variant price a call (the
fewest requests the REST API allows), only what changed, per-item errors as rejects."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from runner.config import load_specs
from runner.db.tables import sync_rejects
from runner.push.run import PushRequest, run_push
from tests.fakes.shopify import LOCATION, ShopifyServer
from tests.push.support import SUPPLIER, USER, add_integration, seed, set_stock

SHOP = "shopify-1"
N = 200


@pytest.fixture
def shop():
    server = ShopifyServer(orders=0).start()
    yield server
    server.stop()


@pytest.fixture
def linked(engine, shop):
    """N imported products (tests.push.support.seed), the same SKUs as Shopify variants
    (variant 5000 + i, inventory item 8000 + i, product 100 + i), and the Shopify
    integration."""
    seed(engine, None, N)
    shop.add_products(
        [
            {
                "id": 100 + i,
                "variants": [
                    {
                        "id": 5000 + i,
                        "sku": f"SKU-{i}",
                        "inventory_item_id": 8000 + i,
                        "price": "1.00",
                    }
                ],
            }
            for i in range(N)
        ]
    )
    add_integration(
        engine,
        SHOP,
        "shopify",
        shop.base_url,
        {"access_token": "shpat_test_token"},
        {"location_id": LOCATION, "rate_limit": {"requests": 100, "per": "second"}},
    )


def push(engine, sync_type: str = "stock_push", **options):
    request = PushRequest(user_id=USER, sync_type=sync_type, integration_id=SHOP)
    return run_push(engine, load_specs(), request, **options)["accounts"][SHOP]


def test_stock_goes_out_one_level_a_call_only_for_what_changed(engine, shop, linked):
    first = push(engine)
    assert (first["match"]["linked"], first["accepted"], shop.writes) == (N, N, N)
    assert shop.levels[8000 + 7] == 10 + 7 % 7
    changed = [3, 50, 120, 199, 0, 77]  # 3 % of N
    set_stock(engine, changed)
    shop.writes, shop.updates = 0, []
    result = push(engine)
    assert (result["sent"], result["accepted"], shop.writes) == (6, 6, 6)
    assert sorted(u["inventory_item_id"] for u in shop.updates) == sorted(8000 + i for i in changed)
    assert all(u["location_id"] == LOCATION for u in shop.updates)
    shop.writes = 0
    assert (push(engine)["sent"], shop.writes) == (0, 0)


def test_per_item_errors_become_rejects_and_the_rest_goes_through(engine, shop, linked):
    push(engine)
    set_stock(engine, [1, 2, 3])
    shop.untracked.add(8002)  # tracking turned off in the shop
    del shop.levels[8003]  # the variant was deleted
    result = push(engine)
    assert (result["sent"], result["accepted"], result["rejected"]) == (3, 1, 2)
    with engine.connect() as conn:
        reasons = dict(
            conn.execute(select(sync_rejects.c.external_id, sync_rejects.c.reason)).all()
        )
    assert "HTTP 422" in reasons["p00002"] and "tracking" in reasons["p00002"]
    assert "HTTP 404" in reasons["p00003"]
    assert SUPPLIER and len(reasons) == 2


def test_prices_go_to_each_variant(engine, shop, linked):
    result = push(engine, "price_push")
    assert result["accepted"] == N and shop.writes == N
    variant = shop._variant(5000 + 2)  # cost 7 + 40 % = 9.80 -> 9.99
    assert variant["price"] == "9.99"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_rejects)).scalar_one() == 0
