"""Fixtures for the operations tests."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from ops.support import NOW, ROOT
from runner.clock import FakeClock
from runner.db.engine import make_engine
from runner.db.tables import metadata

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    """An empty database with every table, on SQLite and on Postgres (temporary until the
    shared db fixtures land)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    name = f"t_ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    eng = make_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
    metadata.create_all(eng)
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def specs_copy(tmp_path) -> Path:
    """A copy of the bundled specs and mappings that a test may edit; returns the specs dir."""
    target = tmp_path / "project"
    shutil.copytree(ROOT / "specs", target / "specs")
    shutil.copytree(ROOT / "mappings", target / "mappings")
    return target / "specs"
