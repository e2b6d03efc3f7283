"""The alembic migrations produce exactly the schema of runner.db.tables, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from runner.db.engine import make_engine
from runner.db.migrations import current_revision, downgrade, head_revision, upgrade
from runner.db.tables import metadata


def _diffs(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def _indexes(engine) -> dict[str, dict]:
    found = {}
    with engine.connect() as conn:
        inspector = inspect(conn)
        present = set(inspector.get_table_names())  # an older revision lacks newer tables
        for table in metadata.tables:
            if table not in present:
                continue
            for index in inspector.get_indexes(table):
                found[index["name"]] = index
    return found


def test_upgrade_from_nothing_matches_the_models(blank_db_url):
    engine = make_engine(blank_db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert _diffs(engine) == []
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == set(metadata.tables) | {
                "alembic_version"
            }
        # autogenerate does not compare partial-index predicates: check the two that carry
        # the queue's guarantees are unique and partial on this backend.
        indexes = _indexes(engine)
        for name, column in (
            ("uq_import_jobs_dedupe_active", "dedupe_key"),
            ("uq_import_jobs_running_key", "concurrency_key"),
        ):
            assert indexes[name]["unique"]
            assert indexes[name]["column_names"] == [column]
            where = indexes[name].get("dialect_options", {})
            assert any("status" in str(v) for k, v in where.items() if k.endswith("_where")), (
                name,
                where,
            )
    finally:
        engine.dispose()


def _collations(engine) -> dict[tuple[str, str], str | None]:
    """(table, column) -> the collation the database reports for each string column."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        present = set(inspector.get_table_names())  # an older revision lacks newer tables
        return {
            (table, column["name"]): column["type"].collation
            for table in metadata.tables
            if table in present
            for column in inspector.get_columns(table)
            if hasattr(column["type"], "collation")
        }


def test_key_columns_compare_byte_by_byte(blank_db_url):
    """autogenerate does not compare collations either: on Postgres the key columns of the
    synced tables are COLLATE "C" after an upgrade, and back to the default after a
    downgrade; no other column has a collation of its own."""
    engine = make_engine(blank_db_url)
    keys = {
        ("imported_products", "user_id"),
        ("imported_products", "supplier_id"),
        ("imported_products", "external_id"),
        ("orders", "user_id"),
        ("orders", "integration_id"),
        ("orders", "platform_order_id"),
    }
    try:
        upgrade(engine)
        collated = {k for k, v in _collations(engine).items() if v is not None}
        if engine.dialect.name == "postgresql":
            assert collated == keys
            assert {_collations(engine)[k] for k in keys} == {"C"}
        else:
            assert collated == set()
        downgrade(engine, "0002")
        assert {k for k, v in _collations(engine).items() if v is not None} == set()
        assert "ix_imported_products_stale" in _indexes(engine)
        upgrade(engine)
        assert "ix_imported_products_stale" not in _indexes(engine)
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_downgrade_round_trips(blank_db_url):
    engine = make_engine(blank_db_url)
    try:
        upgrade(engine)
        upgrade(engine)  # already at head: nothing to do
        downgrade(engine, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_db_fixture_is_at_head(engine):
    assert current_revision(engine) == head_revision()
