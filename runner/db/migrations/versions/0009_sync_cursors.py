"""`sync_cursors`: where each account's `changed_since` step last ran to the end.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06

One small row per (user, account, sync type, step): the mark of the step's last successful
run (the latest modification time it listed), from which the next run asks the marketplace
for what changed (Shopify `updated_at_min`, WooCommerce `modified_after`). Created empty: the
first sync after the upgrade lists everything once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_cursors",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("sync_type", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("cursor_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "account_id", "sync_type", "step", name=op.f("pk_sync_cursors")
        ),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
