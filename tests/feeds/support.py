"""Helpers of the feed tests: run a sync of the docs' feed suppliers, read what it wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from runner.clock import FakeClock
from runner.db.tables import feed_state, imported_products, sync_rejects
from runner.errors import JobFailed
from runner.sync.engine import SyncRequest, run_sync
from tests.sync.support import T0

COLUMNS = (
    "external_id",
    "sku",
    "name",
    "brand",
    "category",
    "cost_price",
    "price",
    "currency",
    "stock_quantity",
    "image_urls",
    "status",
)


def sync(
    engine: Engine, specs, sync_type: str = "supplier_api", on_diff=None, **options: Any
) -> dict:
    """The job's result_data; a failed job's partial result (with `failed: True`)."""
    request = SyncRequest(user_id="user-a", sync_type=sync_type, **options)
    try:
        return run_sync(engine, specs, request, clock=FakeClock(T0), on_diff=on_diff)
    except JobFailed as failed:
        return {**failed.result_data, "failed": True, "errors": failed.errors}


def step(result: dict, account: str, name: str) -> dict:
    return result["accounts"][account]["steps"][name]


def rows(engine: Engine, supplier_id: str) -> dict[str, dict[str, Any]]:
    columns = [imported_products.c[name] for name in COLUMNS]
    query = select(*columns).where(imported_products.c.supplier_id == supplier_id)
    with engine.connect() as conn:
        return {row.external_id: dict(row._mapping) for row in conn.execute(query)}


def rejects(engine: Engine, supplier_id: str) -> list[dict[str, Any]]:
    query = (
        select(sync_rejects.c.reason, sync_rejects.c.payload, sync_rejects.c.step)
        .where(sync_rejects.c.supplier_id == supplier_id)
        .order_by(sync_rejects.c.id)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def states(engine: Engine, supplier_id: str) -> list[dict[str, Any]]:
    query = select(feed_state).where(feed_state.c.supplier_id == supplier_id)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
