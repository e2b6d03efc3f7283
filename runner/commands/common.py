"""Plumbing shared by the commands that use the database: options, settings, errors, JSON.

The order is always: load and check the specs (exit 2 on a bad spec, without connecting),
set up logging, then connect (exit 3 with one line if the database is unreachable).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from runner.config import Settings, load_settings
from runner.errors import ExitCode, SpecError, SyncRunnerError

DATABASE_URL_OPTION = click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="Database URL [default: $DATABASE_URL, else database.url in runner.yaml, else "
    "sqlite:///sync-runner.db]; postgresql:// URLs use psycopg 3.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def account_option(what: str):
    """The `--account ID` option (alias `--supplier`, its old name) of the commands that take
    the id of one account, given to the command as `account_id`; `what` starts its help."""
    return click.option(
        "--account",
        "--supplier",
        "account_id",
        default=None,
        metavar="ID",
        help=f"{what} An account is a supplier account or a marketplace integration of the "
        "user; `sync-runner accounts list --user USER` shows their ids. --supplier is an "
        "old name of this option.",
    )


def fail(message: str, code: ExitCode) -> SystemExit:
    """Print one line to stderr and return the SystemExit to raise."""
    click.echo(f"error: {message}", err=True)
    return SystemExit(int(code))


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn the runner's errors into one stderr line and their exit code (never a traceback).

    A spec error lists every problem (exit 2); a lost database is exit 3; anything else
    unexpected propagates (exit 1 with a traceback: that is a bug to report).

    The command runs in its own secret scope (`runner.redact.secret_scope`): what it
    registers is redacted in its output and forgotten when it ends.
    """
    from sqlalchemy.exc import DBAPIError

    from runner.db.access import write_problem
    from runner.db.engine import describe_db_error
    from runner.redact import secret_scope

    with secret_scope():
        try:
            yield
        except SpecError as exc:
            for issue in exc.errors:
                click.echo(str(issue), err=True)
            raise fail(
                f"{exc}: fix them first (sync-runner validate)", ExitCode.BAD_INPUT
            ) from None
        except SyncRunnerError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except (OperationalError, InterfaceError) as exc:
            problem = write_problem(exc, "the configured URL")
            raise fail(problem or describe_db_error(exc), ExitCode.DATABASE) from None
        except DBAPIError as exc:  # read-only, or a privilege missing, after the start-up probe
            problem = write_problem(exc, "the configured URL")
            if problem is None:
                raise
            raise fail(problem, ExitCode.DATABASE) from None


def open_settings(
    specs_dir: Path | None,
    database_url: str | None,
    log_format: str | None = None,
    log_level: str | None = None,
) -> Settings:
    """Load the specs (SpecError: exit 2 via cli_errors) and set up logging."""
    from runner.logs import configure_from

    settings = load_settings(specs_dir, database_url)
    configure_from(settings.specs, log_format, log_level)
    return settings


def open_database(settings: Settings, *, writable: bool = False) -> Engine:
    """Connect and check the schema (and, for a command that writes, that the database
    takes writes); DatabaseUnavailable (exit 3) otherwise."""
    from runner.db.engine import connect_or_exit

    return connect_or_exit(settings.database_url, writable=writable)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_default, ensure_ascii=False)


def when(value: datetime | None) -> str:
    """A compact UTC time for tables: `2025-01-01 10:00:05`."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")
