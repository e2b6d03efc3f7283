"""Can the runner write? A read-only database or a user without write privileges, told once.

A command that writes (`run`, `run-job`, `sync`, `enqueue`, `maintain`, `accounts add`, ...)
probes every table of the schema before it starts: for each one, an INSERT, an UPDATE and a
DELETE that touch no row, inside a transaction that is rolled back. A read-only database (a
SQLite file opened read-only or not writable, Postgres with `default_transaction_read_only` or
a hot standby) and a user without INSERT, UPDATE or DELETE on a table refuse these statements
exactly as they would refuse the real ones, so the command stops with one line that names the
problem and its fix (exit 3) instead of failing mid-job with a traceback, SQL and bound
parameters. `write_problem()` recognises the same errors when they come later anyway.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

_READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction
_PRIVILEGE_SQLSTATE = "42501"  # insufficient_privilege
_SQLITE_READ_ONLY = ("readonly database", "read-only database")


def probe_writes(conn: Connection) -> None:
    """Run a no-row INSERT, UPDATE and DELETE on every table of the schema (syncs, the queue,
    maintenance and `accounts` write them all), then roll back. Raises the database's own
    error (a DBAPIError) when one is refused."""
    from runner.db.tables import metadata

    with conn.begin() as transaction:
        for table in metadata.sorted_tables:
            name = table.name
            key = next(iter(table.primary_key.columns)).name
            conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {name} WHERE 1 = 0")
            conn.exec_driver_sql(f"UPDATE {name} SET {key} = {key} WHERE 1 = 0")
            conn.exec_driver_sql(f"DELETE FROM {name} WHERE 1 = 0")
        transaction.rollback()


def write_problem(exc: BaseException, where: str) -> str | None:
    """One line naming the problem and its fix when `exc` says the database refuses writes
    (read-only, or a missing privilege); None for any other error. Never SQL, parameters or
    a password: only the database's own reason, and `where` (a redacted URL)."""
    if not isinstance(exc, DBAPIError):
        return None
    original = exc.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    text = (str(original).strip().splitlines() or [type(original).__name__])[0]
    if state == _READ_ONLY_SQLSTATE or any(n in text.lower() for n in _SQLITE_READ_ONLY):
        return (
            f"database at {where} is read-only ({_first_line(text)}): point --database-url at "
            "a writable database (the Postgres primary, not a standby; "
            "default_transaction_read_only off; a SQLite file the runner's user may write, "
            "in a writable directory)"
        )
    if state == _PRIVILEGE_SQLSTATE:
        return (
            f"database at {where}: the runner's user may not write ({_first_line(text)}): "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public and USAGE ON "
            "ALL SEQUENCES IN SCHEMA public to it, or use the user that ran `sync-runner db "
            "upgrade`"
        )
    return None


def _first_line(text: str) -> str:
    """The database's reason, without the SQL or parameters SQLAlchemy appends."""
    return text.split("[SQL:")[0].strip()[:200]
