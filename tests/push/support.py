"""Helpers for the push tests: a linked catalogue, the store, the supplier's last listing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, update

from runner.db.tables import import_jobs, imported_products, marketplace_integrations
from tests.fakes.woocommerce import WooCommerceServer

T0 = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)
USER = "user-a"
SUPPLIER = "sup-1"
SHOP = "shop-1"


def seed(engine: Engine, store: WooCommerceServer | None, n: int, *, listing: str = "ok") -> None:
    """n imported products (SKU-i, stock 10 + i % 7, cost 5 + i % 40) of one supplier, the
    same SKUs in the store (ids 1000 + i), a WooCommerce integration whose writes spend a
    budget of 50 a second, and the supplier's last inventory listing with status `listing`.
    Without a store, only the products and the listing."""
    rows = [
        {
            "user_id": USER,
            "supplier_id": SUPPLIER,
            "external_id": f"p{i:05d}",
            "sku": f"SKU-{i}",
            "stock_quantity": 10 + i % 7,
            "cost_price": Decimal(5 + i % 40),
            "price": Decimal(9 + i % 40),
            "created_at": T0,
            "updated_at": T0,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(imported_products), rows)
    record_listing(engine, listing)
    if store is None:
        return
    store.add_products(
        [
            {"id": 1000 + i, "sku": f"SKU-{i}", "stock_quantity": 0, "regular_price": "1.00"}
            for i in range(n)
        ]
    )
    add_store(engine, store)


def add_store(engine: Engine, store: WooCommerceServer) -> None:
    """The WooCommerce integration SHOP of `store`, its writes spending 50 a second."""
    add_integration(
        engine,
        SHOP,
        "woocommerce",
        store.base_url,
        {"consumer_key": "ck_test_key", "consumer_secret": "cs_test_secret"},
        {"budgets": {"writes": {"requests": 50, "per": "second"}}},
    )


def add_integration(
    engine: Engine,
    integration_id: str,
    platform: str,
    shop_url: str,
    credentials: dict[str, Any],
    settings: dict[str, Any],
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(marketplace_integrations).values(
                id=integration_id,
                user_id=USER,
                platform=platform,
                name="Store" if platform == "woocommerce" else "Shop",
                shop_url=shop_url,
                credentials=credentials,
                settings=settings,
                created_at=T0,
                updated_at=T0,
            )
        )


def record_listing(engine: Engine, status: str) -> None:
    """The supplier's newest inventory_update job, its account ending with `status`."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(import_jobs).values(
                id=str(uuid.uuid4()),
                user_id=USER,
                source_type="inventory_update",
                supplier_id=SUPPLIER,
                status="completed" if status == "ok" else "failed",
                scheduled_at=now,
                concurrency_key=f"{USER}|inventory_update|{SUPPLIER}",
                created_at=now,
                updated_at=now,
                result_data={
                    "accounts": {
                        SUPPLIER: {
                            "status": status,
                            "error": None if status == "ok" else "truncated",
                        }
                    }
                },
            )
        )


def set_stock(engine: Engine, indexes: list[int], stock: int | None = None) -> None:
    with engine.begin() as conn:
        for i in indexes:
            conn.execute(
                update(imported_products)
                .where(imported_products.c.external_id == f"p{i:05d}")
                .values(stock_quantity=stock if stock is not None else 500 + i)
            )
