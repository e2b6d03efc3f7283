"""auth_sessions: session tokens of `session_token` auth, per account, with their expiry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Kept in the database so that a live token serves every job and worker, a login cooldown
(CJdropshipping: one login per 5 minutes) holds across pods, and a renewal locks the row
(runner.db.sessions) instead of every worker logging in at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("credentials_hash", sa.String(length=32), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("logged_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "account_id", name="pk_auth_sessions"),
    )


def downgrade() -> None:
    op.drop_table("auth_sessions")
