"""Database engines: URL normalisation, SQLite pragmas and transactions, reachability check.

- `postgresql://` (and `postgres://`) URLs are rewritten to psycopg 3
  (`postgresql+psycopg://`).
- SQLite runs in WAL mode with a busy timeout and foreign keys on. Every SQLite transaction
  starts with `BEGIN IMMEDIATE`: SQLite has a single writer, and taking the write lock up
  front makes a waiting writer wait (busy_timeout) instead of failing with "database is
  locked" when a read transaction tries to upgrade. Read-only work can ask for a plain
  deferred `BEGIN` with `read_only(conn)`, so that listings never wait for a writer.
- `check_database()` turns "cannot connect" into `DatabaseUnavailable`: one clear line, the
  URL without its password, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from runner.db.access import probe_writes, write_problem
from runner.errors import BadDatabaseUrl, DatabaseUnavailable

DEFAULT_DATABASE_URL = "sqlite:///sync-runner.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10

# Execution option read by the SQLite "begin" hook; see read_only().
_DEFERRED = "sync_runner_deferred_begin"


def normalize_url(url: str) -> str:
    """Point Postgres URLs at psycopg 3; leave everything else alone."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***` (safe for logs and error messages)."""
    return _PASSWORD.sub(r"\g<head>:***@", url)


def masked_url(url: str) -> str:
    """A URL that may not even parse, with everything before its last `@` (user and
    password, wherever a typo put them) and any password parameter masked."""
    head, at, tail = url.rpartition("@")
    if at:
        scheme = head.find("//")
        url = f"{head[: scheme + 2] if scheme >= 0 else ''}***@{tail}"
    return _PASSWORD_PARAM.sub(r"\1***", url)


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_URL_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for `url` (default `sqlite:///sync-runner.db`). Does not connect yet.

    Raises `DatabaseUnavailable` for a URL that cannot even be parsed or whose driver is
    missing, with the password stripped from the message.
    """
    url = normalize_url(url or DEFAULT_DATABASE_URL)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # its message repeats the URL: not shown
        raise BadDatabaseUrl(
            f"invalid database URL {masked_url(url)}: expected {_URL_FORMS}"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise BadDatabaseUrl(
            f"unsupported database {backend!r} in {masked_url(url)}: sync-runner supports "
            f"SQLite and PostgreSQL ({_URL_FORMS})"
        )
    try:
        if backend == "postgresql":
            connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
            connect_args.update(kwargs.pop("connect_args", {}))
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)
        else:
            engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ValueError, ImportError) as exc:
        reason = masked_url(" ".join(str(exc).split()))[:200]
        raise BadDatabaseUrl(
            f"invalid database URL {masked_url(url)} ({reason}): use {_URL_FORMS}"
        ) from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy (the "begin" hook below) emit BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        deferred = conn.get_execution_options().get(_DEFERRED, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def read_only(conn: Connection) -> Connection:
    """Mark `conn` (before its first statement) as read-only work.

    On SQLite its transactions begin DEFERRED, so they never wait for the write lock; on
    other databases this changes nothing.
    """
    return conn.execution_options(**{_DEFERRED: True})


def describe_db_error(exc: BaseException, url: str | None = None) -> str:
    """One line saying which database failed and why (no password, no traceback)."""
    original = getattr(exc, "orig", None) or exc
    detail = " ".join(str(original).split()) or type(original).__name__
    detail = _PASSWORD_PARAM.sub(r"\1***", redact_url(detail))
    if len(detail) > 300:
        detail = detail[:297] + "..."
    where = f" at {redact_url(url)}" if url else ""
    return f"database unavailable{where}: {detail}"


def check_database(engine: Engine, *, require_schema: bool = True, writable: bool = False) -> None:
    """Connect once; raise `DatabaseUnavailable` with one clear line if that fails.

    With `require_schema`, a reachable database without the runner's tables also fails, and
    the message says to run `sync-runner db upgrade`. With `writable`, a database that would
    refuse the runner's writes (read-only, or a user without privileges) fails too, with
    the fix (runner/db/access.py).
    """
    url = engine.url.render_as_string(hide_password=True)
    database = engine.url.database
    if (
        require_schema
        and engine.dialect.name == "sqlite"
        and database not in (None, "", ":memory:")
        and not database.startswith("file:")
        and not Path(database).exists()
    ):
        # Do not leave an empty file behind: connecting would create one.
        raise DatabaseUnavailable(
            f"no database at {url}: run `sync-runner db upgrade` to create it"
        )
    try:
        with engine.connect() as conn:
            read_only(conn)
            conn.exec_driver_sql("SELECT 1")
            has_schema = inspect(conn).has_table("import_jobs")
    except DBAPIError as exc:
        raise DatabaseUnavailable(describe_db_error(exc, url)) from None
    if require_schema and not has_schema:
        raise DatabaseUnavailable(
            f"database at {redact_url(url)} has no sync-runner tables: "
            "run `sync-runner db upgrade` first"
        )
    if writable:
        try:
            with engine.connect() as conn:
                probe_writes(conn)
        except DBAPIError as exc:
            problem = write_problem(exc, redact_url(url))
            raise DatabaseUnavailable(problem or describe_db_error(exc, url)) from None


def connect_or_exit(
    url: str | None, *, require_schema: bool = True, writable: bool = False
) -> Engine:
    """`make_engine(url)` and `check_database()`; raises `DatabaseUnavailable` (exit 3;
    `BadDatabaseUrl`, exit 2, for a URL that does not parse or names another database).

    The CLI maps the exception to its exit code and prints its one line.
    """
    engine = make_engine(url)
    try:
        check_database(engine, require_schema=require_schema, writable=writable)
    except DatabaseUnavailable:
        engine.dispose()
        raise
    return engine
