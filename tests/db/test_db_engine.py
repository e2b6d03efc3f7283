"""Engine construction, SQLite pragmas and transactions, and the reachability check."""

from __future__ import annotations

import sqlite3

import pytest

from runner.db.engine import (
    check_database,
    connect_or_exit,
    describe_db_error,
    make_engine,
    normalize_url,
    read_only,
    redact_url,
)
from runner.errors import DatabaseUnavailable, ExitCode


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///sync-runner.db", "sqlite:///sync-runner.db"),
    ],
)
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


def test_redact_url_hides_only_the_password():
    assert redact_url("postgresql://bob:s3cr3t@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact_url("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert redact_url("sqlite:///a.db") == "sqlite:///a.db"


def test_default_url_is_embedded_sqlite():
    engine = make_engine(None)
    assert str(engine.url) == "sqlite:///sync-runner.db"
    engine.dispose()


def test_postgres_urls_use_psycopg3():
    engine = make_engine("postgresql://u@127.0.0.1/x")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_sqlite_pragmas(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_sqlite_transactions_take_the_write_lock_up_front(tmp_path):
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")  # a read, yet the write lock is held already
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after commit
        other.execute("ROLLBACK")
        # read_only() connections begin DEFERRED and do not block a writer
        with engine.connect() as conn:
            read_only(conn)
            conn.exec_driver_sql("SELECT 1")
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_unreachable_postgres_is_one_clear_line_without_the_password():
    with pytest.raises(DatabaseUnavailable) as caught:
        connect_or_exit("postgresql://bob:hunter2secret@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.DATABASE
    assert "\n" not in message
    assert "hunter2secret" not in message
    assert message.startswith("database unavailable at postgresql+psycopg://bob:***@127.0.0.1:1")


def test_missing_sqlite_file_is_not_created(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(DatabaseUnavailable, match="run `sync-runner db upgrade` to create it"):
        connect_or_exit(f"sqlite:///{path}")
    assert not path.exists()


def test_unreachable_sqlite_path(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="unable to open database file"):
        connect_or_exit(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", require_schema=False)


def test_invalid_url_is_a_database_error():
    with pytest.raises(DatabaseUnavailable, match="unsupported database 'nonsense'") as caught:
        make_engine("nonsense://x:pw@")
    assert caught.value.exit_code == ExitCode.BAD_INPUT and "pw" not in str(caught.value)


def test_reachable_database_without_schema_says_to_upgrade(blank_db_url):
    engine = make_engine(blank_db_url)
    try:
        with pytest.raises(DatabaseUnavailable, match="sync-runner db upgrade"):
            check_database(engine)
        check_database(engine, require_schema=False)
    finally:
        engine.dispose()


def test_migrated_database_passes_the_check(engine):
    check_database(engine)


def test_describe_db_error_strips_password_parameters():
    line = describe_db_error(
        Exception("invalid dsn: host=x password=topsecret user=y\n  detail"), "sqlite:///a.db"
    )
    assert "topsecret" not in line and "\n" not in line
