"""When an account's step last ran to the end: the lower bound of a `changed_since` list.

A list step with `changed_since` (Shopify `updated_at_min`, WooCommerce `modified_after`)
asks only for the records changed since this account's last successful run of the step. That
run is read from the job queue: the start of the newest completed job of the sync type for
this user whose result says that this account's step finished `ok` (a dry run does not
count). A job's start precedes every request its steps sent, so nothing changed after it can
be missed; a change seen twice is only compared again (unchanged rows are not rewritten).
Without such a job (the first sync, a one-off `sync`, finished jobs purged) there is no
bound and the list holds everything.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select

from runner.db.engine import read_only
from runner.db.tables import import_jobs
from runner.spec.model import ChangedSinceSpec

LOOK_BACK_JOBS = 50  # newest completed jobs searched for one that ran this account's step


def last_success(
    engine: Engine, *, user_id: str, sync_type: str, account_id: str, step: str
) -> datetime | None:
    """The start of the newest completed job in which this account's `step` finished ok."""
    j = import_jobs.c
    stmt = (
        select(j.started_at, j.result_data)
        .where(
            j.user_id == user_id,
            j.source_type == sync_type,
            j.status == "completed",
            j.started_at.is_not(None),
            or_(j.supplier_id.is_(None), j.supplier_id == account_id),
        )
        .order_by(j.started_at.desc())
        .limit(LOOK_BACK_JOBS)
    )
    with engine.connect() as conn:
        rows = read_only(conn).execute(stmt).all()
    for started_at, result in rows:
        if not isinstance(result, dict) or result.get("dry_run"):
            continue
        account = (result.get("accounts") or {}).get(account_id) or {}
        if ((account.get("steps") or {}).get(step) or {}).get("status") == "ok":
            return started_at
    return None


def since_params(spec: ChangedSinceSpec, last: datetime | None) -> dict[str, str]:
    """The query parameter that narrows the list, or none without a previous run."""
    if last is None:
        return {}
    since = last - timedelta(seconds=spec.overlap_seconds)
    return {spec.param: since.strftime(spec.format)}
