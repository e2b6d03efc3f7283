""" "Last seen" costs a write per changed row, not per listed row: `listing_marks`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

`listing_marks` keeps, per (user, account, target table), when the account's rows were
last listed completely. A row that listing saw is "seen" at that time without a write of
its own; `imported_products.last_seen_at` is now set only on rows a complete listing
missed (when a listing last saw them) and cleared when they come back (runner.sync.seen).
Existing `last_seen_at` values stay: until the account's next complete listing they read
as before. `orders.last_seen_at` is dropped: nothing read it (order listings are mostly
incremental, `changed_since`, which never see a whole account).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listing_marks",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "account_id", "target", name=op.f("pk_listing_marks")),
    )
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("last_seen_at")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_table("listing_marks")
