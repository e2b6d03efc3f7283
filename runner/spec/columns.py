"""Columns a mapping may write, per target table.

Kept free of SQLAlchemy so that `sync-runner validate` imports no database code. A test
checks that every name here is a real column of `runner.db.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Domain:
    """The sane values of a writable column: numbers at least `minimum`, text at most
    `max_length` characters. A mapped value outside it rejects the record, or is clamped
    (the number raised to the minimum, the text cut) where the field says `clamp: true`."""

    minimum: int | None = None
    max_length: int | None = None


# Text caps are the column's length where the table declares one (a test keeps them equal);
# the Text columns get a cap of their own: no product name needs 10 MB.
COLUMN_DOMAINS: dict[str, dict[str, Domain]] = {
    "imported_products": {
        "external_id": Domain(max_length=255),
        "sku": Domain(max_length=255),
        "name": Domain(max_length=1_000),
        "description": Domain(max_length=100_000),
        "price": Domain(minimum=0),
        "cost_price": Domain(minimum=0),
        "currency": Domain(max_length=3),
        "category": Domain(max_length=255),
        "brand": Domain(max_length=255),
        "stock_quantity": Domain(minimum=0),
        "status": Domain(max_length=32),
    },
    "orders": {
        "platform_order_id": Domain(max_length=255),
        "order_number": Domain(max_length=255),
        "status": Domain(max_length=32),
        "tracking_number": Domain(max_length=255),
        "tracking_url": Domain(max_length=2_048),
        "carrier": Domain(max_length=255),
    },
}
