"""Alembic migrations, run from the package (no alembic.ini needed): see `upgrade()`.

`sync-runner db upgrade` calls `upgrade(engine)`. Revisions live in `versions/` and must
produce exactly `runner.db.tables.metadata` (a test compares them with alembic's
autogenerate on SQLite and on Postgres).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    """An in-memory alembic config pointing at this package; `engine` is handed to env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the latest)."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never upgraded."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
