"""How deep and how late the queue is, per sync type and supplier spec: the queue gauges.

One grouped statement over the live jobs: `pending` and due now, `running`, and `pending`
but scheduled later (a retry's backoff, a deferral by a rate limit or a budget, `--at`),
whose oldest age says how long a job has waited for its turn. A job's account
id is turned into its spec name (a supplier's `supplier_type`, an integration's `platform`)
in the same statement, so that the labels stay few: spec names, never user or account ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, case, func, select

from runner.db.engine import read_only
from runner.db.tables import import_jobs, marketplace_integrations, suppliers


@dataclass(frozen=True)
class QueueDepth:
    """The live jobs of one (sync type, supplier spec)."""

    sync_type: str
    supplier: str  # the spec name; "" for a job over all of a user's accounts
    due: int  # pending and due now
    running: int
    oldest_due_age_seconds: float  # 0 when nothing is due
    waiting: int = 0  # pending, scheduled later
    oldest_waiting_age_seconds: float = 0.0  # since the oldest of those was created


def queue_depths(engine: Engine, now: datetime) -> list[QueueDepth]:
    """The due and running jobs and the age of the oldest due one, per label pair."""
    j = import_jobs.c
    spec = func.coalesce(suppliers.c.supplier_type, marketplace_integrations.c.platform, "")
    due = and_(j.status == "pending", j.scheduled_at <= now)
    later = and_(j.status == "pending", j.scheduled_at > now)
    stmt = (
        select(
            j.source_type,
            spec.label("supplier"),
            func.sum(case((due, 1), else_=0)).label("due"),
            func.sum(case((j.status == "running", 1), else_=0)).label("running"),
            func.min(case((due, j.scheduled_at))).label("oldest"),
            func.sum(case((later, 1), else_=0)).label("waiting"),
            func.min(case((later, j.created_at))).label("oldest_waiting"),
        )
        .select_from(
            import_jobs.outerjoin(suppliers, suppliers.c.id == j.supplier_id).outerjoin(
                marketplace_integrations, marketplace_integrations.c.id == j.supplier_id
            )
        )
        .where(j.status.in_(("pending", "running")))
        .group_by(j.source_type, spec)
        .order_by(j.source_type, spec)
    )
    with engine.connect() as conn:
        rows = read_only(conn).execute(stmt).all()
    return [
        QueueDepth(
            row.source_type,
            row.supplier,
            row.due,
            row.running,
            _age(now, row.oldest),
            row.waiting,
            _age(now, row.oldest_waiting),
        )
        for row in rows
    ]


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0
