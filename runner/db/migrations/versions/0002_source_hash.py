"""source_hash on imported_products and orders: the hash of the source record a row was
mapped from, so that a sync skips mapping records that did not change (runner.sync.engine).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Existing rows start with NULL: their next sync maps every record once, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("imported_products", "orders")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("source_hash", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("source_hash")
