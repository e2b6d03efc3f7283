"""Rows remember when a listing last saw them: `last_seen_at`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

A complete listing (the creating list step of a sync) marks every existing row it saw, one
statement per batch, whether or not its content changed; `ai_score`'s `days_since_seen`
reads it. `last_synced_at` keeps its meaning (the row was written, or a lookup checked it).
Datetimes are plain `DateTime(timezone=True)`, as in 0001. No index: nothing selects by
it, and an index would make each mark a non-HOT update.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("imported_products", "orders")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("last_seen_at")
