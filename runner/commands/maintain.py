"""`sync-runner maintain`: apply the retention and scoring policies of specs/runner.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from runner.commands.common import (
    DATABASE_URL_OPTION,
    JSON_OPTION,
    cli_errors,
    open_database,
    open_settings,
    to_json,
)
from runner.commands.spec import SPECS_OPTION
from runner.logs import log_options


@click.command()
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
@log_options
def maintain(
    specs_dir: Path | None,
    database_url: str | None,
    as_json: bool,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Delete rows past their retention age and recompute every product's ai_score.

    Policies come from specs/runner.yaml: `retention` (activity logs 30 days, completed and
    cancelled jobs 7 days, failed jobs and rejects 30 days; deleted `batch_size` rows per
    statement, so several pods may run this at once) and `scoring` (base points plus the
    points of every matching rule, clamped to 0..100). `sync-runner run` also does this
    after draining the queue. See docs/operations.md.

    \b
    Examples:
      sync-runner maintain
      sync-runner maintain --specs /etc/sync-runner/specs --database-url postgresql://...
      sync-runner maintain --json --log-format json
    """
    from runner.clock import SystemClock
    from runner.maintenance import format_summary, run_maintenance

    with cli_errors():
        settings = open_settings(specs_dir, database_url, log_format, log_level)
        engine = open_database(settings, writable=True)
        try:
            summary = run_maintenance(engine, settings.specs, SystemClock())
        finally:
            engine.dispose()
    click.echo(to_json(summary) if as_json else format_summary(summary))
