"""Batch-job metrics pushed to a Prometheus Pushgateway at the end of a run.

A CronJob pod lives for minutes, so Prometheus cannot scrape it; instead `sync-runner run
--pushgateway URL` (or `SYNC_RUNNER_PUSHGATEWAY`) pushes that run's values as gauges:

- `syncrunner_last_run_timestamp_seconds`   when the run ended (pushed by every run)
- `syncrunner_last_success_timestamp_seconds` when the last successful run ended (pushed only
  by successful runs; alert on `time() - syncrunner_last_success_timestamp_seconds > 2 * interval`)
- `syncrunner_last_run_success`             1, or 0 when a job attempt failed
- `syncrunner_last_run_duration_seconds`
- `syncrunner_last_run_jobs{outcome, sync_type, supplier}`
- `syncrunner_last_run_records{outcome, sync_type, supplier}`
- `syncrunner_queue_jobs{state=due|running|waiting, sync_type, supplier}`,
  `syncrunner_queue_oldest_due_age_seconds{sync_type, supplier}` and
  `syncrunner_queue_oldest_waiting_age_seconds{sync_type, supplier}` (a job scheduled later:
  a retry, a rate-limit or budget deferral), as the run left the queue

`supplier` is the connector spec's name (`bigbuy`, `shopify`), never a user or account id, so
the number of series stays that of the specs. A job over all of a user's accounts counts its
records per account's spec and itself under `supplier=""` if it covered several.
- `syncrunner_jobs_waiting_for_budget`        pending jobs deferred until a budget reopens
- `syncrunner_budget_used{account,budget}`, `syncrunner_budget_limit{account,budget}`,
  `syncrunner_budget_window_seconds{account,budget}`,
  `syncrunner_budget_next_free_timestamp_seconds{account,budget}` (0 when a slot is free):
  the request budgets as the database held them when the run ended (`sync-runner budgets`);
  `account` is the account id: one series per account and budget, as `sync-runner budgets`

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
from typing import TYPE_CHECKING, Any

import click

from runner.errors import one_line

if TYPE_CHECKING:
    from runner.queue_depth import QueueDepth

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


Labels = tuple[str, str]  # (sync_type, supplier spec name)


@dataclass
class RunSummary:
    """What one run did, filled by the worker as jobs end.

    `jobs` and `records` are the run's totals by outcome; `labelled_jobs` and
    `labelled_records` the same per (sync type, supplier spec), which is what is pushed.
    `supplier_names` turns a job's account id into its spec name when the job has no
    result to read it from (see `account_spec_names`).
    """

    started_at: float = field(default_factory=time.time)  # epoch seconds
    finished_at: float | None = None
    success: bool = True  # no job attempt failed
    jobs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(JOB_OUTCOMES, 0))
    records: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECORD_OUTCOMES, 0))
    labelled_jobs: dict[Labels, dict[str, int]] = field(default_factory=dict)
    labelled_records: dict[Labels, dict[str, int]] = field(default_factory=dict)
    queue: list[QueueDepth] = field(default_factory=list)  # per (sync type, supplier)
    supplier_names: Callable[[str | None], str] = field(default=lambda _id: "", repr=False)
    budgets: list[Any] = field(default_factory=list)  # runner.budgets.BudgetUsage
    waiting_for_budget: int | None = None  # pending jobs deferred for a budget

    def count_job(
        self,
        outcome: str,
        counts: Mapping[str, Any] | None = None,
        *,
        sync_type: str = "",
        supplier: str = "",
    ) -> None:
        """Count one job that ended with `outcome`, and add its record counts."""
        if outcome not in JOB_OUTCOMES:
            raise ValueError(f"unknown job outcome {outcome!r} (one of {JOB_OUTCOMES})")
        self.jobs[outcome] += 1
        per_label = self.labelled_jobs.setdefault(
            (sync_type, supplier), dict.fromkeys(JOB_OUTCOMES, 0)
        )
        per_label[outcome] += 1
        if counts:
            self.add_records(counts, sync_type=sync_type, supplier=supplier)

    def count_outcome(self, outcome: Any) -> None:
        """A `Worker(on_job_end=[...])` hook: count the worker's `JobOutcome`, with the record
        counts of each account of its `result_data`, under that account's spec name."""
        result = outcome.result_data if isinstance(outcome.result_data, Mapping) else {}
        accounts = result.get("accounts")
        accounts = [a for a in accounts.values() if isinstance(a, Mapping)] if accounts else []
        specs = {str(a.get("connector") or "") for a in accounts}
        if len(specs) == 1:
            supplier = specs.pop()
        elif not specs:
            supplier = self.supplier_names(outcome.account_id)
        else:
            supplier = ""
        self.count_job(
            QUEUE_OUTCOMES[outcome.outcome], sync_type=outcome.sync_type, supplier=supplier
        )
        for account in accounts:
            totals = account.get("totals")
            if isinstance(totals, Mapping):
                self.add_records(
                    totals,
                    sync_type=outcome.sync_type,
                    supplier=str(account.get("connector") or ""),
                )

    def add_records(
        self, counts: Mapping[str, Any], *, sync_type: str = "", supplier: str = ""
    ) -> None:
        """Add the known record outcomes of a counts mapping; other keys are ignored."""
        per_label = self.labelled_records.setdefault(
            (sync_type, supplier), dict.fromkeys(RECORD_OUTCOMES, 0)
        )
        for outcome in RECORD_OUTCOMES:
            value = counts.get(outcome)
            if isinstance(value, int) and not isinstance(value, bool):
                self.records[outcome] += value
                per_label[outcome] += value

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


def account_spec_names(engine: Any) -> Callable[[str | None], str]:
    """A lookup from an account id (supplier or integration) to its spec name, cached; one
    small query per id not seen before. For the jobs that ended without a result."""
    from sqlalchemy import select, union_all

    from runner.db.engine import read_only
    from runner.db.tables import marketplace_integrations as mi
    from runner.db.tables import suppliers as s

    known: dict[str, str] = {}

    def name(account_id: str | None) -> str:
        if not account_id:
            return ""
        if account_id not in known:
            stmt = union_all(
                select(s.c.supplier_type).where(s.c.id == account_id),
                select(mi.c.platform).where(mi.c.id == account_id),
            )
            with engine.connect() as conn:
                known[account_id] = read_only(conn).execute(stmt).scalar() or ""
        return known[account_id]

    return name


def build_registry(summary: RunSummary):
    """A fresh registry holding the run's gauges (imported lazily: only runs that push pay
    for prometheus_client)."""
    from prometheus_client import CollectorRegistry, Gauge

    from runner.queue_depth import QueueDepth

    registry = CollectorRegistry()
    ended = summary.finished_at if summary.finished_at is not None else time.time()
    by = ("sync_type", "supplier")

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    gauge("syncrunner_last_run_timestamp_seconds", "When the last run ended.").set(ended)
    if summary.success:
        gauge(
            "syncrunner_last_success_timestamp_seconds", "When the last successful run ended."
        ).set(ended)
    gauge("syncrunner_last_run_success", "1 if no job attempt of the last run failed, else 0.").set(
        1 if summary.success else 0
    )
    gauge("syncrunner_last_run_duration_seconds", "How long the last run took.").set(
        summary.duration_seconds
    )
    jobs = gauge(
        "syncrunner_last_run_jobs", "Jobs the last run ended, by outcome.", ("outcome", *by)
    )
    # A family without samples may leave the previous push's series in place: a run that
    # ended no job pushes zeros under empty labels.
    empty_jobs = {("", ""): dict.fromkeys(JOB_OUTCOMES, 0)}
    for (sync_type, supplier), counts in sorted((summary.labelled_jobs or empty_jobs).items()):
        for outcome in JOB_OUTCOMES:
            jobs.labels(outcome, sync_type, supplier).set(counts[outcome])
    records = gauge(
        "syncrunner_last_run_records",
        "Records the last run handled, by outcome.",
        ("outcome", *by),
    )
    empty_records = {("", ""): dict.fromkeys(RECORD_OUTCOMES, 0)}
    for (sync_type, supplier), counts in sorted(
        (summary.labelled_records or empty_records).items()
    ):
        for outcome in RECORD_OUTCOMES:
            records.labels(outcome, sync_type, supplier).set(counts[outcome])
    depth = gauge("syncrunner_queue_jobs", "Live jobs as the run left the queue.", ("state", *by))
    age = gauge(
        "syncrunner_queue_oldest_due_age_seconds",
        "How long the oldest due job has waited, as the run left the queue.",
        by,
    )
    waited = gauge(
        "syncrunner_queue_oldest_waiting_age_seconds",
        "Age of the oldest pending job scheduled later (a retry, a rate-limit or budget "
        "deferral), as the run left the queue.",
        by,
    )
    for row in summary.queue or [QueueDepth("", "", 0, 0, 0.0)]:
        depth.labels("due", row.sync_type, row.supplier).set(row.due)
        depth.labels("running", row.sync_type, row.supplier).set(row.running)
        depth.labels("waiting", row.sync_type, row.supplier).set(row.waiting)
        age.labels(row.sync_type, row.supplier).set(row.oldest_due_age_seconds)
        waited.labels(row.sync_type, row.supplier).set(row.oldest_waiting_age_seconds)
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
            one_line(exc),
            extra={"event": "metrics.push_failed", "error": one_line(exc)},
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
