"""Shared request budgets, and the checkpoint of a running job.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

- `rate_budget_slots`: one row per request a budget allows, per account and budget; taking
  a slot is one conditional UPDATE (runner.budgets).
- `import_jobs.checkpoint`: the steps done and the page position of the running step, per
  account, saved after every committed batch (runner.sync.checkpoint).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_budget_slots",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("budget", sa.String(128), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "budget", "slot", name="pk_rate_budget_slots"),
    )
    op.create_index(
        "ix_rate_budget_slots_taken", "rate_budget_slots", ["account_id", "budget", "taken_at"]
    )
    op.add_column("import_jobs", sa.Column("checkpoint", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("import_jobs", "checkpoint")
    op.drop_index("ix_rate_budget_slots_taken", table_name="rate_budget_slots")
    op.drop_table("rate_budget_slots")
