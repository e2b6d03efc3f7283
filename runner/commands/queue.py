"""Queue operations: `enqueue`, `jobs list|show|retry|cancel` and `stats`.

Thin wrappers over `runner.queue.Queue`; every listing also prints `--json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from runner.commands.common import (
    DATABASE_URL_OPTION,
    JSON_OPTION,
    account_option,
    cli_errors,
    open_database,
    open_settings,
    to_json,
    when,
)
from runner.commands.spec import SPECS_OPTION
from runner.config import Settings
from runner.db.tables import JOB_STATUSES
from runner.errors import ExitCode


def _queue(settings: Settings, *, writable: bool = False):
    from runner.queue import Queue

    return Queue(open_database(settings, writable=writable), settings.specs.runner.queue)


def parse_when(text: str, now: datetime) -> datetime:
    """`now`, `+15m` / `+2h` / `+90s` / `+1d`, or an ISO 8601 time (no zone means UTC)."""
    from runner.spec.build import parse_duration

    text = text.strip()
    if text == "now":
        return now
    if text.startswith("+"):
        try:
            return now + timedelta(seconds=parse_duration(text[1:]))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a time: use now, +15m, or 2025-06-01T03:00:00Z", param_hint="--at"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# enqueue


@click.command()
@click.option("--user", "user_id", required=True, help="The user (shop owner) id.")
@click.option("--type", "sync_type", required=True, help="Sync type, e.g. inventory_update.")
@account_option("The account the job runs for [default: all the user's active accounts].")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--at", "run_at", default=None, help="Not before: now, +15m, or ISO 8601 (UTC).")
@click.option("--dedupe-key", default=None, help="At most one pending/running job per key.")
@click.option(
    "--max-attempts", type=int, default=None, help="[default: queue.max_attempts in runner.yaml]"
)
@click.option("--metadata", "metadata_json", default=None, help="JSON object of job options.")
@click.option("--dry-run", is_flag=True, help="The job fetches and maps but writes nothing.")
@SPECS_OPTION
@DATABASE_URL_OPTION
def enqueue(
    user_id: str,
    sync_type: str,
    account_id: str | None,
    priority: int,
    run_at: str | None,
    dedupe_key: str | None,
    max_attempts: int | None,
    metadata_json: str | None,
    dry_run: bool,
    specs_dir: Path | None,
    database_url: str | None,
) -> None:
    """Put a job in the queue and print its id.

    With --dedupe-key, an existing pending or running job with that key is kept and its id
    printed instead (stderr says so). The sync type must be declared in sync_types.yaml
    (or have a registered handler).

    \b
    Examples:
      sync-runner enqueue --user u1 --type inventory_update
      sync-runner enqueue --user u1 --type supplier_api --account 3f2a... --priority 10
      sync-runner enqueue --user u1 --type price_update --at +30m --dedupe-key prices-u1
    """
    from runner.handlers import load_handlers, registered_types

    with cli_errors():
        settings = open_settings(specs_dir, database_url)
        load_handlers()
        known = set(settings.specs.sync_types) | set(registered_types())
        if sync_type not in known:
            raise click.BadParameter(
                f"unknown sync type {sync_type!r} (known: {', '.join(sorted(known))})",
                param_hint="--type",
            )
        metadata: dict[str, Any] = {}
        if metadata_json:
            try:
                metadata = json.loads(metadata_json)
            except json.JSONDecodeError as exc:
                raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
            if not isinstance(metadata, dict):
                raise click.BadParameter("must be a JSON object", param_hint="--metadata")
        if dry_run:
            metadata["dry_run"] = True
        queue = _queue(settings, writable=True)
        result = queue.enqueue(
            user_id,
            sync_type,
            account_id=account_id,
            priority=priority,
            run_at=parse_when(run_at, queue.clock.now()) if run_at else None,
            max_attempts=max_attempts,
            dedupe_key=dedupe_key,
            metadata=metadata,
        )
    if not result.created:
        click.echo(f"a job with dedupe key {dedupe_key!r} is already queued", err=True)
    click.echo(result.job_id)


# ---------------------------------------------------------------------------------------------
# jobs


@click.group()
def jobs() -> None:
    """List, show, retry or cancel jobs.

    \b
    Examples:
      sync-runner jobs list --status failed
      sync-runner jobs show 7c1f2a9e
      sync-runner jobs retry 7c1f2a9e
      sync-runner jobs cancel 7c1f2a9e
    """


def _last_error(job: dict[str, Any]) -> str:
    errors = job.get("errors") or []
    return f"{errors[-1]['type']}: {errors[-1]['message']}" if errors else ""


def _for_each(job_ids: Iterable[str], action: Callable[[str], str]) -> None:
    """Apply `action` to every job id and print its line; a QueueError is printed and the
    rest go on; exit 2 at the end if any failed."""
    from runner.queue import QueueError

    problems = 0
    for job_id in job_ids:
        try:
            click.echo(action(job_id))
        except QueueError as exc:
            problems += 1
            click.echo(f"error: {exc}", err=True)
    if problems:
        raise SystemExit(ExitCode.BAD_INPUT)


@jobs.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(JOB_STATUSES),
    help="Only jobs in this status (repeatable).",
)
@click.option("--user", "user_id", default=None, help="Only this user's jobs.")
@click.option("--type", "sync_type", default=None, help="Only this sync type.")
@account_option("Only the jobs of this account.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@JSON_OPTION
@SPECS_OPTION
@DATABASE_URL_OPTION
def list_jobs(
    statuses: tuple[str, ...],
    user_id: str | None,
    sync_type: str | None,
    account_id: str | None,
    limit: int,
    as_json: bool,
    specs_dir: Path | None,
    database_url: str | None,
) -> None:
    """List jobs, newest first.

    Ids are shortened to 8 characters; every command taking an id accepts such a prefix.

    \b
    Examples:
      sync-runner jobs list
      sync-runner jobs list --status failed --status cancelled --user u1
      sync-runner jobs list --type order_sync --limit 200 --json
    """
    with cli_errors():
        queue = _queue(open_settings(specs_dir, database_url))
        rows = queue.list(
            statuses=statuses,
            user_id=user_id,
            sync_type=sync_type,
            account_id=account_id,
            limit=limit,
        )
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo("no jobs")
        return
    header = ("ID", "STATUS", "TYPE", "USER", "ACCOUNT", "PRI", "TRIES", "SCHEDULED", "ENDED")
    table = [header] + [
        (
            r["id"][:8],
            r["status"],
            r["source_type"],
            r["user_id"],
            (r["supplier_id"] or "-")[:12],  # the column holds the job's account id
            str(r["priority"]),
            f"{r['attempts']}/{r['max_attempts']}",
            when(r["scheduled_at"]),
            when(r["completed_at"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for r, line in zip([None, *rows], table, strict=True):
        text = "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
        error = _last_error(r) if r and r["status"] in ("failed", "pending") else ""
        click.echo(f"{text}  {error[:60]}".rstrip())


@jobs.command("show")
@click.argument("job_id")
@JSON_OPTION
@SPECS_OPTION
@DATABASE_URL_OPTION
def show_job(job_id: str, as_json: bool, specs_dir: Path | None, database_url: str | None) -> None:
    """Show one job: every column, its errors (one per attempt) and its result.

    \b
    Examples:
      sync-runner jobs show 7c1f2a9e
      sync-runner jobs show 7c1f2a9e-0d4b-4a57-9a3e-1f0c2b9d8e77 --json
    """
    with cli_errors():
        queue = _queue(open_settings(specs_dir, database_url))
        job = queue.get(queue.find(job_id))
    if as_json:
        click.echo(to_json(job))
        return
    for key, value in job.items():
        if key in ("errors", "result_data", "metadata"):
            continue
        click.echo(f"{key:17} {when(value) if isinstance(value, datetime) else value}")
    click.echo(f"{'metadata':17} {json.dumps(job['metadata'] or {})}")
    errors = job["errors"] or []
    click.echo(f"errors ({len(errors)}):")
    for e in errors:
        click.echo(
            f"  attempt {e.get('attempt')} at {e.get('at')}: {e.get('type')}: {e.get('message')}"
        )
    click.echo("result_data:")
    click.echo("  " + to_json(job["result_data"]).replace("\n", "\n  "))


@jobs.command("retry")
@click.argument("job_ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Retry every failed job (with the filters).")
@click.option("--user", "user_id", default=None, help="With --all-failed: only this user.")
@click.option("--type", "sync_type", default=None, help="With --all-failed: only this type.")
@click.option(
    "--max-attempts", type=int, default=None, help="More attempts [default: queue.max_attempts]."
)
@SPECS_OPTION
@DATABASE_URL_OPTION
def retry_jobs(
    job_ids: tuple[str, ...],
    all_failed: bool,
    user_id: str | None,
    sync_type: str | None,
    max_attempts: int | None,
    specs_dir: Path | None,
    database_url: str | None,
) -> None:
    """Put failed (or cancelled) jobs back in the queue, due now.

    A retried job keeps its error history and gets --max-attempts more attempts.

    \b
    Examples:
      sync-runner jobs retry 7c1f2a9e
      sync-runner jobs retry --all-failed --type inventory_update
    """
    if not job_ids and not all_failed:
        raise click.UsageError("give job ids or --all-failed")
    with cli_errors():
        queue = _queue(open_settings(specs_dir, database_url), writable=True)
        ids = list(job_ids)
        if all_failed:
            ids += [
                r["id"]
                for r in queue.list(
                    statuses=["failed"], user_id=user_id, sync_type=sync_type, limit=100_000
                )
            ]

        def retry_one(given: str) -> str:
            job_id = queue.find(given)
            queue.retry(job_id, max_attempts)
            return f"{job_id}: pending again"

        _for_each(ids, retry_one)


@jobs.command("cancel")
@click.argument("job_ids", nargs=-1, required=True)
@SPECS_OPTION
@DATABASE_URL_OPTION
def cancel_jobs(job_ids: tuple[str, ...], specs_dir: Path | None, database_url: str | None) -> None:
    """Cancel pending or running jobs.

    A running job's worker notices at its next heartbeat, stops at its next checkpoint, and
    cannot overwrite the cancellation.

    \b
    Example:
      sync-runner jobs cancel 7c1f2a9e 0d4b4a57
    """
    with cli_errors():
        queue = _queue(open_settings(specs_dir, database_url), writable=True)

        def cancel_one(given: str) -> str:
            job_id = queue.find(given)
            return f"{job_id}: cancelled (was {queue.cancel(job_id)})"

        _for_each(job_ids, cancel_one)


# ---------------------------------------------------------------------------------------------
# stats


@click.command()
@click.option("--days", type=click.IntRange(1, 3650), default=7, show_default=True)
@JSON_OPTION
@SPECS_OPTION
@DATABASE_URL_OPTION
def stats(days: int, as_json: bool, specs_dir: Path | None, database_url: str | None) -> None:
    """Running jobs, then per-status counts and average durations of recent jobs.

    Counts cover jobs created in the last --days days; the duration is that of each job's
    last attempt (started to completed). Also shows how many pending jobs are due and the
    scheduled time of the oldest one (the queue's lag), and how many of the later ones wait
    for a supplier's request budget.

    \b
    Examples:
      sync-runner stats
      sync-runner stats --days 1 --json
    """
    with cli_errors():
        queue = _queue(open_settings(specs_dir, database_url))
        data = queue.stats(days)
    if as_json:
        click.echo(to_json(data))
        return
    click.echo(f"running jobs ({len(data['running'])}):")
    for r in data["running"]:
        click.echo(
            f"  {r['id'][:8]}  {r['source_type']:16} user {r['user_id']}  "
            f"account {r['supplier_id'] or '-'}  attempt {r['attempts']}/{r['max_attempts']}  "
            f"since {when(r['started_at'])}  lease until {when(r['lease_expires_at'])}  "
            f"by {r['locked_by']}"
        )
    click.echo(f"jobs created in the last {days} day(s):")
    click.echo(f"  {'STATUS':10} {'COUNT':>7} {'AVG SECONDS':>12}")
    for status, row in data["statuses"].items():
        avg = "-" if row["avg_duration_seconds"] is None else f"{row['avg_duration_seconds']:.1f}"
        click.echo(f"  {status:10} {row['count']:>7} {avg:>12}")
    click.echo(
        f"pending: {data['pending_due']} due now (oldest scheduled {when(data['oldest_due_at'])}),"
        f" {data['pending_later']} later ({data['pending_waiting_for_budget']} waiting for a "
        "budget: see `sync-runner budgets`)"
    )
