"""`sync-runner maintain`: apply the retention and scoring policies of specs/runner.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from runner.commands.spec import SPECS_OPTION
from runner.errors import ExitCode, SpecError, SyncRunnerError
from runner.logs import configure_from, log_options


def format_summary(summary: dict[str, Any]) -> str:
    """The maintenance summary as a few readable lines."""
    deleted = summary["deleted"]
    scores = summary["scores"]
    lines = [f"🧹 maintenance done in {summary['duration_seconds']:.2f}s"]
    lines += [f"  deleted {name}: {count}" for name, count in deleted.items()]
    lines.append(f"  ai_score: {scores['updated']} of {scores['products']} products changed")
    return "\n".join(lines)


@click.command()
@SPECS_OPTION
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Database (default: $DATABASE_URL, else database.url in runner.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
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
    after draining the queue.

    \b
    Examples:
      sync-runner maintain
      sync-runner maintain --specs /etc/syncrunner/specs --database-url postgresql://...
      sync-runner maintain --json --log-format json
    """
    from runner.clock import SystemClock
    from runner.config import load_settings
    from runner.db.engine import connect_or_exit
    from runner.maintenance import run_maintenance

    try:
        settings = load_settings(specs_dir, database_url)
    except SpecError as exc:
        for issue in exc.errors:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.errors)} error(s): fix them first (sync-runner validate)", err=True)
        raise SystemExit(ExitCode.BAD_INPUT) from None
    configure_from(settings.specs, log_format, log_level)
    try:
        engine = connect_or_exit(settings.database_url)
        try:
            summary = run_maintenance(engine, settings.specs, SystemClock())
        finally:
            engine.dispose()
    except SyncRunnerError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(exc.exit_code) from None
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
