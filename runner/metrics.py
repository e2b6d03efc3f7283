"""Batch-job metrics pushed to a Prometheus Pushgateway at the end of a run.

A CronJob pod lives for minutes, so Prometheus cannot scrape it; instead `sync-runner run
--pushgateway URL` (or `SYNC_RUNNER_PUSHGATEWAY`) pushes that run's values as gauges:

- `syncrunner_last_run_timestamp_seconds`   when the run ended (pushed by every run)
- `syncrunner_last_success_timestamp_seconds` when the last successful run ended (pushed only
  by successful runs; alert on `time() - syncrunner_last_success_timestamp_seconds > 3 * interval`)
- `syncrunner_last_run_success`             1 or 0
- `syncrunner_last_run_duration_seconds`
- `syncrunner_last_run_jobs{outcome=completed|failed|retried|released}`
- `syncrunner_last_run_records{outcome=inserted|updated|unchanged|rejected}`
- `syncrunner_jobs_waiting_for_budget`        pending jobs deferred until a budget reopens
- `syncrunner_budget_used{account,budget}`, `syncrunner_budget_limit{account,budget}`,
  `syncrunner_budget_window_seconds{account,budget}`,
  `syncrunner_budget_next_free_timestamp_seconds{account,budget}` (0 when a slot is free):
  the request budgets as the database held them when the run ended (`sync-runner budgets`)

The push uses its own `CollectorRegistry` and `pushadd` semantics (HTTP POST), which replaces
only the metric names being pushed: a failed run leaves the last success timestamp alone. The
grouping key is `job="sync-runner"` and nothing else: a per-pod label would leave one stale
group behind per pod, forever. A failed push logs a warning and never fails the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import click

from runner.redact import redact

log = logging.getLogger("sync_runner.metrics")

PUSHGATEWAY_ENV = "SYNC_RUNNER_PUSHGATEWAY"
GROUPING_JOB = "sync-runner"
JOB_OUTCOMES = ("completed", "failed", "retried", "released")
RECORD_OUTCOMES = ("inserted", "updated", "unchanged", "rejected")
PUSH_TIMEOUT_SECONDS = 5.0
# The worker's job outcomes, as counted here: a deferral (the remote asked us to wait) will
# run again like a retry; a lost lease means another worker has the job now.
QUEUE_OUTCOMES = {
    "completed": "completed",
    "failed": "failed",
    "retry": "retried",
    "deferred": "retried",
    "released": "released",
    "lost": "released",
}


@dataclass
class RunSummary:
    """What one run did, filled by the worker as jobs end."""

    started_at: float = field(default_factory=time.time)  # epoch seconds
    finished_at: float | None = None
    success: bool = True  # the run itself went as designed (exit code 0)
    jobs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(JOB_OUTCOMES, 0))
    records: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECORD_OUTCOMES, 0))
    budgets: list[Any] = field(default_factory=list)  # runner.budgets.BudgetUsage
    waiting_for_budget: int | None = None  # pending jobs deferred for a budget

    def count_job(self, outcome: str, counts: Mapping[str, Any] | None = None) -> None:
        """Count one job that ended with `outcome`, and add its record counts."""
        if outcome not in JOB_OUTCOMES:
            raise ValueError(f"unknown job outcome {outcome!r} (one of {JOB_OUTCOMES})")
        self.jobs[outcome] += 1
        if counts:
            self.add_records(counts)

    def count_outcome(self, outcome: Any) -> None:
        """A `Worker(on_job_end=[...])` hook: count the worker's `JobOutcome`, with the record
        counts of its `result_data["totals"]`."""
        result = outcome.result_data if isinstance(outcome.result_data, Mapping) else {}
        totals = result.get("totals")
        self.count_job(
            QUEUE_OUTCOMES[outcome.outcome], totals if isinstance(totals, Mapping) else None
        )

    def add_records(self, counts: Mapping[str, Any]) -> None:
        """Add the known record outcomes of a counts mapping; other keys are ignored."""
        for outcome in RECORD_OUTCOMES:
            value = counts.get(outcome)
            if isinstance(value, int) and not isinstance(value, bool):
                self.records[outcome] += value

    def read_budgets(self, engine: Any) -> None:
        """The budgets and the jobs waiting for one, as the database holds them now."""
        from runner.budgets import budget_usage, jobs_waiting_for_budget
        from runner.clock import SystemClock

        now = SystemClock().now()
        self.budgets = budget_usage(engine, now)
        self.waiting_for_budget = jobs_waiting_for_budget(engine, now)

    def finish(self, *, success: bool, at: float | None = None) -> None:
        self.success = success
        self.finished_at = time.time() if at is None else at

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.time()
        return max(0.0, end - self.started_at)


def build_registry(summary: RunSummary):
    """A fresh registry holding the run's gauges (imported lazily: only runs that push pay
    for prometheus_client)."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    ended = summary.finished_at if summary.finished_at is not None else time.time()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    gauge("syncrunner_last_run_timestamp_seconds", "When the last run ended.").set(ended)
    if summary.success:
        gauge(
            "syncrunner_last_success_timestamp_seconds", "When the last successful run ended."
        ).set(ended)
    gauge("syncrunner_last_run_success", "1 if the last run went as designed, else 0.").set(
        1 if summary.success else 0
    )
    gauge("syncrunner_last_run_duration_seconds", "How long the last run took.").set(
        summary.duration_seconds
    )
    jobs = gauge("syncrunner_last_run_jobs", "Jobs the last run ended, by outcome.", ("outcome",))
    for outcome in JOB_OUTCOMES:
        jobs.labels(outcome=outcome).set(summary.jobs.get(outcome, 0))
    records = gauge(
        "syncrunner_last_run_records", "Records the last run handled, by outcome.", ("outcome",)
    )
    for outcome in RECORD_OUTCOMES:
        records.labels(outcome=outcome).set(summary.records.get(outcome, 0))
    if summary.waiting_for_budget is not None:
        gauge(
            "syncrunner_jobs_waiting_for_budget", "Pending jobs deferred for a request budget."
        ).set(summary.waiting_for_budget)
    if summary.budgets:
        labels = ("account", "budget")
        used = gauge("syncrunner_budget_used", "Requests of a budget in its window.", labels)
        limit = gauge("syncrunner_budget_limit", "Requests a budget allows per window.", labels)
        window = gauge("syncrunner_budget_window_seconds", "A budget's window.", labels)
        free = gauge(
            "syncrunner_budget_next_free_timestamp_seconds",
            "When a spent budget's next slot opens (0: one is free).",
            labels,
        )
        for usage in summary.budgets:
            key = {"account": usage.account_id, "budget": usage.budget}
            used.labels(**key).set(usage.used)
            limit.labels(**key).set(usage.limit)
            window.labels(**key).set(usage.window_seconds)
            free.labels(**key).set(usage.next_free.timestamp() if usage.next_free else 0)
    return registry


def push_run_metrics(
    url: str | None, summary: RunSummary, *, timeout: float = PUSH_TIMEOUT_SECONDS
) -> bool:
    """Push the run's gauges to the Pushgateway at `url` (no-op without one).

    Returns True when the push went through. Never raises: a failure is logged as a warning.
    """
    if not url:
        return False
    from prometheus_client import pushadd_to_gateway

    try:
        pushadd_to_gateway(url, job=GROUPING_JOB, registry=build_registry(summary), timeout=timeout)
    except Exception as exc:  # any failure of the push must leave the run alone
        log.warning(
            "could not push metrics to %s: %s",
            url,
            exc,
            extra={"event": "metrics.push_failed", "error": redact(str(exc))},
        )
        return False
    log.info("metrics pushed to %s", url, extra={"event": "metrics.pushed"})
    return True


def pushgateway_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Click decorator: add `--pushgateway URL` (env `SYNC_RUNNER_PUSHGATEWAY`); the command
    receives it as `pushgateway` and passes it to `push_run_metrics` at the end of the run."""
    return click.option(
        "--pushgateway",
        metavar="URL",
        envvar=PUSHGATEWAY_ENV,
        show_envvar=True,
        default=None,
        help="Push this run's metrics to a Prometheus Pushgateway, e.g. "
        "http://pushgateway.monitoring:9091 (a failed push only logs a warning).",
    )(command)
