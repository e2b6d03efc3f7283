"""The worker: enqueue due schedules, drain the queue, stop cleanly.

`sync-runner run` (the CronJob) calls `Worker.run()`:
1. enqueue the schedules of runner.yaml that are due (`enqueue_due_schedules`), idempotently;
2. claim and run jobs until none is claimable, or `max_jobs` jobs ran, or `max_runtime`
   seconds passed, or a stop signal. At `max_runtime` a running job is stopped as by
   SIGTERM (below), and handed back behind the other due jobs (`Queue.release(behind=
   True)`): a job that overruns every run must not keep the jobs queued after it waiting;
3. run maintenance (`runner.maintenance.run_maintenance`) unless disabled.

While a job runs, a lease keeper thread renews its lease every `min(heartbeat_seconds,
lease_seconds / 3)` seconds. If a renewal finds the job taken over or cancelled (fenced
out), or the lease runs out while the database cannot be reached, the job's
`ctx.checkpoint()` raises `JobInterrupted` and the worker drops the job.

SIGTERM (or SIGINT): stop claiming; the running job's next `checkpoint()` raises
`JobInterrupted` and the job goes back to `pending` with its attempt not charged. If the job
has not returned within `grace_seconds` (or at a second signal), the keeper hands the job
back itself and ends the process, so the pod exits within its termination grace period.

Why one module of this size: the claim loop, the lease keeper and the signal handling share
one job's state (its lease, its stop reason, the grace deadline); apart, each would need the
others' locks and flags.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from runner.clock import Clock, SystemClock
from runner.errors import (
    ExitCode,
    JobFailed,
    JobInterrupted,
    PermanentError,
    RetryLater,
    TransientError,
    is_transient,
    one_line,
)
from runner.handlers import Job, JobContext, get_handler, load_handlers
from runner.queue import Outcome, Queue
from runner.redact import secret_scope
from runner.schedules import enqueue_chained, enqueue_due_schedules, schedule_slot  # noqa: F401
from runner.spec.model import SpecSet

log = logging.getLogger("sync_runner.worker")


def new_worker_id() -> str:
    """Fresh per process run (never reused, unlike a pod name): `<host>-<uuid4>`."""
    return f"{socket.gethostname()[:20]}-{uuid.uuid4()}"


# ---------------------------------------------------------------------------------------------
# Stopping


class StopFlag:
    """Set by a signal (or a test) to make the worker stop; thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._force = threading.Event()
        self.reason: str | None = None
        self.signal_name: str | None = None  # SIGTERM or SIGINT, when a signal asked
        self.requested_at: float | None = None  # time.monotonic()

    def request(self, reason: str) -> None:
        if self._event.is_set():
            self._force.set()  # a second request: do not wait for the grace period
            return
        self.reason = reason
        self.requested_at = time.monotonic()
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def forced(self) -> bool:
        return self._force.is_set()


def install_signal_handlers(stop: StopFlag) -> Callable[[], None]:
    """SIGTERM and SIGINT request a stop (a second one forces it). Main thread only.

    Returns a function that puts the previous handlers back."""

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        log.warning(
            "%s received: stopping after handing the current job back",
            name,
            extra={"event": "worker.stopping"},
        )
        stop.signal_name = stop.signal_name or name
        stop.request(f"worker stopping ({name})")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    sync_type: str
    user_id: str
    account_id: str | None
    attempt: int
    outcome: Outcome  # completed | retry | failed | deferred | released | lost
    seconds: float
    message: str | None = None
    result_data: dict[str, Any] | None = None

    @property
    def is_error(self) -> bool:
        """The attempt ended in an error (what --fail-on-job-error counts)."""
        return self.outcome in ("failed", "retry")

    def as_dict(self) -> dict[str, Any]:
        """The job of `run --json` and `run-job --json`: every field, and the account id also
        under `supplier_id`, its key before it was named `account_id` (scripts read it)."""
        data: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name == "account_id":
                data["supplier_id"] = value
            data[name] = value
        return data


@dataclass
class RunReport:
    worker_id: str
    enqueued: list[str] = field(default_factory=list)  # job ids created by schedules
    outcomes: list[JobOutcome] = field(default_factory=list)
    stopped_by: str = "drained"  # drained | max_jobs | max_runtime | signal
    maintenance: dict[str, Any] | None = None

    @property
    def job_errors(self) -> int:
        return sum(o.is_error for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        return counts


@dataclass(frozen=True)
class WorkerOptions:
    offline: bool = False
    max_jobs: int | None = None
    max_runtime: float | None = None  # seconds
    grace_seconds: float = 25.0
    schedules: bool = True
    maintenance: bool = True


# ---------------------------------------------------------------------------------------------
# Running one job


class _LeaseKeeper(threading.Thread):
    """Renews a job's lease in the background; notices a lost lease and an expired grace."""

    def __init__(self, worker: Worker, job: Job) -> None:
        super().__init__(name=f"lease-{job.id[:8]}", daemon=True)
        self.worker = worker
        self.job = job
        self.lost: str | None = None
        self._done = threading.Event()
        spec = worker.queue.spec
        self.interval = max(min(spec.heartbeat_seconds, spec.lease_seconds / 3), 0.05)
        self._expires = job.lease_expires_at
        # Its log lines are redacted with the job's secrets: it runs in the job's context.
        self._context = contextvars.copy_context()

    def stop_reason(self) -> str | None:
        return self.worker.stop.reason if self.worker.stop.is_set() else self.lost

    def finish(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        self._context.run(self._keep)

    def _keep(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._done.wait(min(self.interval, 0.2)):
            worker = self.worker
            deadline = worker.deadline
            if deadline is not None and time.monotonic() >= deadline and not worker.stop.is_set():
                worker.overran = True
                worker.stop.request("the run's --max-runtime was reached")
            if self._grace_over():
                self._hand_back_and_exit()
            if self.lost or time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + self.interval
            try:
                expires = self.worker.queue.heartbeat(self.job)
            except Exception as exc:  # the database is away: keep trying while the lease lasts
                log.warning(
                    "job %s: heartbeat failed: %s",
                    self.job.id,
                    one_line(exc),
                    extra={"event": "job.heartbeat_failed", "job_id": self.job.id},
                )
                if self._expires and self.worker.queue.clock.now() >= self._expires:
                    self.lost = "the lease expired while the database was unreachable"
                continue
            if expires is None:
                self.lost = "the lease was lost (the job was taken over or cancelled)"
                log.warning(
                    "job %s: %s",
                    self.job.id,
                    self.lost,
                    extra={"event": "job.lease_lost", "job_id": self.job.id},
                )
            else:
                self._expires = expires

    def _grace_over(self) -> bool:
        stop = self.worker.stop
        if not stop.is_set():
            return False
        waited = time.monotonic() - (stop.requested_at or time.monotonic())
        return stop.forced or waited >= self.worker.options.grace_seconds

    def _hand_back_and_exit(self) -> None:
        try:
            released = self.worker.queue.release(self.job, behind=self.worker.overran)
        except Exception as exc:
            released = False
            log.error("job %s: could not hand the job back: %s", self.job.id, one_line(exc))
        log.warning(
            "job %s did not stop within %.0fs: %s; exiting now",
            self.job.id,
            self.worker.options.grace_seconds,
            "handed back to the queue" if released else "its lease will expire",
            extra={"event": "worker.forced_exit", "job_id": self.job.id},
        )
        logging.shutdown()
        os._exit(ExitCode.UNEXPECTED)


class _JobLog(logging.LoggerAdapter):
    """`ctx.log`: every record carries the job's fields, merged with the call's `extra`
    (a plain LoggerAdapter would drop the call's `extra`)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


class Worker:
    """Runs jobs from one queue. One job at a time; run several processes to scale out."""

    def __init__(
        self,
        engine: Engine,
        specs: SpecSet,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        options: WorkerOptions | None = None,
        stop: StopFlag | None = None,
        worker_id: str | None = None,
        on_job_end: Iterable[Callable[[JobOutcome], None]] = (),
    ) -> None:
        self.engine = engine
        self.specs = specs
        self.clock = clock or SystemClock()
        self.options = options or WorkerOptions()
        self.stop = stop or StopFlag()
        self.deadline: float | None = None  # time.monotonic() of --max-runtime, in run()
        self.overran = False  # the running job was stopped at the deadline
        self.worker_id = worker_id or new_worker_id()
        self.queue = Queue(engine, specs.runner.queue, self.clock, rng)
        self.on_job_end = list(on_job_end)
        load_handlers()

    def run(self) -> RunReport:
        """Schedules, then drain, then maintenance (see the module docstring)."""
        report = RunReport(self.worker_id)
        started = time.monotonic()
        if self.options.max_runtime is not None:
            self.deadline = started + self.options.max_runtime
        log.info(
            "worker %s started",
            self.worker_id,
            extra={"event": "run.started", "worker_id": self.worker_id},
        )
        if self.options.schedules:
            report.enqueued = enqueue_due_schedules(self.queue, self.specs)
        while True:
            if self.stop.is_set():
                report.stopped_by = "max_runtime" if self.overran else "signal"
                break
            if self.options.max_jobs is not None and len(report.outcomes) >= self.options.max_jobs:
                report.stopped_by = "max_jobs"
                break
            if (
                self.options.max_runtime is not None
                and time.monotonic() - started >= self.options.max_runtime
            ):
                report.stopped_by = "max_runtime"
                break
            job = self.queue.claim(self.worker_id)
            if job is None:
                break
            report.outcomes.append(self.process(job))
        if self.options.maintenance and not self.stop.is_set():
            report.maintenance = self._maintenance()
        counts = report.counts()
        log.info(
            "worker %s done (%s): %d job(s) %s",
            self.worker_id,
            report.stopped_by,
            len(report.outcomes),
            counts or "",
            extra={"event": "run.finished", "counts": counts},
        )
        return report

    def run_job(self, job_id: str, *, dry_run: bool = False) -> JobOutcome | None:
        """Claim and run one given job now (whatever its scheduled time); None if it cannot
        be claimed (see `Queue.claim`)."""
        job = self.queue.claim(self.worker_id, job_id=job_id)
        return None if job is None else self.process(job, dry_run=dry_run)

    def _maintenance(self) -> dict[str, Any] | None:
        try:
            module = importlib.import_module("runner.maintenance")
        except ModuleNotFoundError as exc:
            if exc.name != "runner.maintenance":
                raise
            return None
        return module.run_maintenance(self.engine, self.specs, self.clock)

    def process(self, job: Job, *, dry_run: bool = False) -> JobOutcome:
        """Run a claimed job's handler under a lease keeper and record how it ended, in the
        job's own secret scope: the credentials it resolves are redacted in its logs, errors
        and hooks, and forgotten once it has ended."""
        with secret_scope():
            return self._process(job, dry_run=dry_run)

    def _process(self, job: Job, *, dry_run: bool) -> JobOutcome:
        started = time.monotonic()
        fields = {
            "job_id": job.id,
            "user_id": job.user_id,
            "supplier": job.account_id,  # the log field's name is kept for log readers
            "sync_type": job.source_type,
        }
        if job.attempts > job.max_attempts:
            # The last allowed attempt's worker vanished; nothing is left to try.
            ok = self.queue.give_up(job)
            return self._ended(
                job,
                "failed" if ok else "lost",
                started,
                fields,
                "no attempts left after a lost attempt",
            )
        log.info(
            "job %s started: %s for user %s%s (attempt %d/%d)",
            job.id,
            job.source_type,
            job.user_id,
            f", supplier {job.account_id}" if job.account_id else "",  # a kept log format
            job.attempts,
            job.max_attempts,
            extra={"event": "job.started", **fields},
        )
        keeper = _LeaseKeeper(self, job)
        ctx = JobContext(
            job=job,
            engine=self.engine,
            specs=self.specs,
            offline=self.options.offline,
            dry_run=dry_run or bool(job.metadata.get("dry_run")),
            clock=self.clock,
            log=_JobLog(logging.getLogger("sync_runner.job"), fields),
            stop_reason=keeper.stop_reason,
        )
        keeper.start()
        try:
            outcome, message, result = self._run_handler(ctx)
        finally:
            keeper.finish()
        if ctx.dry_run and outcome == "completed":
            # A dry run changes nothing: the job goes back as it was.
            outcome = "released" if self.queue.release(job) else "lost"
            message = "dry run: nothing written, job handed back"
        return self._ended(job, outcome, started, fields, message, result)

    def _run_handler(self, ctx: JobContext) -> tuple[Outcome, str | None, dict | None]:
        job, queue = ctx.job, self.queue
        try:
            result = get_handler(job.source_type)(ctx)
        except RetryLater as exc:
            until = getattr(exc, "until", None)
            result = getattr(exc, "result_data", None)
            ok = queue.defer(job, exc.delay_seconds, one_line(exc), until=until, result_data=result)
            budget = getattr(exc, "budget", None)
            if ok and budget and until:
                log.info(
                    "⏸ job %s waits for %s until %s UTC",
                    job.id,
                    budget,
                    until.strftime("%H:%M"),
                    extra={"event": "job.waiting", "job_id": job.id, "budget": budget},
                )
            return ("deferred" if ok else "lost"), one_line(exc), result
        except JobInterrupted as exc:
            ok = queue.release(job, behind=self.overran)
            return ("released" if ok else "lost"), one_line(exc), None
        except JobFailed as exc:
            outcome = queue.fail(
                job,
                type_="JobFailed",
                message=one_line(exc),
                transient=exc.transient,
                result_data=exc.result_data,
                details=exc.errors,
            )
            return outcome, one_line(exc), exc.result_data
        except Exception as exc:
            transient = is_transient(exc)
            if not isinstance(exc, (TransientError, PermanentError)):
                log.debug("job %s: %s", job.id, "".join(traceback.format_exception(exc)))
            outcome = queue.fail(
                job, type_=type(exc).__name__, message=one_line(exc), transient=transient
            )
            return outcome, one_line(exc), None
        if ctx.dry_run:
            return "completed", None, result

        def chain(conn) -> None:
            enqueue_chained(conn, queue, self.specs, job, result)

        return ("completed" if queue.complete(job, result, chain) else "lost"), None, result

    def _timing(self, job: Job, outcome: Outcome, seconds: float) -> str:
        """` in 0.94s`; for a job that runs again, the delay until its next attempt."""
        if outcome not in ("retry", "deferred"):
            return f" in {seconds:.2f}s"
        try:
            when = self.queue.get(job.id)["scheduled_at"]
        except Exception:  # the line matters less than the run
            return f" after {seconds:.2f}s"
        delay = max((when - self.clock.now()).total_seconds(), 0.0)
        return f" after {seconds:.2f}s; next attempt in {delay:.0f}s (at {when:%H:%M:%S} UTC)"

    def _ended(
        self,
        job: Job,
        outcome: Outcome,
        started: float,
        fields: dict[str, Any],
        message: str | None,
        result: dict | None = None,
    ) -> JobOutcome:
        seconds = round(time.monotonic() - started, 3)
        done = JobOutcome(
            job.id,
            job.source_type,
            job.user_id,
            job.account_id,
            job.attempts,
            outcome,
            seconds,
            message,
            result,
        )
        level = logging.WARNING if done.is_error or outcome == "lost" else logging.INFO
        event = {"retry": "job.retry_scheduled", "failed": "job.failed"}.get(
            outcome, f"job.{outcome}"
        )
        counts = result if isinstance(result, dict) else None
        if counts is not None and isinstance(counts.get("totals"), dict):
            counts = counts["totals"]  # a sync's result_data: log its totals, not every step
        log.log(
            level,
            "job %s %s%s%s",
            job.id,
            outcome,
            self._timing(job, outcome, seconds),
            f": {message}" if message else "",
            extra={"event": event, "counts": counts, **fields},
        )
        for callback in self.on_job_end:
            try:
                callback(done)
            except Exception as exc:  # a hook must never break the run
                log.warning("job-end hook failed: %s", one_line(exc))
        return done
