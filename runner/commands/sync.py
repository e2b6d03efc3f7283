"""`sync-runner sync` (one sync now, without the queue) and `sync-runner demo`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.commands.common import (
    DATABASE_URL_OPTION,
    JSON_OPTION,
    account_option,
    cli_errors,
    fail,
    open_database,
    open_settings,
    to_json,
)
from runner.commands.spec import SPECS_OPTION
from runner.errors import ExitCode
from runner.logs import log_options


@click.command()
@click.option(
    "--user", "user_id", required=True, metavar="USER", help="The user whose data to sync."
)
@click.option(
    "--type",
    "sync_type",
    required=True,
    metavar="TYPE",
    help="Sync type from specs/sync_types.yaml: supplier_api, inventory_update, "
    "price_update, order_sync, or a push: stock_push, price_push.",
)
@account_option("Only this account [default: all the user's active accounts].")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Fetch and map as usual, print what would change, write nothing at all. A push "
    "lists every item it would send, one per line.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Use mock records generated from the mappings instead of the real APIs.",
)
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
@log_options
def sync(
    user_id: str,
    sync_type: str,
    account_id: str | None,
    dry_run: bool,
    offline: bool,
    specs_dir: Path | None,
    database_url: str | None,
    as_json: bool,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Run one sync at once, without the queue: for a one-off, or to preview a change.

    Runs every step the user's suppliers (or marketplace integrations, for order_sync)
    declare for the sync type, exactly as a queued job would, and prints one summary line
    per account. With --dry-run it prints every row it would insert (+), update (~, with
    each changed field old -> new) or reject (!), and writes nothing. Exit code 1 when an
    account failed, 2 for bad arguments, 3 when the database is unreachable.

    \b
    Examples:
      sync-runner sync --user u-42 --type price_update --dry-run
      sync-runner sync --user u-42 --type supplier_api --account 7b0c9e4e-... --offline
      sync-runner sync --user u-42 --type order_sync --json
      sync-runner sync --user u-42 --type stock_push --dry-run
    """
    from runner.errors import BudgetWait, JobFailed
    from runner.progress import Progress
    from runner.sync.diff import format_entry
    from runner.sync.engine import SyncRequest, run_sync
    from runner.sync.report import format_table, summary_rows
    from runner.sync.tuning import tune_for_streaming

    diff: list[dict] = []

    def on_diff(entry) -> None:
        if as_json:
            diff.append(entry.as_dict())
        else:
            click.echo(format_entry(entry))

    request = SyncRequest(
        user_id=user_id,
        sync_type=sync_type,
        account_id=account_id,
        dry_run=dry_run,
        offline=offline,
    )
    failed = None
    with cli_errors():
        settings = open_settings(specs_dir, database_url, log_format, log_level)
        if sync_type not in settings.specs.sync_types:
            known = ", ".join(sorted(settings.specs.sync_types))
            raise fail(f"unknown sync type {sync_type!r} (known: {known})", ExitCode.BAD_INPUT)
        if settings.specs.sync_types[sync_type].push:
            _push(settings, user_id, sync_type, account_id, dry_run, offline, as_json)
            return
        engine = open_database(settings, writable=not dry_run)
        tune_for_streaming()  # once, for the whole process (runner.sync.tuning)
        try:
            result = run_sync(
                engine,
                settings.specs,
                request,
                on_diff=on_diff,
                progress=Progress.for_stream(sys.stderr),
            )
        except (JobFailed, BudgetWait) as exc:  # a budget wait: run it again later
            result, failed = exc.result_data or {}, exc
        except KeyboardInterrupt:
            # No queue here: the batches written so far stay, the next sync goes on from them.
            click.echo("interrupted: the batches written so far are kept", err=True)
            raise SystemExit(ExitCode.INTERRUPTED) from None
        finally:
            engine.dispose()
    if as_json:
        click.echo(to_json({**result, "diff": diff} if dry_run else result))
    else:
        if dry_run:
            click.echo("Dry run: nothing was written. Counts say what a real run would do.")
        click.echo(format_table(summary_rows(result, sync_type=sync_type)))
    if failed is not None:
        click.echo(str(failed), err=True)
        raise SystemExit(ExitCode.UNEXPECTED)


def _push(
    settings, user_id, sync_type, account_id, dry_run: bool, offline: bool, as_json: bool
) -> None:
    """A push sync type (runner/push): items listed as they would go out (dry run), then one
    line per integration; exit 1 when an integration failed."""
    from runner.errors import JobFailed
    from runner.push.report import format_item, summary_lines
    from runner.push.run import PushRequest, run_push

    request = PushRequest(user_id, sync_type, account_id, dry_run=dry_run, offline=offline)
    on_item = None if as_json else (lambda item: click.echo(format_item(item)))
    engine = open_database(settings, writable=not dry_run)
    failed = None
    try:
        result = run_push(engine, settings.specs, request, on_item=on_item)
    except JobFailed as exc:
        result, failed = exc.result_data, exc
    finally:
        engine.dispose()
    if as_json:
        click.echo(to_json(result))
    else:
        if dry_run:
            click.echo("Dry run: nothing was sent nor written. Each > line would be sent.")
        for line in summary_lines(result):
            click.echo(line)
    if failed is not None:
        click.echo(str(failed), err=True)
        raise SystemExit(ExitCode.UNEXPECTED)


@click.command()
@DATABASE_URL_OPTION
@SPECS_OPTION
@log_options
def demo(
    database_url: str | None,
    specs_dir: Path | None,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Seed a demo shop and run all four sync types offline: no network, no keys.

    Creates (or upgrades) the database, seeds user `demo-user` with a BigBuy and an
    AliExpress supplier account (and one of every other supplier spec, such as a feed
    supplier added by YAML) and a Shopify and a WooCommerce shop with orders (all in
    mock mode: records come from the mappings' `mock:` sections), enqueues one job of each
    sync type, runs them through the real worker, and prints what each job did. Running it
    again does no harm: nothing is inserted twice, and orders already delivered or
    cancelled are left alone.

    \b
    Examples:
      sync-runner demo                                  # ./sync-runner.db (SQLite)
      sync-runner demo --database-url sqlite:///tmp/demo.db
      sync-runner demo --database-url postgresql://postgres@127.0.0.1/test
    """
    from runner.demo import run_demo

    with cli_errors():
        # The summary tells the story; per-step logs only when asked (--log-level info).
        settings = open_settings(specs_dir, database_url, log_format, log_level or "warning")
        ok = run_demo(settings.specs, settings.database_url, echo=click.echo)
    if not ok:
        raise SystemExit(ExitCode.UNEXPECTED)
