"""The schedules of runner.yaml: jobs enqueued on a cron slot, and pushes chained after a
supplier sync (`after:`).

Both enqueue through the queue (`Queue.enqueue_once`): a dedupe key that any job ever had is
not enqueued again, and an account with a pending job of the sync type gets no second one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import Connection, select

from runner.db.tables import marketplace_integrations, suppliers
from runner.handlers import Job
from runner.queue import Queue
from runner.spec.model import ScheduleSpec, SpecSet

log = logging.getLogger("sync_runner.worker")


def schedule_slot(cron: str, now: datetime) -> datetime:
    """The latest time at or before `now` that `cron` fires (UTC)."""
    return croniter(cron, now + timedelta(seconds=1)).get_prev(datetime)


def _schedule_targets(
    conn: Connection, specs: SpecSet, schedule: ScheduleSpec, user_id: str | None = None
) -> list[tuple[str, str]]:
    """(user_id, account_id) of every active account the schedule covers
    (of one user, if given): suppliers for supplier sync types, marketplace integrations for
    marketplace ones, and only accounts whose spec declares steps (or a push) for the sync
    type."""
    sync_type = specs.sync_types.get(schedule.sync_type)
    source = sync_type.source if sync_type else "supplier"
    if source == "marketplace":
        table, kind_col, connectors = (
            marketplace_integrations,
            marketplace_integrations.c.platform,
            specs.marketplaces,
        )
    else:
        table, kind_col, connectors = suppliers, suppliers.c.supplier_type, specs.suppliers
    stmt = select(table.c.user_id, table.c.id, kind_col.label("kind")).where(
        table.c.status == "active"
    )
    if user_id is not None:
        stmt = stmt.where(table.c.user_id == user_id)
    targets = []
    for row in conn.execute(stmt):
        connector = connectors.get(row.kind)
        if connector is None or (
            schedule.sync_type not in connector.syncs and schedule.sync_type not in connector.pushes
        ):
            log.debug(
                "schedule %s skips %s %s: its spec %r has no %s steps",
                schedule.name,
                source,
                row.id,
                row.kind,
                schedule.sync_type,
            )
            continue
        targets.append((row.user_id, row.id))
    return targets


def enqueue_due_schedules(queue: Queue, specs: SpecSet) -> list[str]:
    """Enqueue, for each cron schedule, one job per covered account for the current slot.

    Idempotent: each job carries the dedupe key `schedule:<name>:<account>:<slot>`; a key
    that exists in any status is not enqueued again, and two pods enqueueing at the same
    moment collide on the dedupe index (the loser inserts nothing). An account that already
    has a pending job of the sync type gets no second one. Only the latest slot is
    enqueued (no backfill of missed slots). Chained schedules (`after:`) are not due on a
    clock: `enqueue_chained` enqueues them. Returns the ids created.
    """
    created: list[str] = []
    now = queue.clock.now()
    for schedule in specs.runner.schedules:
        if schedule.cron is None:
            continue
        slot = schedule_slot(schedule.cron, now)
        stamp = slot.strftime("%Y%m%dT%H%MZ")
        with queue.engine.begin() as conn:
            ids = _enqueue(
                conn,
                queue,
                schedule,
                _schedule_targets(conn, specs, schedule),
                f"schedule:{schedule.name}:{{account}}:{stamp}",
                {"schedule": schedule.name, "slot": slot.isoformat()},
            )
        if ids:
            _log_enqueued(schedule, len(ids), stamp)
        created += ids
    return created


def chain_succeeded(result_data: dict[str, Any] | None) -> bool:
    """Whether a completed job may chain its pushes: every account it ran completed (`ok`;
    an account it skipped does not count), and at least one did. A job that failed, waits,
    or completed with an account that did not (a partial listing) chains nothing."""
    accounts = (result_data or {}).get("accounts")
    if not isinstance(accounts, dict) or not accounts:
        return False
    statuses = {entry.get("status") for entry in accounts.values() if isinstance(entry, dict)}
    return "ok" in statuses and statuses <= {"ok", "skipped"}


def enqueue_chained(
    conn: Connection, queue: Queue, specs: SpecSet, job: Job, result_data: dict[str, Any] | None
) -> list[str]:
    """In the caller's transaction (the job's completion): for each schedule `after:` the
    job's sync type, one job per covered account of the job's user, dedupe key
    `after:<schedule>:<parent job id>:<account>` (a completion recorded twice chains once).
    Nothing when the parent did not fully succeed (`chain_succeeded`). Returns the ids."""
    chained = [s for s in specs.runner.schedules if s.after == job.source_type]
    if not chained or not chain_succeeded(result_data):
        return []
    created: list[str] = []
    for schedule in chained:
        ids = _enqueue(
            conn,
            queue,
            schedule,
            _schedule_targets(conn, specs, schedule, job.user_id),
            f"after:{schedule.name}:{job.id}:{{account}}",
            {"schedule": schedule.name, "after_job": job.id},
        )
        if ids:
            _log_enqueued(schedule, len(ids), f"job {job.id}")
        created += ids
    return created


def _enqueue(
    conn: Connection,
    queue: Queue,
    schedule: ScheduleSpec,
    targets: list[tuple[str, str]],
    dedupe_key: str,
    metadata: dict[str, Any],
) -> list[str]:
    """One job of the schedule per (user, account) target, its dedupe key `dedupe_key` with
    `{account}` filled in, through `Queue.enqueue_once`."""
    rows = [
        queue.new_row(
            user,
            schedule.sync_type,
            account_id=account_id,
            priority=schedule.priority,
            dedupe_key=dedupe_key.replace("{account}", account_id),
            metadata=metadata,
        )
        for user, account_id in targets
    ]
    return queue.enqueue_once(conn, rows) if rows else []


def _log_enqueued(schedule: ScheduleSpec, count: int, when: str) -> None:
    log.info(
        "schedule %s: %d job(s) enqueued for %s",
        schedule.name,
        count,
        when,
        extra={
            "event": "schedule.enqueued",
            "sync_type": schedule.sync_type,
            "counts": {"enqueued": count},
        },
    )
