"""The job state machine over `import_jobs`: enqueue, claim, heartbeat, finish, retry.

    pending ──claim──► running ──complete──► completed
       ▲  ▲               │ ├──fail (permanent, or out of attempts)──► failed ──retry──► pending
       │  └─retry/defer/──┘ └──cancel──► cancelled ──retry──► pending
       │    release
       └── a running job whose lease expired is claimed again (the claim recovers it)

Rules (see docs/operations.md, "Queue semantics"):
- Delivery is at least once; handlers' effects are idempotent upserts.
- The claim is one statement: due `pending` jobs and `running` jobs whose lease expired, by
  priority (higher first), then scheduled time, then age. Postgres uses `FOR UPDATE SKIP
  LOCKED`; SQLite runs it inside `BEGIN IMMEDIATE` (see runner.db.engine). It charges the
  attempt (`attempts + 1`) and sets the lease for a worker id that is fresh per process run.
- At most one `running` job per `concurrency_key` (user|sync type|account) and at most one
  `pending`/`running` job per `dedupe_key`: both are partial unique indexes.
- Every write by the worker that holds a job is fenced on (id, locked_by, attempts, status
  running). When the lease was lost and the job was taken over (or cancelled), the fenced
  write changes nothing, returns False and is logged: a zombie cannot overwrite a result.
- `attempts` counts charged attempts over the job's life. Every charged attempt that ends in
  an error leaves one entry in `errors` ({attempt, at, type, message, ...}); an attempt whose
  worker vanished is recorded as `LeaseExpired` when the job next finishes. Deferrals
  (`RetryLater`) and releases (SIGTERM) give the attempt back.

Why one module of this size: every transition of the state machine above shares the claim's
ordering, the lease rules and the row-to-`Job` conversion; split, one file would hold the
statements and another the rules that make them safe together.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    exists,
    func,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from runner.clock import Clock, SystemClock
from runner.db.engine import read_only
from runner.db.tables import FINISHED_STATUSES, import_jobs
from runner.errors import ExitCode, SyncRunnerError
from runner.handlers import Job
from runner.jsonsafe import json_safe
from runner.spec.model import BackoffSpec, QueueSpec

log = logging.getLogger("sync_runner.queue")

ACTIVE_STATUSES = ("pending", "running")
MAX_ERRORS_KEPT = 100  # the oldest entries are dropped beyond this
CLAIM_CONFLICT_RETRIES = 10

Outcome = Literal["completed", "retry", "failed", "deferred", "released", "lost"]


class QueueError(SyncRunnerError):
    """A queue request that cannot be done as asked (bad state, bad value). Exit 2."""

    exit_code = ExitCode.BAD_INPUT


class JobNotFound(QueueError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    created: bool  # False: an active job with the same dedupe key already existed


def concurrency_key(user_id: str, sync_type: str, account_id: str | None) -> str:
    """At most one job runs at a time per key: `user|sync type|account` ('-' for none)."""
    return f"{user_id}|{sync_type}|{account_id or '-'}"


def backoff_seconds(attempt: int, spec: BackoffSpec, rng: random.Random) -> float:
    """Delay before running again after failed attempt number `attempt` (1-based).

    `base * 2**(attempt-1)`, capped at `max_seconds`, then reduced by up to `jitter` (a
    fraction) at random, so the result never exceeds the cap and retries spread out.
    """
    exponent = min(max(attempt - 1, 0), 60)
    delay = min(spec.base_seconds * 2.0**exponent, spec.max_seconds)
    return delay * (1.0 - spec.jitter * rng.random())


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def error_entry(
    attempt: int, at: datetime, type_: str, message: str, **extra: Any
) -> dict[str, Any]:
    """One `import_jobs.errors` item: {attempt, at, type, message, ...extra}."""
    entry = {"attempt": attempt, "at": _iso(at), "type": type_, "message": message}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def kept_errors(job: Job, *entries: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's error history with `entries` appended, capped to the newest
    MAX_ERRORS_KEPT: the one place the cap is applied."""
    return [*job.errors, *entries][-MAX_ERRORS_KEPT:]


def _insert(conn: Connection):
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(import_jobs)


class Queue:
    """The queue over one database. Thread-safe (every method uses its own transaction)."""

    def __init__(
        self,
        engine: Engine,
        spec: QueueSpec | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.spec = spec or QueueSpec()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()

    # -----------------------------------------------------------------------------------------
    # Enqueue

    def new_row(
        self,
        user_id: str,
        sync_type: str,
        *,
        account_id: str | None = None,
        priority: int = 0,
        run_at: datetime | None = None,
        max_attempts: int | None = None,
        dedupe_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The values of a new pending job (checked; see `enqueue`)."""
        _check_length("user", user_id, 64)
        _check_length("sync type", sync_type, 32)
        if account_id is not None:
            _check_length("account", account_id, 36)
        if dedupe_key is not None:
            _check_length("dedupe key", dedupe_key, 255)
        max_attempts = self.spec.max_attempts if max_attempts is None else max_attempts
        if max_attempts < 1:
            raise QueueError(f"max attempts must be at least 1, got {max_attempts}")
        if run_at is not None and run_at.tzinfo is None:
            raise QueueError("the run time needs a timezone (UTC)")
        now = self.clock.now()
        return {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "source_type": sync_type,
            "supplier_id": account_id,  # Job.account_id is the column import_jobs.supplier_id
            "status": "pending",
            "priority": priority,
            "scheduled_at": run_at or now,
            "attempts": 0,
            "max_attempts": max_attempts,
            "dedupe_key": dedupe_key,
            "concurrency_key": concurrency_key(user_id, sync_type, account_id),
            "created_at": now,
            "updated_at": now,
            "errors": [],
            "metadata": json_safe(metadata or {}),
        }

    def enqueue(self, user_id: str, sync_type: str, **options: Any) -> Enqueued:
        """Add a pending job; options as in `new_row` (account_id, priority, run_at,
        max_attempts, dedupe_key, metadata).

        With a `dedupe_key`, at most one pending or running job exists per key: when one
        does, nothing is inserted and that job's id is returned with `created=False`.
        """
        row = self.new_row(user_id, sync_type, **options)
        for _ in range(3):
            with self.engine.begin() as conn:
                stmt = _insert(conn).values(row).on_conflict_do_nothing()
                if conn.execute(stmt.returning(import_jobs.c.id)).first():
                    return Enqueued(row["id"], True)
                existing = conn.execute(
                    select(import_jobs.c.id).where(
                        import_jobs.c.dedupe_key == row["dedupe_key"],
                        import_jobs.c.status.in_(ACTIVE_STATUSES),
                    )
                ).first()
            if existing:
                return Enqueued(existing.id, False)
            # The holder of the key finished in between: try again.
        raise QueueError(f"could not enqueue: dedupe key {row['dedupe_key']!r} keeps changing")

    def enqueue_rows(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Insert many `new_row()`s in one statement per 500; skip rows whose dedupe key is
        active. Returns the ids inserted. Runs in the caller's transaction."""
        created: list[str] = []
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            stmt = _insert(conn).values(list(chunk)).on_conflict_do_nothing()
            created += [r.id for r in conn.execute(stmt.returning(import_jobs.c.id))]
        return created

    def enqueue_once(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[str]:
        """`enqueue_rows` for jobs that must run once (schedules, chained pushes): a row is
        skipped when any job, in any status, ever had its dedupe key, or when its
        concurrency key has a pending job (a backlog does not pile up). Runs in the caller's
        transaction; returns the ids inserted."""
        keys = [row["dedupe_key"] for row in rows if row["dedupe_key"] is not None]
        taken: set[str] = set()
        for start in range(0, len(keys), 500):
            taken |= set(
                conn.scalars(
                    select(import_jobs.c.dedupe_key).where(
                        import_jobs.c.dedupe_key.in_(keys[start : start + 500])
                    )
                )
            )
        waiting: set[str] = set()
        for sync_type in {row["source_type"] for row in rows}:
            waiting |= set(
                conn.scalars(
                    select(import_jobs.c.concurrency_key).where(
                        import_jobs.c.status == "pending",
                        import_jobs.c.source_type == sync_type,
                    )
                )
            )
        fresh = [
            row
            for row in rows
            if row["dedupe_key"] not in taken and row["concurrency_key"] not in waiting
        ]
        return self.enqueue_rows(conn, fresh)

    # -----------------------------------------------------------------------------------------
    # Claim

    def claim(self, worker_id: str, job_id: str | None = None) -> Job | None:
        """Take the next job (or the given one) for `worker_id`; None when there is none.

        Without `job_id`: the best due pending job whose key is free, or a running job whose
        lease expired. With `job_id` (`run-job`): that job if it is pending (whatever its
        scheduled time) with a free key, or running with an expired lease.
        """
        for _ in range(CLAIM_CONFLICT_RETRIES):
            try:
                with self._bookkeeping() as conn:
                    row = conn.execute(*self._claim_statement(conn, worker_id, job_id)).first()
            except IntegrityError as exc:
                # Postgres only: another worker claimed a job with the same concurrency key
                # while we picked ours (SKIP LOCKED cannot see uncommitted claims). Retry;
                # the next snapshot sees its running row and skips the key.
                if "uq_import_jobs_running_key" not in str(exc.orig):
                    raise
                continue
            return Job.from_row(row) if row is not None else None
        log.warning("claim gave up after %d key conflicts", CLAIM_CONFLICT_RETRIES)
        return None

    @contextlib.contextmanager
    def _bookkeeping(self) -> Iterator[Connection]:
        """A transaction of the queue's own bookkeeping: claim, heartbeat, finish.

        On Postgres it commits without waiting for its WAL record to reach the disk
        (`synchronous_commit` off for this transaction only). Only a crash of the database
        server can lose such a commit, the last fraction of a second of them, and what it
        loses the queue already recovers from: a lost claim or finish leaves the job pending
        or leased, and it runs again (at least once; the syncs are idempotent). The flush
        was the one step two workers wait for in turn: with it, two workers did 1.45x the
        jobs of one; without, 2.3x (no-op jobs, benchmarks/sync_bench.py). Enqueues and the
        jobs' own writes stay synchronous, and any of them flushes the records before it.
        """
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield conn

    def _claim_statement(
        self, conn: Connection, worker_id: str, job_id: str | None
    ) -> tuple[Any, dict[str, Any]]:
        """The claim and its parameters. The statement is built once per dialect and kind
        (its values are bound parameters): a claim costs no statement construction."""
        stmt = _claim_statement(
            postgres=conn.dialect.name == "postgresql", by_id=job_id is not None
        )
        now = self.clock.now()
        params = {
            "claim_now": now,
            "lease_until": now + timedelta(seconds=self.spec.lease_seconds),
            "worker_id": worker_id,
        }
        if job_id is not None:
            params["job_id"] = job_id
        return stmt, params

    # -----------------------------------------------------------------------------------------
    # While running

    def _fenced_update(self, conn: Connection, job: Job, values: dict[str, Any]) -> bool:
        """UPDATE the job's row with `values` if this worker still holds this attempt of it
        (running, locked by it, same attempt): the fence. True if the row was updated."""
        params = {f"set_{name}": value for name, value in values.items()}
        params.update(fence_id=job.id, fence_worker=job.locked_by, fence_attempts=job.attempts)
        stmt = _fenced_update_statement(tuple(sorted(values)))
        return conn.execute(stmt, params).rowcount == 1

    def heartbeat(self, job: Job) -> datetime | None:
        """Renew the lease; return its new expiry, or None if this worker lost the job."""
        now = self.clock.now()
        expires = now + timedelta(seconds=self.spec.lease_seconds)
        with self._bookkeeping() as conn:
            held = self._fenced_update(
                conn, job, {"lease_expires_at": expires, "heartbeat_at": now}
            )
        return expires if held else None

    def _finish(
        self,
        job: Job,
        outcome: Outcome,
        values: dict[str, Any],
        then: Callable[[Connection], Any] | None = None,
    ) -> bool:
        now = self.clock.now()
        values = {"updated_at": now, **values}
        with self._bookkeeping() as conn:
            if self._fenced_update(conn, job, values):
                if then is not None:
                    then(conn)
                return True
            holder = conn.execute(
                select(import_jobs.c.status, import_jobs.c.locked_by, import_jobs.c.attempts).where(
                    import_jobs.c.id == job.id
                )
            ).first()
        now_held = (
            f"{holder.status}, attempt {holder.attempts}, worker {holder.locked_by}"
            if holder
            else "deleted"
        )
        log.warning(
            "job %s: %s of attempt %d by %s ignored: the lease was lost (job is now %s)",
            job.id,
            outcome,
            job.attempts,
            job.locked_by,
            now_held,
        )
        return False

    def _errors_with(self, job: Job, *entries: dict[str, Any]) -> list[dict[str, Any]]:
        """The job's errors, plus entries for attempts lost to a vanished worker, plus
        `entries`; capped to the newest MAX_ERRORS_KEPT."""
        now = self.clock.now()
        recorded = {e.get("attempt") for e in job.errors if e.get("charged", True)}
        lost = [
            error_entry(
                attempt,
                now,
                "LeaseExpired",
                f"attempt {attempt} was lost: its worker stopped renewing the lease",
            )
            for attempt in range(1, job.attempts)
            if attempt not in recorded
        ]
        return kept_errors(job, *lost, *entries)

    def complete(
        self,
        job: Job,
        result_data: dict[str, Any] | None,
        then: Callable[[Connection], Any] | None = None,
    ) -> bool:
        """Mark the job completed with its result. False (and a log line) if fenced out.

        `then(conn)` runs in the completion's transaction once the job is marked (the
        chained pushes of `runner.schedules`): both are kept or neither is."""
        now = self.clock.now()
        return self._finish(
            job,
            "completed",
            {
                "status": "completed",
                "completed_at": now,
                "lease_expires_at": None,
                "checkpoint": None,  # nothing left to resume
                "result_data": json_safe(result_data or {}),
                "errors": self._errors_with(job),
            },
            then,
        )

    def fail(
        self,
        job: Job,
        *,
        type_: str,
        message: str,
        transient: bool,
        result_data: dict[str, Any] | None = None,
        details: Any = None,
    ) -> Outcome:
        """Record a failed attempt. A transient error with attempts left goes back to
        pending after the backoff delay ("retry"); otherwise the job is "failed".
        Returns "lost" if fenced out."""
        now = self.clock.now()
        values: dict[str, Any] = {"lease_expires_at": None}
        if result_data is not None:
            values["result_data"] = json_safe(result_data)
        extra: dict[str, Any] = {"details": json_safe(details)}
        if transient and job.attempts < job.max_attempts:
            outcome: Outcome = "retry"
            retry_at = now + timedelta(
                seconds=backoff_seconds(job.attempts, self.spec.backoff, self.rng)
            )
            values.update(status="pending", scheduled_at=retry_at, locked_by=None)
            extra["retry_at"] = _iso(retry_at)
        else:
            outcome = "failed"
            values.update(status="failed", completed_at=now)
        values["errors"] = self._errors_with(
            job, error_entry(job.attempts, now, type_, message, **extra)
        )
        return outcome if self._finish(job, outcome, values) else "lost"

    def defer(
        self,
        job: Job,
        delay_seconds: float,
        message: str,
        *,
        until: datetime | None = None,
        result_data: dict[str, Any] | None = None,
    ) -> bool:
        """Put the job back to pending for `delay_seconds` (or `until` that moment) without
        charging the attempt (the remote asked us to wait: Retry-After, a rate-limit reset,
        a spent budget). `result_data`: what the job did so far, and what it waits for."""
        now = self.clock.now()
        retry_at = until or now + timedelta(seconds=max(delay_seconds, 0.0))
        entry = error_entry(
            job.attempts, now, "RetryLater", message, retry_at=_iso(retry_at), charged=False
        )
        values = {
            "status": "pending",
            "attempts": job.attempts - 1,
            "scheduled_at": retry_at,
            "locked_by": None,
            "lease_expires_at": None,
            "errors": kept_errors(job, entry),
        }
        if result_data is not None:
            values["result_data"] = json_safe(result_data)
        return self._finish(job, "deferred", values)

    def release(self, job: Job, *, behind: bool = False) -> bool:
        """Hand the job back (worker stopping): pending, due at once, attempt not charged.

        `behind`: the job overran its run (`--max-runtime`), so it is due from now on, behind
        every job already due at the same priority (the claim takes the oldest
        `scheduled_at` first), instead of being claimed first again by the next run."""
        values: dict[str, Any] = {
            "status": "pending",
            "attempts": job.attempts - 1,
            "locked_by": None,
            "lease_expires_at": None,
        }
        if behind:
            values["scheduled_at"] = self.clock.now()
        return self._finish(job, "released", values)

    def give_up(self, job: Job) -> bool:
        """Fail a job that was claimed back with no attempt left (its last attempt's worker
        vanished): the phantom attempt is not counted, the lost one is recorded."""
        return self._finish(
            job,
            "failed",
            {
                "status": "failed",
                "attempts": job.attempts - 1,
                "completed_at": self.clock.now(),
                "lease_expires_at": None,
                "errors": self._errors_with(job),
            },
        )

    # -----------------------------------------------------------------------------------------
    # Operator actions

    def cancel(self, job_id: str) -> str:
        """Cancel a pending or running job; returns the status it had.

        A running job's worker notices at its next heartbeat (its fenced writes change
        nothing from then on) and stops at its next checkpoint.
        """
        for _ in range(3):
            job = self._get_job(job_id)
            if job.status in FINISHED_STATUSES:
                raise QueueError(f"job {job_id} is already {job.status}")
            now = self.clock.now()
            entry = error_entry(
                job.attempts,
                now,
                "Cancelled",
                "cancelled by an operator",
                charged=job.status == "running",
            )
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(import_jobs)
                    .where(
                        import_jobs.c.id == job_id,
                        import_jobs.c.status == job.status,
                        import_jobs.c.attempts == job.attempts,
                    )
                    .values(
                        status="cancelled",
                        completed_at=now,
                        updated_at=now,
                        lease_expires_at=None,
                        errors=kept_errors(job, entry),
                    )
                )
            if result.rowcount == 1:
                return job.status
        raise QueueError(f"job {job_id} keeps changing; try again")

    def retry(self, job_id: str, max_attempts: int | None = None) -> None:
        """Put a failed or cancelled job back to pending, due now, with `max_attempts`
        (default: queue.max_attempts) more attempts. Its error history is kept."""
        job = self._get_job(job_id)
        if job.status not in ("failed", "cancelled"):
            raise QueueError(f"job {job_id} is {job.status}: only failed or cancelled jobs retry")
        more = self.spec.max_attempts if max_attempts is None else max_attempts
        if more < 1:
            raise QueueError(f"max attempts must be at least 1, got {more}")
        now = self.clock.now()
        entry = error_entry(
            job.attempts, now, "Retried", "put back in the queue by an operator", charged=False
        )
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(import_jobs)
                    .where(import_jobs.c.id == job_id, import_jobs.c.status == job.status)
                    .values(
                        status="pending",
                        scheduled_at=now,
                        max_attempts=job.attempts + more,
                        locked_by=None,
                        lease_expires_at=None,
                        completed_at=None,
                        updated_at=now,
                        errors=kept_errors(job, entry),
                    )
                )
        except IntegrityError:
            raise QueueError(
                f"job {job_id}: another pending or running job has its dedupe key "
                f"{job.dedupe_key!r}"
            ) from None
        if result.rowcount != 1:
            raise QueueError(f"job {job_id} changed meanwhile; try again")

    # -----------------------------------------------------------------------------------------
    # Reads

    def _row(self, job_id: str):
        with self.engine.connect() as conn:
            read_only(conn)
            row = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(job_id)
        return row

    def _get_job(self, job_id: str) -> Job:
        return Job.from_row(self._row(job_id))

    def get(self, job_id: str) -> dict[str, Any]:
        """Every column of one job; raises JobNotFound."""
        return dict(self._row(job_id)._mapping)

    def find(self, id_prefix: str) -> str:
        """The full id of the one job whose id starts with `id_prefix` (as `jobs list`
        shows them shortened). Raises JobNotFound, or QueueError when ambiguous."""
        if len(id_prefix) == 36:
            return id_prefix
        with self.engine.connect() as conn:
            read_only(conn)
            ids = conn.scalars(
                select(import_jobs.c.id).where(import_jobs.c.id.startswith(id_prefix)).limit(2)
            ).all()
        if not ids:
            raise JobNotFound(id_prefix)
        if len(ids) > 1:
            raise QueueError(f"job id prefix {id_prefix!r} is ambiguous: give more characters")
        return ids[0]

    def list(
        self,
        *,
        statuses: Iterable[str] = (),
        user_id: str | None = None,
        sync_type: str | None = None,
        account_id: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Jobs, newest first, filtered; each a dict of every column."""
        stmt = select(import_jobs).order_by(
            import_jobs.c.created_at.desc(), import_jobs.c.id.desc()
        )
        statuses = list(statuses)
        if statuses:
            stmt = stmt.where(import_jobs.c.status.in_(statuses))
        if user_id is not None:
            stmt = stmt.where(import_jobs.c.user_id == user_id)
        if sync_type is not None:
            stmt = stmt.where(import_jobs.c.source_type == sync_type)
        if account_id is not None:
            stmt = stmt.where(import_jobs.c.supplier_id == account_id)
        with self.engine.connect() as conn:
            read_only(conn)
            return [dict(r._mapping) for r in conn.execute(stmt.limit(limit))]

    def stats(self, days: int = 7) -> dict[str, Any]:
        """What the monitoring SQL of the old system answered, and a little more.

        - `running`: the running jobs (who holds them, since when, lease expiry);
        - `statuses`: per status, the number of jobs created in the last `days` days and
          the average duration of their last attempt (started_at to completed_at);
        - `pending_due` / `pending_later`: pending jobs due now / scheduled later, and
          `oldest_due_at`, the scheduled time of the oldest due job (queue lag);
        - `pending_waiting_for_budget`: of the later ones, those deferred for a budget.
        """
        from runner.budgets import jobs_waiting_for_budget

        now = self.clock.now()
        since = now - timedelta(days=days)
        j = import_jobs.c
        if self.engine.dialect.name == "postgresql":
            seconds = func.extract("epoch", j.completed_at - j.started_at)
        else:
            seconds = (func.julianday(j.completed_at) - func.julianday(j.started_at)) * 86400.0
        duration = case((and_(j.completed_at.is_not(None), j.started_at.is_not(None)), seconds))
        with self.engine.connect() as conn:
            read_only(conn)
            running = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        j.id,
                        j.user_id,
                        j.source_type,
                        j.supplier_id,
                        j.attempts,
                        j.max_attempts,
                        j.locked_by,
                        j.started_at,
                        j.heartbeat_at,
                        j.lease_expires_at,
                    )
                    .where(j.status == "running")
                    .order_by(j.started_at)
                )
            ]
            per_status = {
                r.status: {
                    "count": r.count,
                    "avg_duration_seconds": None if r.avg is None else round(float(r.avg), 3),
                }
                for r in conn.execute(
                    select(j.status, func.count().label("count"), func.avg(duration).label("avg"))
                    .where(j.created_at >= since)
                    .group_by(j.status)
                )
            }
            pending = conn.execute(
                select(
                    func.count().filter(j.scheduled_at <= now).label("due"),
                    func.count().filter(j.scheduled_at > now).label("later"),
                    func.min(j.scheduled_at).filter(j.scheduled_at <= now).label("oldest"),
                ).where(j.status == "pending")
            ).one()
        return {
            "now": now,
            "days": days,
            "running": running,
            "statuses": {
                s: per_status.get(s, {"count": 0, "avg_duration_seconds": None})
                for s in ("pending", "running", "completed", "failed", "cancelled")
            },
            "pending_due": pending.due,
            "pending_later": pending.later,
            "pending_waiting_for_budget": jobs_waiting_for_budget(self.engine, now),
            "oldest_due_at": pending.oldest,
        }


@functools.cache
def _fenced_update_statement(columns: tuple[str, ...]):
    """UPDATE import_jobs SET each of `columns` (bound as `set_<name>`) on the row of a job
    this worker still holds: binds `fence_id`, `fence_worker`, `fence_attempts`. Built
    once per set of columns: finishing a job costs no statement construction."""
    c = import_jobs.c
    return (
        update(import_jobs)
        .where(
            c.id == bindparam("fence_id", type_=c.id.type),
            c.locked_by == bindparam("fence_worker", type_=c.locked_by.type),
            c.attempts == bindparam("fence_attempts", type_=c.attempts.type),
            c.status == "running",
        )
        .values({name: bindparam(f"set_{name}", type_=c[name].type) for name in columns})
    )


@functools.cache
def _claim_statement(*, postgres: bool, by_id: bool):
    """UPDATE the best claimable job (or the job `:job_id`) to running, RETURNING it.

    Binds `claim_now`, `lease_until`, `worker_id` and, with `by_id`, `job_id`.

    The best due pending job and the best running job whose lease expired are picked apart,
    each in queue order (`_queue_order`) and locked (`SKIP LOCKED` on Postgres), and the
    better of the two is claimed. Apart, because the planner cannot walk one index in order
    through an OR of the two: the pending pick walks the partial index
    `ix_import_jobs_pending` and stops at the first free row, instead of sorting every
    pending job on each claim (1 ms per 1,000 pending).
    """
    c = import_jobs.c
    when = c.scheduled_at.type
    now = bindparam("claim_now", type_=when)

    def pending(cand) -> list[Any]:
        other = import_jobs.alias("other")
        key_is_running = exists().where(
            other.c.status == "running", other.c.concurrency_key == cand.c.concurrency_key
        )
        clauses = [cand.c.status == "pending", ~key_is_running]
        return clauses if by_id else [*clauses, cand.c.scheduled_at <= now]

    def expired(cand) -> list[Any]:
        return [cand.c.status == "running", cand.c.lease_expires_at < now]

    def pick(name: str, conditions: Callable[[Any], list[Any]]):
        cand = import_jobs.alias(f"{name}_candidate")
        ordered_by = (cand.c.id, cand.c.priority, cand.c.scheduled_at, cand.c.created_at)
        picked = select(*ordered_by).where(*conditions(cand)).order_by(*_queue_order(cand))
        picked = picked.limit(1)
        if by_id:
            picked = picked.where(cand.c.id == bindparam("job_id", type_=c.id.type))
        if postgres:
            picked = picked.with_for_update(skip_locked=True)
        return select(picked.cte(name))

    both = union_all(pick("pending_pick", pending), pick("expired_pick", expired)).subquery()
    best = select(both.c.id).order_by(*_queue_order(both)).limit(1).scalar_subquery()
    return (
        update(import_jobs)
        .where(c.id == best)
        .values(
            status="running",
            attempts=c.attempts + 1,
            locked_by=bindparam("worker_id", type_=c.locked_by.type),
            lease_expires_at=bindparam("lease_until", type_=when),
            heartbeat_at=now,
            started_at=now,
            updated_at=now,
        )
        .returning(*import_jobs.c)
    )


def _queue_order(source) -> list[Any]:
    """The queue's order over `source`'s columns: higher priority first, then the earlier
    scheduled, then the older; the id settles ties. `ix_import_jobs_pending`
    (runner.db.tables) holds exactly this order."""
    c = source.c
    return [c.priority.desc(), c.scheduled_at.asc(), c.created_at.asc(), c.id.asc()]


def _check_length(what: str, value: str, limit: int) -> None:
    if not value:
        raise QueueError(f"the {what} must not be empty")
    if len(value) > limit:
        raise QueueError(f"the {what} is longer than {limit} characters: {value[:40]}...")
