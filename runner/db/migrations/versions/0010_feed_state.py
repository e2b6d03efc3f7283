"""Feed suppliers: what the last complete sync of each feed saw, per account, sync type and
operation.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

`feed_state` keeps the validators (ETag, Last-Modified), the body's hash, the record count
and the version (mapping and format) of the last complete sync of a feed operation
(runner.feeds.state).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_state",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("supplier_id", sa.String(36), nullable=False),
        sa.Column("sync_type", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.String(64), nullable=True),
        sa.Column("body_hash", sa.String(32), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "supplier_id", "sync_type", "operation", name=op.f("pk_feed_state")
        ),
    )


def downgrade() -> None:
    op.drop_table("feed_state")
