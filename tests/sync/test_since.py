"""runner.sync.since: which finished job bounds a `changed_since` list, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from runner.db.tables import import_jobs
from runner.queue import Queue
from runner.spec.model import ChangedSinceSpec
from runner.sync.since import last_success, since_params

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def add_job(engine, started: datetime, *, status="completed", account="shop", step_status="ok",
            supplier_id=None, dry_run=False, sync_type="order_sync", user="u1"):  # fmt: skip
    row = Queue(engine).new_row(user, sync_type, supplier_id=supplier_id)
    steps = {"orders": {"status": "ok"}, "orders_changed": {"status": step_status}}
    row.update(
        status=status,
        started_at=started,
        completed_at=started + timedelta(minutes=1),
        result_data={"dry_run": dry_run, "accounts": {account: {"status": "ok", "steps": steps}}},
    )
    with engine.begin() as conn:
        conn.execute(insert(import_jobs).values(row))


def last(engine, account="shop", user="u1"):
    return last_success(
        engine, user_id=user, sync_type="order_sync", account_id=account, step="orders_changed"
    )


def test_no_finished_job_means_no_bound(engine):
    assert last(engine) is None
    assert since_params(ChangedSinceSpec(param="updated_at_min"), None) == {}


def test_the_newest_job_where_the_accounts_step_finished_ok(engine):
    add_job(engine, T)
    add_job(engine, T + timedelta(hours=1), step_status="failed")  # that step failed
    add_job(engine, T + timedelta(hours=2), status="failed")
    add_job(engine, T + timedelta(hours=3), dry_run=True)  # wrote nothing
    add_job(engine, T + timedelta(hours=4), account="other")  # another account only
    add_job(engine, T + timedelta(hours=5), supplier_id="other", account="shop")  # not ours
    add_job(engine, T + timedelta(hours=6), user="u2")
    add_job(engine, T + timedelta(hours=7), sync_type="price_update")
    assert last(engine) == T
    add_job(engine, T + timedelta(hours=8), supplier_id="shop")
    assert last(engine) == T + timedelta(hours=8)
    assert last(engine, account="other") == T + timedelta(hours=4)


def test_the_bound_is_written_as_the_spec_says_with_the_overlap():
    shopify = ChangedSinceSpec(param="updated_at_min")
    assert since_params(shopify, T) == {"updated_at_min": "2025-03-01T11:50:00+00:00"}
    woo = ChangedSinceSpec(param="modified_after", format="%Y-%m-%dT%H:%M:%S", overlap_seconds=60)
    assert since_params(woo, T) == {"modified_after": "2025-03-01T11:59:00"}
