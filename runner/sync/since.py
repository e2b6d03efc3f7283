"""Where an account's step last ran to the end: the lower bound of a `changed_since` list.

A list step with `changed_since` (Shopify `updated_at_min`, WooCommerce `modified_after`)
asks only for the records changed since its account's last successful run. When a run of
the step ends well (not a dry run), `save` records when it began in `sync_cursors`; the next
run reads it with `last_success`. A run's start precedes every request it sent, so nothing
changed after it can be missed (a change seen twice is only compared again: unchanged rows
are not rewritten). A run that fails records nothing, so the next one asks from the same
point. Without a row (the first sync) there is no bound and the list holds everything.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from runner.db.engine import read_only
from runner.db.tables import sync_cursors
from runner.spec.model import ChangedSinceSpec


def _key(user_id: str, account_id: str, sync_type: str, step: str) -> dict[str, str]:
    return {"user_id": user_id, "account_id": account_id, "sync_type": sync_type, "step": step}


def last_success(
    engine: Engine, *, user_id: str, account_id: str, sync_type: str, step: str
) -> datetime | None:
    """When the last successful run of this account's step began (None: never)."""
    c = sync_cursors.c
    key = _key(user_id, account_id, sync_type, step)
    stmt = select(c.started_at).where(*(c[name] == value for name, value in key.items()))
    with engine.connect() as conn:
        return read_only(conn).execute(stmt).scalar_one_or_none()


def save(
    engine: Engine,
    *,
    user_id: str,
    account_id: str,
    sync_type: str,
    step: str,
    started_at: datetime,
    now: datetime,
) -> None:
    """Record that a run of the step which began at `started_at` ended well."""
    c = sync_cursors.c
    key = _key(user_id, account_id, sync_type, step)
    values = {"started_at": started_at, "updated_at": now}
    with engine.begin() as conn:
        found = conn.execute(
            update(sync_cursors)
            .where(*(c[name] == value for name, value in key.items()))
            .values(values)
        )
        if found.rowcount == 0:
            conn.execute(sync_cursors.insert().values({**key, **values}))


def since_params(spec: ChangedSinceSpec, last: datetime | None) -> dict[str, str]:
    """The query parameter that narrows the list, or none without a previous run."""
    if last is None:
        return {}
    since = last - timedelta(seconds=spec.overlap_seconds)
    return {spec.param: since.strftime(spec.format)}
