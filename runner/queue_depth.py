"""How deep and how late the queue is, per sync type and supplier spec: the queue gauges.

One grouped statement over the live jobs (`pending` due now, and `running`). A job's account
id is turned into its spec name (a supplier's `supplier_type`, an integration's `platform`)
in the same statement, so that the labels stay few: spec names, never user or account ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, case, func, or_, select

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


def queue_depths(engine: Engine, now: datetime) -> list[QueueDepth]:
    """The due and running jobs and the age of the oldest due one, per label pair."""
    j = import_jobs.c
    spec = func.coalesce(suppliers.c.supplier_type, marketplace_integrations.c.platform, "")
    due = and_(j.status == "pending", j.scheduled_at <= now)
    stmt = (
        select(
            j.source_type,
            spec.label("supplier"),
            func.sum(case((due, 1), else_=0)).label("due"),
            func.sum(case((j.status == "running", 1), else_=0)).label("running"),
            func.min(case((due, j.scheduled_at))).label("oldest"),
        )
        .select_from(
            import_jobs.outerjoin(suppliers, suppliers.c.id == j.supplier_id).outerjoin(
                marketplace_integrations, marketplace_integrations.c.id == j.supplier_id
            )
        )
        .where(or_(due, j.status == "running"))
        .group_by(j.source_type, spec)
        .order_by(j.source_type, spec)
    )
    with engine.connect() as conn:
        rows = read_only(conn).execute(stmt).all()
    depths = []
    for row in rows:
        oldest = row.oldest
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        depths.append(QueueDepth(row.source_type, row.supplier, row.due, row.running, age))
    return depths
