"""A push records what it is about to send: `listing_links.stock_sending`, `price_sending`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Before a push sends a batch it stores, per link, the hash of the value it sends
(`<kind>_sending`); after the marketplace's answer, in one transaction, the accepted hash
moves to `<kind>_hash` and the intent is cleared. A link found with an intent is in doubt (the
process died between the request and its commit): the next push reads the shop's value back
and sends only what the shop does not have (runner.push.reconcile).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listing_links") as batch:
        batch.add_column(sa.Column("stock_sending", sa.String(32)))
        batch.add_column(sa.Column("price_sending", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("listing_links") as batch:
        batch.drop_column("price_sending")
        batch.drop_column("stock_sending")
