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
        for table in metadata.tables:
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
