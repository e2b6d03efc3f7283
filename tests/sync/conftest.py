"""Fixtures for the sync engine tests (temporary until the shared db fixtures land)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine

from runner.db.engine import make_engine
from runner.db.tables import metadata

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    name = f"t_sync_{uuid.uuid4().hex[:12]}"
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
