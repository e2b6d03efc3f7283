"""Pushes to Shopify's REST Admin API, against the fake shop over real HTTP, on SQLite and
Postgres: variants linked by SKU, one inventory level or one variant price a call (the
fewest requests the REST API allows), only what changed, per-item errors as rejects."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from runner.config import load_specs
from runner.db.tables import (
    imported_products,
    listing_links,
    marketplace_integrations,
    sync_rejects,
)
from runner.errors import JobFailed
from runner.push.links import list_links
from runner.push.run import PushRequest, run_push
from tests.fakes.shopify import LOCATION, ShopifyServer, location
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
    request = PushRequest(user_id=USER, sync_type=sync_type, account_id=SHOP)
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


def _without_location_setting(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(marketplace_integrations)
            .where(marketplace_integrations.c.id == SHOP)
            .values(settings={"rate_limit": {"requests": 100, "per": "second"}})
        )


def test_without_a_setting_the_shops_one_active_location_is_read_once(engine, shop, linked):
    _without_location_setting(engine)
    shop.locations.append(location(LOCATION + 1, "Closed store", active=False))
    first = push(engine)
    assert (first["accepted"], first["location_id"]) == (N, str(LOCATION))
    assert shop.location_reads == 1 and all(u["location_id"] == LOCATION for u in shop.updates)
    assert {link["location_id"] for link in list_links(engine, USER, SHOP)} == {str(LOCATION)}
    set_stock(engine, [4, 5])
    shop.updates = []
    second = push(engine)
    assert (second["accepted"], shop.location_reads) == (2, 1)  # stored: not read again
    assert [u["location_id"] for u in shop.updates] == [LOCATION, LOCATION]


def test_several_active_locations_without_a_setting_fail_naming_the_setting(engine, shop, linked):
    _without_location_setting(engine)
    shop.locations.append(location(LOCATION + 1, "Second warehouse"))
    with pytest.raises(JobFailed) as failed:
        push(engine)
    result = failed.value.result_data["accounts"][SHOP]
    assert result["status"] == "failed" and shop.writes == 0
    error = result["error"]
    assert "\n" not in error and "2 active locations" in error
    assert f"sync-runner accounts set {SHOP} --setting location_id=" in error
    assert {link["location_id"] for link in list_links(engine, USER, SHOP)} == {None}


def _in_doubt(engine, kind: str, indexes: list[int]) -> None:
    """Links as a push killed mid-batch leaves them: an intent, no commit."""
    with engine.begin() as conn:
        conn.execute(
            update(listing_links)
            .where(listing_links.c.external_id.in_([f"p{i:05d}" for i in indexes]))
            .values({f"{kind}_sending": "0" * 32})
        )


def test_links_in_doubt_are_read_back_and_only_what_the_shop_lacks_is_sent(engine, shop, linked):
    push(engine)
    changed = [3, 50, 120, 199]
    set_stock(engine, changed)
    # A killed push had sent 3 and 50 (the shop has them) and meant to send 120.
    shop.levels[8003], shop.levels[8050] = 503, 550
    _in_doubt(engine, "stock", [3, 50, 120])
    shop.writes, shop.updates = 0, []
    result = push(engine)
    assert (result["in_doubt"], result["read_back"]) == (3, 3)
    assert sorted(u["inventory_item_id"] for u in shop.updates) == [8120, 8199]
    assert (shop.levels[8120], shop.levels[8199]) == (620, 699)
    with engine.connect() as conn:
        left = conn.execute(
            select(func.count()).where(listing_links.c.stock_sending.is_not(None))
        ).scalar_one()
    assert left == 0
    assert (push(engine)["sent"], push(engine)["in_doubt"]) == (0, 0)


def test_prices_in_doubt_are_read_back_from_the_variants(engine, shop, linked):
    push(engine, "price_push")
    with engine.begin() as conn:  # two cost prices become 20: 20 + 40 % = 28.00 -> 28.99
        conn.execute(
            update(imported_products)
            .where(imported_products.c.external_id.in_(["p00002", "p00004"]))
            .values(cost_price=20)
        )
    shop._variant(5002)["price"] = "28.99"  # the killed push had set this one
    _in_doubt(engine, "price", [2, 4])
    shop.writes, shop.updates = 0, []
    result = push(engine, "price_push")
    assert (result["in_doubt"], result["read_back"]) == (2, 2)
    assert [(u["id"], u["price"]) for u in shop.updates] == [(5004, "28.99")]
    assert shop._variant(5004)["price"] == "28.99"
