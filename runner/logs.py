"""Log formats: a human one with the emoji prefixes users know, and JSON lines for Kubernetes.

Every module logs through `logging.getLogger("sync_runner.<area>")` and passes structured
fields in `extra`: `event` (e.g. `job.started`, `step.finished`, `maintenance.finished`),
`job_id`, `user_id`, `supplier`, `step`, `sync_type` and `counts` (a dict). Both formats
render the same records, so they carry the same events; only the layout differs:

    12:00:01 ✅ step finished: bigbuy/products [step.finished job=7c1f… supplier=bigbuy inserted=10]
    {"ts": "...", "level": "info", "event": "step.finished", "message": "...", "job_id": ...}

Secrets never reach either format: `RedactingFilter` scrubs the message, its arguments, every
extra field and exception text with `runner.redact.redact` before any formatter runs.

The format is chosen by `--log-format` (`log_options`), else `LOG_FORMAT`, else
`logging.format` in runner.yaml, else `human`; the level likewise (`--log-level`,
`LOG_LEVEL`, `logging.level`, `info`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

import click

from runner.redact import redact
from runner.spec.model import LoggingSpec

if TYPE_CHECKING:
    from runner.spec.model import SpecSet

LOGGER_NAME = "sync_runner"
FORMATS = ("human", "json")
LEVELS = ("debug", "info", "warning", "error")
LogFormat = Literal["human", "json"]

# The structured fields every format knows, in the order the human format prints them.
FIELDS = ("job_id", "user_id", "supplier", "step", "sync_type")

ICON_START = "🔄"
ICON_INFO = "📋"
ICON_JOB = "🚀"
ICON_SUCCESS = "✅"
ICON_ERROR = "❌"
ICON_WARNING = "⚠️"
ICON_MAINTENANCE = "🧹"
ICON_INVENTORY = "📦"
ICON_PRICE = "💰"
SYNC_TYPE_ICONS = {"inventory_update": ICON_INVENTORY, "price_update": ICON_PRICE}

# Attributes every LogRecord has; anything else on a record came in through `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def record_extra(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record got through `extra`."""
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}


def _scrub(value: Any) -> Any:
    """Redact every string inside a (nested) value; other scalars pass unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Scrub secrets from the message, its args, every extra field and the traceback.

    The message is rendered first (`getMessage()`), so a secret passed as an argument is
    caught too; the record is changed in place, so later handlers see the scrubbed version.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in record_extra(record).items():
            setattr(record, key, _scrub(value))
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def choose_icon(record: logging.LogRecord) -> str:
    """The emoji prefix of a record, from its level, its event and its sync type."""
    explicit = getattr(record, "icon", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    event = str(getattr(record, "event", "") or "")
    if record.levelno >= logging.ERROR or event.endswith((".failed", ".error")):
        return ICON_ERROR
    if record.levelno >= logging.WARNING:
        return ICON_WARNING
    if event.startswith("maintenance."):
        return ICON_MAINTENANCE
    if event.endswith((".finished", ".completed", ".delivered", ".pushed")):
        return ICON_SUCCESS
    if event == "job.started":
        return SYNC_TYPE_ICONS.get(str(getattr(record, "sync_type", "")), ICON_JOB)
    if event.endswith(".started"):
        return ICON_START
    return ICON_INFO


def _counts(record: logging.LogRecord) -> dict[str, Any]:
    counts = getattr(record, "counts", None)
    return dict(counts) if isinstance(counts, Mapping) else {}


class HumanFormatter(logging.Formatter):
    """`HH:MM:SS <icon> <message> [<event> job=… supplier=… step=… <count>=…]`.

    On a terminal (`clear_line`), each line first clears the current one, so that a log line
    replaces a progress line (`runner.progress`) instead of being glued to its end.
    """

    def __init__(self, *, clear_line: bool = False) -> None:
        super().__init__()
        self.prefix = "\r\x1b[K" if clear_line else ""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        line = f"{self.prefix}{time} {choose_icon(record)} {record.getMessage()}"
        tags = [str(record.event)] if getattr(record, "event", None) else []
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                tags.append(f"{name.removesuffix('_id')}={value}")
        # Counts are numbers; anything else a caller put there is left to the JSON format.
        tags.extend(
            f"{k}={v}"
            for k, v in _counts(record).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        if tags:
            line += " [" + " ".join(tags) + "]"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, message, logger, job_id, user_id,
    supplier, step, counts, then any other extra field; `error` holds a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        extra = record_extra(record)
        extra.pop("icon", None)
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": extra.pop("event", None) or "log",
            "message": record.getMessage(),
            "logger": record.name,
        }
        for name in (*FIELDS, "counts"):
            data[name] = extra.pop(name, None)
        data.update(extra)
        if record.exc_text:
            data["error"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))


class _Handler(logging.StreamHandler):
    """Our handler; marked by its class so that `setup_logging` can replace it.

    Without an explicit stream it writes to whatever `sys.stderr` is at the time of each
    record, so that a test runner swapping stderr never leaves it writing to a closed file.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._follow_stderr = stream is None
        super().__init__(stream)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr if self._follow_stderr else self._stream

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        self._stream = value


def setup_logging(
    format: LogFormat = "human", level: str | int = "info", stream: IO[str] | None = None
) -> logging.Handler:
    """Install one handler with the given format on the `sync_runner` logger.

    Calling it again replaces the previous handler. Records still propagate to the root
    logger (so pytest's caplog sees them), already redacted. The stream defaults to stderr,
    which keeps stdout for command output.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown log format {format!r} (use one of: {', '.join(FORMATS)})")
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(old)
    handler = _Handler(stream)
    handler.addFilter(RedactingFilter())
    if format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        isatty = getattr(handler.stream, "isatty", None)
        handler.setFormatter(HumanFormatter(clear_line=bool(callable(isatty) and isatty())))
    logger.addHandler(handler)
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def resolve_settings(
    specs: SpecSet | None,
    cli_format: str | None = None,
    cli_level: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[LogFormat, str]:
    """Format and level by precedence: command line, then env, then runner.yaml."""
    env = os.environ if env is None else env
    spec_logging = specs.runner.logging if specs is not None else LoggingSpec()

    def pick(cli: str | None, env_name: str, configured: str, choices: tuple[str, ...]) -> str:
        value = (cli or env.get(env_name) or configured).lower()
        if value not in choices:
            raise click.BadParameter(
                f"{value!r} is not one of {', '.join(choices)}", param_hint=env_name
            )
        return value

    fmt = pick(cli_format, "LOG_FORMAT", spec_logging.format, FORMATS)
    return fmt, pick(cli_level, "LOG_LEVEL", spec_logging.level, LEVELS)  # type: ignore[return-value]


def configure_from(
    specs: SpecSet | None,
    cli_format: str | None = None,
    cli_level: str | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Set up logging as the command line, the env and runner.yaml ask (in that order)."""
    fmt, level = resolve_settings(specs, cli_format, cli_level)
    return setup_logging(fmt, level, stream)


def log_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Click decorator: add `--log-format` and `--log-level`; the command receives them as
    `log_format` and `log_level` (None when not given) and passes them to `configure_from`."""

    level = click.option(
        "--log-level",
        type=click.Choice(LEVELS, case_sensitive=False),
        envvar="LOG_LEVEL",
        show_envvar=True,
        default=None,
        help="Log level [default: logging.level in runner.yaml, else info].",
    )
    fmt = click.option(
        "--log-format",
        type=click.Choice(FORMATS, case_sensitive=False),
        envvar="LOG_FORMAT",
        show_envvar=True,
        default=None,
        help="human (emoji prefixes) or json (one object per line, for Kubernetes) "
        "[default: logging.format in runner.yaml, else human].",
    )
    return fmt(level(command))
