"""Initial schema: import_jobs, suppliers, marketplace_integrations, imported_products,
orders, activity_logs and sync_rejects.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Datetimes are plain `DateTime(timezone=True)` here: `runner.db.tables.UTCDateTime` only
changes how Python values are bound, not the column DDL, and migrations must not depend on
application code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("supplier_id", sa.String(length=36), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_logs")),
    )
    with op.batch_alter_table("activity_logs", schema=None) as batch_op:
        batch_op.create_index("ix_activity_logs_created", ["created_at"], unique=False)

    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("supplier_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="5", nullable=False),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("concurrency_key", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result_data", sa.JSON(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_import_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_jobs_claim", ["status", "priority", "scheduled_at"], unique=False
        )
        batch_op.create_index("ix_import_jobs_finished", ["status", "completed_at"], unique=False)
        batch_op.create_index(
            "uq_import_jobs_dedupe_active",
            ["dedupe_key"],
            unique=True,
            postgresql_where=sa.text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
            sqlite_where=sa.text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_import_jobs_running_key",
            ["concurrency_key"],
            unique=True,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "imported_products",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("supplier_id", sa.String(length=36), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("cost_price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("brand", sa.String(length=255), nullable=True),
        sa.Column("stock_quantity", sa.Integer(), nullable=True),
        sa.Column("image_urls", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("ai_score", sa.Float(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_products")),
        sa.UniqueConstraint(
            "user_id",
            "supplier_id",
            "external_id",
            name=op.f("uq_imported_products_user_id_supplier_id_external_id"),
        ),
    )
    with op.batch_alter_table("imported_products", schema=None) as batch_op:
        batch_op.create_index(
            "ix_imported_products_stale", ["user_id", "supplier_id", "last_synced_at"], unique=False
        )

    op.create_table(
        "marketplace_integrations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("shop_url", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("mode", sa.String(length=16), server_default="live", nullable=False),
        sa.Column("credentials", sa.JSON(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_integrations")),
    )
    with op.batch_alter_table("marketplace_integrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_marketplace_integrations_user", ["user_id", "status"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=False),
        sa.Column("platform_order_id", sa.String(length=255), nullable=False),
        sa.Column("order_number", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="pending", nullable=False),
        sa.Column("tracking_number", sa.String(length=255), nullable=True),
        sa.Column("tracking_url", sa.Text(), nullable=True),
        sa.Column("carrier", sa.String(length=255), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "user_id",
            "integration_id",
            "platform_order_id",
            name=op.f("uq_orders_user_id_integration_id_platform_order_id"),
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_sync", ["user_id", "integration_id", "status"], unique=False
        )

    op.create_table(
        "suppliers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("supplier_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("mode", sa.String(length=16), server_default="live", nullable=False),
        sa.Column("api_credentials", sa.JSON(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
    )
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.create_index("ix_suppliers_user", ["user_id", "status"], unique=False)

    op.create_table(
        "sync_rejects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("supplier_id", sa.String(length=36), nullable=True),
        sa.Column("step", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_rejects")),
    )
    with op.batch_alter_table("sync_rejects", schema=None) as batch_op:
        batch_op.create_index("ix_sync_rejects_created", ["created_at"], unique=False)
        batch_op.create_index("ix_sync_rejects_job", ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_rejects", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_rejects_job")
        batch_op.drop_index("ix_sync_rejects_created")

    op.drop_table("sync_rejects")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_index("ix_suppliers_user")

    op.drop_table("suppliers")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_sync")

    op.drop_table("orders")
    with op.batch_alter_table("marketplace_integrations", schema=None) as batch_op:
        batch_op.drop_index("ix_marketplace_integrations_user")

    op.drop_table("marketplace_integrations")
    with op.batch_alter_table("imported_products", schema=None) as batch_op:
        batch_op.drop_index("ix_imported_products_stale")

    op.drop_table("imported_products")
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_import_jobs_running_key",
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index(
            "uq_import_jobs_dedupe_active",
            postgresql_where=sa.text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
            sqlite_where=sa.text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
        )
        batch_op.drop_index("ix_import_jobs_finished")
        batch_op.drop_index("ix_import_jobs_claim")

    op.drop_table("import_jobs")
    with op.batch_alter_table("activity_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_logs_created")

    op.drop_table("activity_logs")
