"""Columns a mapping may write, per target table.

Kept free of SQLAlchemy so that `sync-runner validate` imports no database code. A test
checks that every name here is a real column of `runner.db.tables`.
"""

from __future__ import annotations

WRITABLE_COLUMNS: dict[str, frozenset[str]] = {
    "imported_products": frozenset(
        {
            "external_id",
            "sku",
            "name",
            "description",
            "price",
            "cost_price",
            "currency",
            "category",
            "brand",
            "stock_quantity",
            "image_urls",
            "status",
        }
    ),
    "orders": frozenset(
        {
            "platform_order_id",
            "order_number",
            "status",
            "tracking_number",
            "tracking_url",
            "carrier",
        }
    ),
}
