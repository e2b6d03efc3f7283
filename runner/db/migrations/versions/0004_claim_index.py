"""The claim walks an index in queue order instead of sorting the backlog.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

`ix_import_jobs_pending` holds the pending jobs in the queue's order (priority DESC,
scheduled_at, created_at, id); the claim (runner.queue) walks it and stops at the first due
job whose key is free. It replaces `ix_import_jobs_claim` (status, priority, scheduled_at),
which could not serve that order: every claim sorted every pending job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"


def upgrade() -> None:
    op.drop_index("ix_import_jobs_claim", table_name="import_jobs")
    op.create_index(
        "ix_import_jobs_pending",
        "import_jobs",
        [sa.column("priority").desc(), "scheduled_at", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_import_jobs_pending", table_name="import_jobs")
    op.create_index(
        "ix_import_jobs_claim", "import_jobs", ["status", "priority", "scheduled_at"], unique=False
    )
