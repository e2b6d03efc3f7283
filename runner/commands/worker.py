"""`sync-runner run` (the CronJob entry point) and `sync-runner run-job ID` (a one-off)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.commands.common import (
    DATABASE_URL_OPTION,
    JSON_OPTION,
    cli_errors,
    fail,
    open_database,
    open_settings,
    to_json,
)
from runner.commands.spec import SPECS_OPTION
from runner.errors import ExitCode
from runner.logs import log_options
from runner.metrics import pushgateway_option

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from runner.queue import Queue
    from runner.queue_depth import QueueDepth
    from runner.worker import JobOutcome, StopFlag, Worker

OFFLINE_OPTION = click.option(
    "--offline", is_flag=True, help="Use each mapping's mock records instead of the network."
)
FAIL_ON_JOB_ERROR_OPTION = click.option(
    "--fail-on-job-error",
    is_flag=True,
    help="Exit 1 if any job attempt ended in an error (failed, or scheduled for a retry).",
)
RUN_JOB_FAIL_OPTION = click.option(
    "--fail-on-job-error",
    is_flag=True,
    help="No effect, kept for old scripts: run-job always exits 1 when its job failed.",
)
GRACE_OPTION = click.option(
    "--grace-seconds",
    type=click.FloatRange(0),
    default=25.0,
    show_default=True,
    help="After SIGTERM (or --max-runtime), how long the current job may take to stop before "
    "the worker hands it back itself and exits (keep it below the pod's "
    "terminationGracePeriodSeconds).",
)


def _outcome_line(done: JobOutcome) -> str:
    supplier = f" supplier {done.account_id}" if done.account_id else ""  # a kept line format
    message = f": {done.message}" if done.message else ""
    return (
        f"{done.job_id[:8]} {done.sync_type} user {done.user_id}{supplier} "
        f"attempt {done.attempt}: {done.outcome} in {done.seconds:.2f}s{message}"
    )


@click.command()
@SPECS_OPTION
@DATABASE_URL_OPTION
@OFFLINE_OPTION
@click.option("--max-jobs", type=click.IntRange(1), default=None, help="Stop after N jobs.")
@click.option(
    "--max-runtime",
    type=click.FloatRange(0),
    default=None,
    metavar="SECONDS",
    help="A bound on the run: claim no new job after this many seconds, and stop the "
    "running one there (it is handed back, behind other due jobs, within --grace-seconds, "
    "even in the middle of a request).",
)
@FAIL_ON_JOB_ERROR_OPTION
@click.option("--no-maintenance", is_flag=True, help="Skip retention and scoring at the end.")
@click.option("--no-schedules", is_flag=True, help="Do not enqueue due schedules first.")
@GRACE_OPTION
@JSON_OPTION
@pushgateway_option
@log_options
def run(
    specs_dir: Path | None,
    database_url: str | None,
    offline: bool,
    max_jobs: int | None,
    max_runtime: float | None,
    fail_on_job_error: bool,
    no_maintenance: bool,
    no_schedules: bool,
    grace_seconds: float,
    as_json: bool,
    pushgateway: str | None,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Enqueue due schedules, drain the queue, run maintenance, exit.

    Jobs run one at a time, by priority then age, until none is claimable (the rest are
    scheduled later or wait for a busy key), --max-jobs ran, or --max-runtime passed.
    Several processes or pods may run at once: each job runs once at a time, and a job of a
    crashed worker is taken over when its lease expires. On SIGTERM the current job is
    handed back without charging an attempt and the worker exits.

    Exit codes: 0 the run went as designed (failed jobs are recorded in the queue), 1 with
    --fail-on-job-error when a job attempt failed, 2 bad specs or options, 3 database
    unreachable. With --pushgateway, `syncrunner_last_run_success` is 0 whenever a job
    attempt failed, whatever the exit code.

    \b
    Examples:
      sync-runner run                                  # the Kubernetes CronJob
      sync-runner run --max-runtime 780 --max-jobs 50  # bounded, for a 15-minute schedule
      sync-runner run --offline --no-maintenance       # mock records, no network
    """
    from runner.accounts import warn_missing_secrets
    from runner.metrics import RunSummary, account_spec_names, push_run_metrics
    from runner.notify import job_end_notifier
    from runner.sync.tuning import tune_for_streaming
    from runner.worker import StopFlag, Worker, WorkerOptions, install_signal_handlers

    summary = RunSummary()
    with cli_errors():
        settings = open_settings(specs_dir, database_url, log_format, log_level)
        engine = open_database(settings, writable=True)
        summary.supplier_names = account_spec_names(engine)
        if not offline:  # offline, every account runs on the mock and needs no secret
            warn_missing_secrets(engine, settings.specs)
        options = WorkerOptions(
            offline=offline,
            max_jobs=max_jobs,
            max_runtime=max_runtime,
            grace_seconds=grace_seconds,
            schedules=not no_schedules,
            maintenance=not no_maintenance,
        )
        stop = StopFlag()
        worker = Worker(engine, settings.specs, options=options, stop=stop)
        tune_for_streaming()  # once, for the whole process (runner.sync.tuning)
        worker.on_job_end += [
            summary.count_outcome,
            job_end_notifier(settings.specs.runner.webhooks),
        ]
        restore_signals = install_signal_handlers(stop)
        try:
            report = worker.run()
            if pushgateway:
                summary.queue = _queue_depths(engine, worker)
                summary.read_budgets(engine)
        finally:
            restore_signals()
            engine.dispose()
    failed_run = fail_on_job_error and report.job_errors > 0
    summary.finish(success=report.job_errors == 0)
    push_run_metrics(pushgateway, summary)
    if as_json:
        click.echo(
            to_json(
                {
                    "worker_id": report.worker_id,
                    "stopped_by": report.stopped_by,
                    "enqueued": report.enqueued,
                    "jobs": [o.as_dict() for o in report.outcomes],
                    "counts": report.counts(),
                    "maintenance": report.maintenance,
                }
            )
        )
    else:
        for done in report.outcomes:
            click.echo(_outcome_line(done))
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items())) or "no jobs"
        click.echo(
            f"run finished ({report.stopped_by}): {counts}; "
            f"{len(report.enqueued)} scheduled job(s) enqueued"
        )
    _exit_if_interrupted(stop, any(o.outcome == "released" for o in report.outcomes))
    if failed_run:
        raise SystemExit(ExitCode.UNEXPECTED)


@click.command("run-job")
@click.argument("job_id")
@SPECS_OPTION
@DATABASE_URL_OPTION
@OFFLINE_OPTION
@click.option("--dry-run", is_flag=True, help="Fetch and map, write nothing, hand the job back.")
@RUN_JOB_FAIL_OPTION
@GRACE_OPTION
@JSON_OPTION
@log_options
def run_job(
    job_id: str,
    specs_dir: Path | None,
    database_url: str | None,
    offline: bool,
    dry_run: bool,
    fail_on_job_error: bool,
    grace_seconds: float,
    as_json: bool,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Run one given job now, whatever its scheduled time, then exit.

    The job must be pending (its key free) or running with an expired lease. A failed or
    cancelled job runs again after `sync-runner jobs retry ID`. With --dry-run the job
    writes nothing and goes back to the queue unchanged; the result shows what would change.
    No schedules, no maintenance.

    Exit codes: 0 the job completed (or was deferred or handed back), 1 the attempt failed
    (the job failed, or is scheduled for a retry), 2 unknown or unclaimable job, bad specs or
    options, 3 database unreachable. So `kubectl wait --for=condition=complete` on a
    k8s/run-job Job fails when the sync failed.

    \b
    Examples:
      sync-runner run-job 7c1f2a9e-0d4b-4a57-9a3e-1f0c2b9d8e77
      docker run IMAGE run-job 7c1f2a9e --dry-run
    """
    from runner.notify import job_end_notifier
    from runner.sync.tuning import tune_for_streaming
    from runner.worker import StopFlag, Worker, WorkerOptions, install_signal_handlers

    del fail_on_job_error  # no effect: a failed job always exits 1
    with cli_errors():
        settings = open_settings(specs_dir, database_url, log_format, log_level)
        engine = open_database(settings, writable=True)
        stop = StopFlag()
        restore_signals = install_signal_handlers(stop)
        try:
            options = WorkerOptions(
                offline=offline, grace_seconds=grace_seconds, schedules=False, maintenance=False
            )
            worker = Worker(engine, settings.specs, options=options, stop=stop)
            tune_for_streaming()  # once, for the whole process (runner.sync.tuning)
            worker.on_job_end.append(job_end_notifier(settings.specs.runner.webhooks))
            full_id = worker.queue.find(job_id)
            done = worker.run_job(full_id, dry_run=dry_run)
            if done is None:
                raise fail(_why_not_claimable(worker.queue, full_id), ExitCode.BAD_INPUT)
        finally:
            restore_signals()
            engine.dispose()
    if as_json:
        click.echo(to_json(done.as_dict()))
    else:
        click.echo(_outcome_line(done))
        if done.result_data is not None:
            click.echo(to_json(done.result_data))
    _exit_if_interrupted(stop, done.outcome == "released")
    if done.is_error:
        raise SystemExit(ExitCode.UNEXPECTED)


def _exit_if_interrupted(stop: StopFlag, handed_back: bool) -> None:
    """Ctrl-C (SIGINT) ends the command with one line and exit 130; SIGTERM (Kubernetes
    stopping the pod) keeps exit 0: the job is back in the queue either way."""
    if stop.signal_name == "SIGINT":
        click.echo("interrupted, job handed back" if handed_back else "interrupted", err=True)
        raise SystemExit(ExitCode.INTERRUPTED)


def _queue_depths(engine: Engine, worker: Worker) -> list[QueueDepth]:
    """The queue gauges, as the run leaves the queue (only when metrics are pushed)."""
    from runner.queue_depth import queue_depths

    return queue_depths(engine, worker.clock.now())


def _why_not_claimable(queue: Queue, job_id: str) -> str:
    job: dict[str, Any] = queue.get(job_id)
    status = job["status"]
    if status in ("failed", "cancelled"):
        return f"job {job_id} is {status}: run `sync-runner jobs retry {job_id[:8]}` first"
    if status == "completed":
        return f"job {job_id} is already completed"
    if status == "running":
        return (
            f"job {job_id} is running on {job['locked_by']} "
            f"(lease until {job['lease_expires_at']:%Y-%m-%d %H:%M:%S} UTC)"
        )
    return f"job {job_id} waits: another job with key {job['concurrency_key']!r} is running"
