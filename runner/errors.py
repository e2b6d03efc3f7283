"""Exit codes and the error classes that map onto them."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # the run went as designed, even if some jobs failed (they are in the queue)
    UNEXPECTED = 1  # anything unexpected; a failed job of run-job or run --fail-on-job-error
    BAD_INPUT = 2  # a bad spec or bad arguments; nothing was touched
    DATABASE = 3  # the database cannot be reached, is read-only, or refuses writes
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it); a running job handed back


class SyncRunnerError(Exception):
    """Base class of the runner's own errors. `str()` is one clear line, never a secret."""

    exit_code: ExitCode = ExitCode.UNEXPECTED


class SpecError(SyncRunnerError):
    """One or more specs are invalid. `errors` holds every located problem."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, errors: list) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} spec error(s)")


class DatabaseUnavailable(SyncRunnerError):
    """The database cannot be reached, is read-only, or refuses the runner's writes."""

    exit_code = ExitCode.DATABASE


class BadDatabaseUrl(DatabaseUnavailable):
    """A database URL that cannot be parsed, or names a driver the runner does not support:
    an operator's typo, so exit 2 like any bad input (never with the password)."""

    exit_code = ExitCode.BAD_INPUT


class TransientError(SyncRunnerError):
    """Worth retrying later: timeouts, connection errors, 429, 5xx, a retryable envelope."""


class PermanentError(SyncRunnerError):
    """Retrying will not help: 401/403, a 4xx, a broken response contract."""


class RetryLater(TransientError):
    """The remote asked us to wait (Retry-After, a rate-limit reset): defer the job without
    charging an attempt."""

    def __init__(self, message: str, delay_seconds: float) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


class BudgetWait(RetryLater):
    """A request budget is spent until `until` (its next slot, or the server's reset time):
    the job waits for `budget` (`bigbuy/products`) and is deferred to that moment.

    A deferring sync raises it with `result_data` (what its accounts did, and what each
    waits for) and `budgets` (every budget waited for)."""

    def __init__(
        self,
        message: str,
        delay_seconds: float,
        *,
        budget: str,
        until: datetime,
        result_data: dict | None = None,
    ) -> None:
        super().__init__(message, delay_seconds)
        self.budget = budget
        self.until = until
        self.result_data = result_data


class JobFailed(SyncRunnerError):
    """Some part of a job failed after the rest went on (e.g. one supplier of three).

    Carries the partial `result_data` and every error; `transient` says whether running the
    job again later may succeed (the queue then retries it with backoff).
    """

    def __init__(
        self, message: str, *, errors: list[dict], result_data: dict, transient: bool
    ) -> None:
        super().__init__(message)
        self.errors = errors
        self.result_data = result_data
        self.transient = transient


class JobInterrupted(SyncRunnerError):
    """The worker is stopping (SIGTERM) or lost its lease: hand the job back uncharged."""


MESSAGE_LIMIT = 500  # characters of an error's one-line message kept in the queue and logs


def is_transient(exc: BaseException) -> bool:
    """Worth running again later: the runner's `TransientError`, or the database went away
    (SQLAlchemy's `OperationalError` or `InterfaceError`: a dropped connection, a restart).
    The one answer for the worker and the sync engine alike."""
    from sqlalchemy.exc import InterfaceError, OperationalError  # not for `validate`/`--help`

    return isinstance(exc, TransientError | OperationalError | InterfaceError)


def one_line(exc: BaseException) -> str:
    """An error as one line for logs, results and the queue, secrets removed: the runner's
    own errors by their message, others with their type (`KeyError: 'sku'`); a database
    error without its SQL text and parameters; capped at `MESSAGE_LIMIT` characters."""
    from sqlalchemy.exc import DBAPIError

    from runner.redact import redact

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without the SQL text and its parameters
    message = str(exc)
    if not isinstance(exc, SyncRunnerError):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = " ".join(message.split()) or type(exc).__name__
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return redact(text)
