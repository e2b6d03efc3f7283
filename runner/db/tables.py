"""The runner's tables, in SQLAlchemy Core. The names match the system we replace.

These definitions are the single source of truth: alembic migrations are checked against
them, and every identifier in a statement comes from here (values are always bound).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An auto-incrementing 64-bit key that SQLite also accepts as its ROWID alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(14, 2, asdecimal=True)


def Key(length: int) -> String:
    """An identifier column of a synced row's key: compared byte by byte on Postgres
    (COLLATE "C"), as SQLite compares every string. Identifiers have no linguistic order,
    and the unique index over three of them costs a sixth less to maintain per insert."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


JOB_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FINISHED_STATUSES = ("completed", "failed", "cancelled")

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("source_type", String(32), nullable=False),  # the sync type
    Column("supplier_id", String(36)),  # a supplier or a marketplace integration id
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("scheduled_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="5"),
    Column("locked_by", String(64)),
    Column("lease_expires_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("dedupe_key", String(255)),
    # user|type|supplier: at most one running job per key (partial unique index below)
    Column("concurrency_key", String(255), nullable=False),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("result_data", JSON),
    Column("errors", JSON),
    Column("metadata", JSON),
    # Progress of a running job, saved after every committed batch (runner.sync.checkpoint):
    # per account, the steps done and the page position of the running step.
    Column("checkpoint", JSON),
    CheckConstraint(
        "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')", name="status"
    ),
    Index(
        "uq_import_jobs_dedupe_active",
        "dedupe_key",
        unique=True,
        postgresql_where=text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
        sqlite_where=text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
    ),
    Index(
        "uq_import_jobs_running_key",
        "concurrency_key",
        unique=True,
        postgresql_where=text("status = 'running'"),
        sqlite_where=text("status = 'running'"),
    ),
    Index("ix_import_jobs_finished", "status", "completed_at"),
)

# The claim walks the pending jobs in queue order (runner.queue._queue_order) and stops at
# the first due one whose key is free: no sort of the backlog on each claim.
Index(
    "ix_import_jobs_pending",
    import_jobs.c.priority.desc(),
    import_jobs.c.scheduled_at,
    import_jobs.c.created_at,
    import_jobs.c.id,
    postgresql_where=text("status = 'pending'"),
    sqlite_where=text("status = 'pending'"),
)

# The request budgets of every account, shared by all jobs, processes and pods
# (runner.budgets): one row per request a budget allows, holding when that request last
# started. A slot is free once its start left the sliding window; a 429 that names a reset
# time pushes every slot of the budget forward so that none frees before it.
rate_budget_slots = Table(
    "rate_budget_slots",
    metadata,
    Column("account_id", String(36), primary_key=True),  # a supplier or integration id
    Column("budget", String(128), primary_key=True),  # "<connector>/<budget>"
    Column("slot", Integer, primary_key=True),  # 0 .. requests - 1
    Column("window_seconds", Float, nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    # The take picks the oldest slot: the first entry of this index, whatever the size.
    Index("ix_rate_budget_slots_taken", "account_id", "budget", "taken_at"),
)

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("supplier_type", String(64), nullable=False),  # the supplier spec name
    Column("status", String(16), nullable=False, server_default="active"),
    Column("mode", String(16), nullable=False, server_default="live"),  # live | mock
    Column("api_credentials", JSON),
    Column("settings", JSON),  # base_url override, language, feed_name, ...
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_suppliers_user", "user_id", "status"),
)

marketplace_integrations = Table(
    "marketplace_integrations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("platform", String(64), nullable=False),  # the marketplace spec name
    Column("name", String(255), nullable=False),
    Column("shop_url", String(512), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("mode", String(16), nullable=False, server_default="live"),  # live | mock
    Column("credentials", JSON),
    Column("settings", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_marketplace_integrations_user", "user_id", "status"),
)

imported_products = Table(
    "imported_products",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", Key(64), nullable=False),
    Column("supplier_id", Key(36), nullable=False),
    Column("external_id", Key(255), nullable=False),
    Column("sku", String(255)),
    Column("name", Text),
    Column("description", Text),
    Column("price", Money),
    Column("cost_price", Money),
    Column("currency", String(3)),
    Column("category", String(255)),
    Column("brand", String(255)),
    Column("stock_quantity", Integer),
    Column("image_urls", JSON),
    Column("status", String(32)),
    Column("ai_score", Float),
    Column("content_hash", String(32)),
    Column("source_hash", String(32)),
    Column("last_synced_at", UTCDateTime),
    # Set only while the row is missing from its account's complete listings: when a listing
    # last saw it. NULL: the last complete listing saw it (listing_marks; runner.sync.seen).
    Column("last_seen_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The unique index serves every per-supplier read too (runner.sync.select walks it in key
    # order). No index on last_synced_at: it made each insert a third dearer and each
    # checked-mark update a non-HOT one, and served no query.
    UniqueConstraint("user_id", "supplier_id", "external_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", Key(64), nullable=False),
    Column("integration_id", Key(36), nullable=False),
    Column("platform_order_id", Key(255), nullable=False),
    Column("order_number", String(255)),
    Column("status", String(32), nullable=False, server_default="pending"),
    Column("tracking_number", String(255)),
    Column("tracking_url", Text),
    Column("carrier", String(255)),
    Column("content_hash", String(32)),
    Column("source_hash", String(32)),
    Column("last_synced_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("user_id", "integration_id", "platform_order_id"),
    Index("ix_orders_sync", "user_id", "integration_id", "status"),
)

# When each account's rows of a target were last listed completely (runner/sync/seen.py): a
# product the listing saw needs no per-row write; its "last seen" is this time. One row per
# (user, account, target table).
listing_marks = Table(
    "listing_marks",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("account_id", String(36), primary_key=True),  # a supplier id
    Column("target", String(64), primary_key=True),  # the table listed
    Column("listed_at", UTCDateTime, nullable=False),
)

# The mark of each account's `changed_since` step after its last successful run: the lower
# bound of its next "changed since" list (runner/sync/since.py). One row per (user, account,
# sync type, step).
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("account_id", String(36), primary_key=True),  # a supplier or an integration id
    Column("sync_type", String(32), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("cursor_at", UTCDateTime, nullable=False),  # the next run asks from here
    Column("updated_at", UTCDateTime, nullable=False),
)

activity_logs = Table(
    "activity_logs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", String(64)),
    Column("job_id", String(36)),
    Column("supplier_id", String(36)),
    Column("level", String(16), nullable=False),
    Column("event", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_activity_logs_created", "created_at"),
)

sync_rejects = Table(
    "sync_rejects",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", String(36)),
    Column("user_id", String(64), nullable=False),
    Column("supplier_id", String(36)),
    Column("step", String(128), nullable=False),
    Column("external_id", String(255)),
    Column("field", String(128)),
    Column("reason", Text, nullable=False),
    Column("payload", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_sync_rejects_created", "created_at"),
    Index("ix_sync_rejects_job", "job_id"),
)

# Session tokens of `session_token` auth (runner.http.session), one row per account, kept
# across jobs and pods: a live token is reused, the login cooldown holds for every worker,
# and a renewal locks the row so that concurrent workers wait for one login. `token` and
# `refresh_token` are secrets (docs/security.md); `credentials_hash` ties them to the
# credentials they were obtained with, so that changed credentials log in again.
auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("account_id", String(36), primary_key=True),
    Column("credentials_hash", String(32)),
    Column("token", Text),
    Column("refresh_token", Text),
    Column("expires_at", UTCDateTime),
    Column("logged_in_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Per account, sync type and feed operation: what the last complete sync of the feed saw. The
# next request sends the validators (If-None-Match, If-Modified-Since); a body with none is
# compared by its hash; the record count guards against a truncated feed. `version` names
# the mapping and format that read it: when they change, the feed is read in full again.
feed_state = Table(
    "feed_state",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("supplier_id", String(36), primary_key=True),  # a supplier or an integration id
    Column("sync_type", String(64), primary_key=True),
    Column("operation", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("etag", Text),
    Column("last_modified", String(64)),
    Column("body_hash", String(32)),
    Column("record_count", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# An imported product's listing on a marketplace integration (runner/push/links.py): the
# remote ids a write needs, how the link was made (`sku` by the spec's matching rule, or
# `manual`), and per kind of push the hash of the value the marketplace last accepted, so
# that a push sends only what changed and a resumed push never sends twice.
listing_links = Table(
    "listing_links",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("integration_id", String(36), primary_key=True),
    Column("supplier_id", String(36), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("sku", String(255)),
    Column("remote_product_id", String(64), nullable=False),
    Column("remote_variant_id", String(64)),
    Column("inventory_item_id", String(64)),
    Column("location_id", String(64)),
    Column("matched_by", String(32), nullable=False),
    Column("stock_hash", String(32)),
    Column("stock_pushed_at", UTCDateTime),
    Column("price_hash", String(32)),
    Column("price_pushed_at", UTCDateTime),
    # The hash a push is sending (set before the request, cleared with its commit): a link
    # found with one is in doubt and read back from the shop (runner.push.reconcile).
    Column("stock_sending", String(32)),
    Column("price_sending", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
