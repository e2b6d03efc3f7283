"""Helpers for the sync engine tests: accounts, orders and rows in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select

from runner.db.tables import imported_products, marketplace_integrations, orders, suppliers
from runner.sync.seen import seen_expression
from tests.fakes.bigbuy import BigBuyServer

T0 = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)
NO_LIMIT = {"rate_limit": False}  # the fakes need no client-side rate limit


def add_supplier(
    engine: Engine,
    supplier_id: str,
    supplier_type: str,
    *,
    user_id: str = "user-a",
    base_url: str | None = None,
    credentials: dict[str, Any] | None = None,
    status: str = "active",
    mode: str = "live",
    settings: dict[str, Any] | None = None,
) -> str:
    if credentials is None:
        credentials = {
            "bigbuy": {"api_key": "bigbuy-test-key"},
            "aliexpress": {
                "app_key": "500123",
                "app_secret": "aliexpress-test-secret",
                "access_token": "aliexpress-test-token",
            },
        }.get(supplier_type, {})
    with engine.begin() as conn:
        conn.execute(
            insert(suppliers).values(
                id=supplier_id,
                user_id=user_id,
                name=supplier_type.title(),
                supplier_type=supplier_type,
                status=status,
                mode=mode,
                api_credentials=credentials,
                settings={
                    **NO_LIMIT,
                    **({"base_url": base_url} if base_url else {}),
                    **(settings or {}),
                },
                created_at=T0,
                updated_at=T0,
            )
        )
    return supplier_id


def add_integration(
    engine: Engine,
    integration_id: str,
    platform: str,
    shop_url: str,
    *,
    user_id: str = "user-a",
    mode: str = "live",
) -> str:
    credentials = {
        "shopify": {"access_token": "shpat_test_token"},
        "woocommerce": {"consumer_key": "ck_test_key", "consumer_secret": "cs_test_secret"},
    }[platform]
    with engine.begin() as conn:
        conn.execute(
            insert(marketplace_integrations).values(
                id=integration_id,
                user_id=user_id,
                platform=platform,
                name=platform.title(),
                shop_url=shop_url,
                mode=mode,
                credentials=credentials,
                settings=NO_LIMIT,
                created_at=T0,
                updated_at=T0,
            )
        )
    return integration_id


def add_orders(
    engine: Engine,
    integration_id: str,
    platform_ids: list[int | str],
    *,
    user_id: str = "user-a",
    status: str = "pending",
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(orders),
            [
                {
                    "user_id": user_id,
                    "integration_id": integration_id,
                    "platform_order_id": str(pid),
                    "order_number": None,
                    "status": status,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for pid in platform_ids
            ],
        )


def products_of(engine: Engine, supplier_id: str, user_id: str = "user-a") -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(imported_products).where(
                imported_products.c.user_id == user_id,
                imported_products.c.supplier_id == supplier_id,
            )
        )
        return {row.external_id: row for row in rows}


def last_seen(engine: Engine, supplier_id: str, user_id: str = "user-a") -> dict[str, Any]:
    """key -> when the product was last seen, as ai_score's `days_since_seen` reads it: the
    later of when a listing saw it and when a sync wrote or checked it."""
    p = imported_products.c
    listed = seen_expression(imported_products, "supplier_id")
    stmt = select(p.external_id, listed, p.last_synced_at).where(
        p.user_id == user_id, p.supplier_id == supplier_id
    )
    with engine.connect() as conn:
        return {
            key: max((t for t in (seen, synced) if t is not None), default=None)
            for key, seen, synced in conn.execute(stmt)
        }


def orders_of(engine: Engine, integration_id: str, user_id: str = "user-a") -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(orders).where(
                orders.c.user_id == user_id, orders.c.integration_id == integration_id
            )
        )
        return {row.platform_order_id: row for row in rows}


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


class EditedBigBuy(BigBuyServer):
    """The BigBuy fake with per-product field overrides in the products and prices lists."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.edits: dict[int, dict] = {}

    def _list(self, name, query):
        reply = super()._list(name, query)
        if name in ("products", "productprices") and isinstance(reply.body, list):
            reply.body = [{**r, **self.edits.get(r["id"], {})} for r in reply.body]
        return reply
