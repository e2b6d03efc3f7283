"""Pushes to marketplaces: the link between an imported product and its listing on a shop.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

`listing_links` holds, per user, integration and imported product (supplier, external id),
the remote ids a write needs (product, variant, inventory item, location) and, per kind of
push (stock, price), the hash of the value last accepted by the marketplace
(runner.push.links).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listing_links",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("integration_id", sa.String(36), nullable=False),
        sa.Column("supplier_id", sa.String(36), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("remote_product_id", sa.String(64), nullable=False),
        sa.Column("remote_variant_id", sa.String(64), nullable=True),
        sa.Column("inventory_item_id", sa.String(64), nullable=True),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("matched_by", sa.String(32), nullable=False),
        sa.Column("stock_hash", sa.String(32), nullable=True),
        sa.Column("stock_pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price_hash", sa.String(32), nullable=True),
        sa.Column("price_pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id",
            "integration_id",
            "supplier_id",
            "external_id",
            name=op.f("pk_listing_links"),
        ),
    )


def downgrade() -> None:
    op.drop_table("listing_links")
