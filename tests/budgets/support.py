"""Helpers of the budget tests: BigBuy accounts that spend real budgets, product checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select

from runner.db.tables import import_jobs, imported_products, suppliers
from tests.fakes import catalog
from tests.sync.support import T0

PATHS = {
    "products": "/rest/catalog/products.json",
    "information": "/rest/catalog/productsinformation.json",
    "images": "/rest/catalog/productsimages.json",
    "stock": "/rest/catalog/productsstockbyhandlingdays.json",
}


def add_bigbuy(engine: Engine, supplier_id: str, base_url: str, **settings: Any) -> None:
    """A BigBuy account whose budgets are the spec's (no `rate_limit: false`)."""
    with engine.begin() as conn:
        conn.execute(
            insert(suppliers).values(
                id=supplier_id,
                user_id="user-a",
                name="BigBuy",
                supplier_type="bigbuy",
                status="active",
                mode="live",
                api_credentials={"api_key": "bigbuy-test-key"},
                settings={"base_url": base_url, **settings},
                created_at=T0,
                updated_at=T0,
            )
        )


def assert_products_exact(engine: Engine, supplier_id: str, count: int) -> None:
    """Every product of the catalogue, exactly as the four lists give it."""
    with engine.connect() as conn:
        rows = {
            row.external_id: row
            for row in conn.execute(
                select(imported_products).where(imported_products.c.supplier_id == supplier_id)
            )
        }
    assert len(rows) == count
    for index in range(count):
        product = catalog.bigbuy_product(0, index)
        row = rows[str(product["id"])]
        assert row.sku == product["sku"]
        assert row.name == catalog.bigbuy_information(0, index, "en")["name"]
        images = sorted(catalog.bigbuy_images(0, index)["images"], key=lambda i: i["position"])
        assert row.image_urls == [image["url"] for image in images]
        stocks = catalog.bigbuy_stock(0, index)["stocks"]
        assert row.stock_quantity == sum(s["quantity"] for s in stocks)
        assert row.price == Decimal(str(product["retailPrice"])).quantize(Decimal("0.01"))


def jobs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(import_jobs).order_by(import_jobs.c.created_at)))
