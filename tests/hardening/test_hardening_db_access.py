"""Operators' database mistakes, through the real CLI: one line naming the fix, and an exit code.

- A URL missing the `:` after its scheme never prints its password; a `mysql://` URL names
  the databases the runner supports. Both exit 2 (bad input), before anything connects.
- A read-only database (a SQLite file opened read-only, Postgres with
  `default_transaction_read_only`) and a Postgres user allowed only SELECT: every command that
  writes (`run`, `run-job`, `sync`, `enqueue`, `maintain`) stops at start-up with one line
  naming the problem and its fix, exit 3: no traceback, no SQL, no parameters, no password.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.hardening.support import cli

SECRET = "S3cretPassw0rd"
WRITING_COMMANDS = [
    ["run", "--no-maintenance"],
    ["run-job", "00000000-0000-4000-8000-000000000001"],
    ["sync", "--user", "user-a", "--type", "supplier_api"],
    ["enqueue", "--user", "user-a", "--type", "inventory_update"],
    ["maintain"],
]
SQL_WORDS = ("INSERT INTO", "SELECT *", "WHERE", "SET id", "[SQL", "parameters", "Traceback")


def _one_clean_line(done, code: int, needle: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1, done.stderr[-3000:]
    assert needle in lines[0], lines[0]
    assert SECRET not in done.stderr + done.stdout
    for word in SQL_WORDS:
        assert word not in lines[0], lines[0]
    return lines[0]


def _writes_refused_reads_work(specs, url: str, problem: str, fix: str) -> None:
    for command in WRITING_COMMANDS:
        done = cli(*command, "--specs", str(specs), "--database-url", url)
        assert fix in _one_clean_line(done, 3, problem)
    listing = cli("jobs", "list", "--specs", str(specs), "--database-url", url)
    assert listing.returncode == 0, listing.stderr  # reading still works


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql//postgres:{SECRET}@127.0.0.1:5432/db",
        f"postgresql:/postgres:{SECRET}@127.0.0.1:5432/db",
        f"postgres//postgres:{SECRET}@127.0.0.1/db?sslmode=require",
        f"://postgres:{SECRET}@127.0.0.1/db",
    ],
)
def test_a_malformed_url_never_prints_its_password(url, make_specs):
    specs = make_specs()
    for command in WRITING_COMMANDS:
        done = cli(*command, "--specs", str(specs), "--database-url", url)
        line = _one_clean_line(done, 2, "database URL")
        assert "***@127.0.0.1" in line, line


def test_an_unsupported_driver_is_one_line_naming_the_supported_ones(make_specs):
    specs = make_specs()
    for url in (f"mysql://root:{SECRET}@127.0.0.1/shop", f"oracle://u:{SECRET}@h/x"):
        for command in WRITING_COMMANDS:
            done = cli(*command, "--specs", str(specs), "--database-url", url)
            line = _one_clean_line(done, 2, "unsupported database")
            assert "SQLite and PostgreSQL" in line and "postgresql://" in line, line


@pytest.fixture
def db_backend():
    return "sqlite"


def test_a_read_only_sqlite_file_is_exit_3_with_the_fix(db_url, engine, make_specs):
    path = make_url(db_url).database
    engine.dispose()
    read_only_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    specs = make_specs()
    _writes_refused_reads_work(specs, read_only_url, "is read-only", "point --database-url at")


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgres"])
def test_a_read_only_postgres_is_exit_3_with_the_fix(db_backend, db_url, engine, make_specs):
    database = make_url(db_url).database
    with engine.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'))
        conn.commit()
    engine.dispose()
    specs = make_specs()
    url = make_url(db_url).set(password=SECRET).render_as_string(hide_password=False)
    try:
        for command in WRITING_COMMANDS:
            done = cli(*command, "--specs", str(specs), "--database-url", url)
            line = _one_clean_line(done, 3, "is read-only (cannot execute")
            assert "default_transaction_read_only off" in line
    finally:
        admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SET default_transaction_read_only = off"))
            conn.execute(text(f'ALTER DATABASE "{database}" RESET default_transaction_read_only'))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgres"])
def test_a_select_only_postgres_user_is_exit_3_with_the_grant(
    db_backend, db_url, engine, make_specs
):
    role = f"reader_{uuid.uuid4().hex[:12]}"
    database = make_url(db_url).database
    with engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'"))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.commit()
    specs = make_specs()
    url = make_url(db_url).set(username=role, password=SECRET)
    url_text = url.render_as_string(hide_password=False)
    try:
        problem = "the runner's user may not write (permission denied"
        _writes_refused_reads_work(specs, url_text, problem, "GRANT SELECT, INSERT, UPDATE")
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
            conn.commit()
