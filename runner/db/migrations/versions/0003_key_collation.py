"""Cheaper writes of synced rows: byte-order keys, and no index on last_synced_at.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

- The key columns of imported_products and orders (user, supplier or integration, external
  id) compare byte by byte on Postgres (COLLATE "C"); SQLite already compares that way.
- ix_imported_products_stale (user_id, supplier_id, last_synced_at) is dropped: no query
  used it (the stale selection walks the unique index in key order), and it made every
  insert a third dearer and every update of last_synced_at a non-HOT one.

On Postgres, changing the collation rebuilds the unique indexes of both tables, under a lock
that blocks their writes: about a second per 100,000 rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEYS = {
    "imported_products": (("user_id", 64), ("supplier_id", 36), ("external_id", 255)),
    "orders": (("user_id", 64), ("integration_id", 36), ("platform_order_id", 255)),
}
STALE = ("ix_imported_products_stale", ["user_id", "supplier_id", "last_synced_at"])


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in KEYS.items():
        for name, length in columns:
            op.alter_column(
                table,
                name,
                type_=sa.String(length, collation=collation),
                existing_type=sa.String(length),
                existing_nullable=False,
            )


def upgrade() -> None:
    op.drop_index(STALE[0], table_name="imported_products")
    _collate("C")


def downgrade() -> None:
    _collate(None)
    op.create_index(STALE[0], "imported_products", STALE[1], unique=False)
