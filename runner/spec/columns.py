"""The tables a sync writes: their account and key columns, and the columns a mapping may
write with each one's sane values. The one definition of a target: `runner.db.write.TARGETS`
and `sync-runner validate` derive from it.

Kept free of SQLAlchemy so that `sync-runner validate` imports no database code. A test
checks that every name here is a real column of `runner.db.tables`, and that a text cap is
the column's length where the table declares one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    """The sane values of a writable column: numbers at least `minimum`, text at most
    `max_length` characters. A mapped value outside it rejects the record, or is clamped
    (the number raised to the minimum, the text cut) where the field says `clamp: true`."""

    minimum: int | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class TargetTable:
    """A table sync types write: the column holding the account id (supplier or integration),
    the column holding the record's key, and every writable column (the key among them) with
    its domain."""

    account_column: str
    key_column: str
    columns: Mapping[str, Domain]


# The Text columns get a cap of their own: no product name needs 10 MB.
TARGET_TABLES: dict[str, TargetTable] = {
    "imported_products": TargetTable(
        account_column="supplier_id",
        key_column="external_id",
        columns={
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
            "image_urls": Domain(),
            "status": Domain(max_length=32),
        },
    ),
    "orders": TargetTable(
        account_column="integration_id",
        key_column="platform_order_id",
        columns={
            "platform_order_id": Domain(max_length=255),
            "order_number": Domain(max_length=255),
            "status": Domain(max_length=32),
            "tracking_number": Domain(max_length=255),
            "tracking_url": Domain(max_length=2_048),
            "carrier": Domain(max_length=255),
        },
    ),
}

WRITABLE_COLUMNS: dict[str, frozenset[str]] = {
    name: frozenset(table.columns) for name, table in TARGET_TABLES.items()
}
# Only the columns with a bound (an unbounded domain checks nothing).
COLUMN_DOMAINS: dict[str, dict[str, Domain]] = {
    name: {column: domain for column, domain in table.columns.items() if domain != Domain()}
    for name, table in TARGET_TABLES.items()
}
