"""`sync-runner budgets`: every account's request budgets, as the database holds them."""

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
    when,
)
from runner.commands.spec import SPECS_OPTION


@click.command()
@click.option("--account", "account_id", default=None, help="Only this supplier or integration.")
@JSON_OPTION
@SPECS_OPTION
@DATABASE_URL_OPTION
def budgets(
    account_id: str | None, as_json: bool, specs_dir: Path | None, database_url: str | None
) -> None:
    """Per account and budget: requests used in the window, limit, window, next free slot.

    Budgets are shared by every job, process and pod (table rate_budget_slots). A budget
    that is spent shows when its next slot opens; jobs that need it wait, pending, until
    then (`sync-runner stats` counts them). A budget the server closed with a 429 shows
    as spent until the time the server stated.

    \b
    Examples:
      sync-runner budgets
      sync-runner budgets --account 8f14e45f --json
    """
    from runner.budgets import budget_usage
    from runner.clock import SystemClock

    with cli_errors():
        settings = open_settings(specs_dir, database_url)
        engine = open_database(settings)
        try:
            usage = budget_usage(engine, SystemClock().now(), account_id)
        finally:
            engine.dispose()
    if as_json:
        click.echo(to_json([u.as_dict() for u in usage]))
        return
    if not usage:
        click.echo("no budget has been spent yet")
        return
    click.echo(f"{'ACCOUNT':36}  {'BUDGET':28} {'USED':>5} {'LIMIT':>5} {'WINDOW':>8}  NEXT FREE")
    for u in usage:
        free = "now" if u.next_free is None else when(u.next_free) + " UTC"
        click.echo(
            f"{u.account_id:36}  {u.budget:28} {u.used:>5} {u.limit:>5} "
            f"{u.window_seconds:>7g}s  {free}"
        )
