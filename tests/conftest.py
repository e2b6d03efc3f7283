"""Shared fixtures: a fresh, migrated database on SQLite and on Postgres for every test.

- `db_backend`: "sqlite" or "postgres"; every test that uses a database fixture runs once
  per backend (the Postgres run carries the `postgres` marker).
- `db_url`: the URL of a fresh database, upgraded to the latest migration (alembic head).
- `engine`: `runner.db.engine.make_engine(db_url)`, disposed after the test.
- `blank_db_url`: a fresh, empty database (no tables), for migration tests.
- `make_specs(runner_overrides)`: a copy of the bundled specs and mappings in tmp_path, with
  `runner.yaml` sections replaced (e.g. short leases); returns the specs directory.

Postgres is 127.0.0.1:5432, user postgres (override with `SYNC_RUNNER_TEST_POSTGRES_URL`,
an admin URL). Each test gets its own database, copied from a template migrated once per
session, and dropped afterwards. If Postgres does not answer, Postgres runs are skipped with
a loud reason, unless `SYNC_RUNNER_REQUIRE_POSTGRES=1` (CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, create_engine

from runner.db.engine import make_engine
from runner.db.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "SYNC_RUNNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("SYNC_RUNNER_REQUIRE_POSTGRES") == "1"


class _Postgres:
    """Creates and drops uniquely named databases; probes the server once per session."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._admin: Engine | None = None
        self._problem: str | None = None
        self._probed = False
        self._template: str | None = None

    def admin(self) -> Engine:
        if not self._probed:
            self._probed = True
            engine = create_engine(
                self.admin_url,
                isolation_level="AUTOCOMMIT",
                connect_args={"connect_timeout": 3},
            )
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                self._admin = engine
            except Exception as exc:  # any failure means "not usable here"
                first_line = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                self._problem = first_line
                engine.dispose()
        if self._admin is None:
            message = (
                f"POSTGRES TESTS SKIPPED: cannot connect to {self.admin_url} "
                f"({self._problem}). Start PostgreSQL (see .ci/run) or set "
                "SYNC_RUNNER_TEST_POSTGRES_URL; SYNC_RUNNER_REQUIRE_POSTGRES=1 makes this fail."
            )
            if REQUIRE_POSTGRES:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        return self._admin

    def url(self, name: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def create(self, template: str | None = None) -> str:
        name = f"sr_test_{uuid.uuid4().hex[:16]}"
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with self.admin().connect() as conn:
            conn.exec_driver_sql(sql)
        return name

    def drop(self, name: str) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrated_template(self) -> str:
        if self._template is None:
            name = self.create()
            engine = make_engine(self.url(name))
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            self._template = name
        return self._template

    def close(self) -> None:
        if self._template is not None:
            self.drop(self._template)
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_Postgres]:
    server = _Postgres(PG_ADMIN_URL)
    yield server
    server.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(db_backend, request, tmp_path) -> Iterator[str]:
    """A fresh database at alembic head (SQLite file in tmp_path, or a new Postgres db)."""
    if db_backend == "sqlite":
        path = tmp_path / "sync-runner.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: _Postgres = request.getfixturevalue("_postgres")
    name = server.create(template=server.migrated_template())
    try:
        yield server.url(name)
    finally:
        server.drop(name)


@pytest.fixture
def blank_db_url(db_backend, request, tmp_path) -> Iterator[str]:
    """A fresh database without any table."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    server: _Postgres = request.getfixturevalue("_postgres")
    name = server.create()
    try:
        yield server.url(name)
    finally:
        server.drop(name)


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def make_specs(tmp_path) -> Callable[..., Path]:
    """`make_specs({"queue": {"lease_seconds": 2}})` -> a specs dir whose runner.yaml has
    those top-level sections replaced (None removes a section)."""

    def make(runner_overrides: dict[str, Any] | None = None, name: str = "project") -> Path:
        target = tmp_path / name
        shutil.copytree(ROOT / "specs", target / "specs")
        shutil.copytree(ROOT / "mappings", target / "mappings")
        runner_file = target / "specs" / "runner.yaml"
        data = yaml.safe_load(runner_file.read_text(encoding="utf-8")) or {}
        for key, value in (runner_overrides or {}).items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        runner_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return target / "specs"

    return make


def pytest_report_header(config) -> str:
    required = " (required: SYNC_RUNNER_REQUIRE_POSTGRES=1)" if REQUIRE_POSTGRES else ""
    return f"sync-runner: Postgres test server {PG_ADMIN_URL}{required}"
