"""What keeps a push from doing harm: stock is never pushed from a supplier listing that did
not complete, and a run that would zero too much of a shop at once is refused."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from runner.db.engine import read_only
from runner.db.tables import import_jobs

# The sync types whose listing sets stock_quantity.
STOCK_SOURCES = ("supplier_api", "inventory_update")
_RECENT_JOBS = 200  # jobs looked at, newest first, to find each supplier's last listing


def incomplete_suppliers(
    engine: Engine, user_id: str, supplier_ids: Iterable[str]
) -> dict[str, str]:
    """The suppliers among `supplier_ids` whose last stock listing did not complete, and why.

    A supplier's last listing is its account's entry in the newest job of a stock-setting
    sync type that ran it (`result_data.accounts`): anything but `ok` (failed, waiting for a
    budget, truncated, a job that died mid-walk) refuses the push of its products' stock, as
    does a supplier with no listing on record."""
    wanted = set(supplier_ids)
    verdicts: dict[str, str] = {}
    stmt = (
        select(import_jobs.c.id, import_jobs.c.status, import_jobs.c.result_data)
        .where(
            import_jobs.c.user_id == user_id,
            import_jobs.c.source_type.in_(STOCK_SOURCES),
            import_jobs.c.status.in_(("running", "completed", "failed", "pending")),
        )
        .order_by(import_jobs.c.updated_at.desc(), import_jobs.c.id)
        .limit(_RECENT_JOBS)
    )
    with engine.connect() as conn:
        jobs = read_only(conn).execute(stmt).all()
    for job in jobs:
        accounts = (job.result_data or {}).get("accounts") or {}
        for supplier_id in wanted - verdicts.keys():
            entry: dict[str, Any] | None = accounts.get(supplier_id)
            if entry is None:
                continue
            status = entry.get("status")
            if status == "ok":  # every step of this account completed
                verdicts[supplier_id] = ""
            elif status == "skipped":  # an inactive account: look further back
                continue
            else:
                why = entry.get("error") or entry.get("reason") or f"status {status}"
                verdicts[supplier_id] = (
                    f"its last stock listing (job {job.id}) did not complete: {why}"
                )
    for supplier_id in wanted - verdicts.keys():
        verdicts[supplier_id] = "no complete stock listing of this supplier on record"
    return {sid: why for sid, why in verdicts.items() if why}


def zeroing_refusal(zeroed: int, linked: int, max_ratio: float) -> str | None:
    """Why a stock push that would set `zeroed` of `linked` products to 0 is refused, or
    None when the share is within `max_ratio`."""
    if linked == 0 or zeroed / linked <= max_ratio:
        return None
    return (
        f"would set {zeroed} of {linked} linked products ({zeroed / linked:.0%}) to 0 stock, "
        f"more than max_zero_ratio {max_ratio:.0%}; check the supplier's stock, then raise "
        "max_zero_ratio in sync_types.yaml if it is right"
    )
