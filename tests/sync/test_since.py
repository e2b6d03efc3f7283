"""runner.sync.since: the cursor of a `changed_since` step, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runner.spec.model import ChangedSinceSpec
from runner.sync.since import last_success, save, since_params

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEY = {"user_id": "u1", "account_id": "shop", "sync_type": "order_sync", "step": "changed"}


def test_no_run_means_no_bound(engine):
    assert last_success(engine, **KEY) is None
    assert since_params(ChangedSinceSpec(param="updated_at_min"), None) == {}


def test_each_account_step_keeps_its_own_last_start(engine):
    save(engine, **KEY, started_at=T, now=T + timedelta(minutes=2))
    assert last_success(engine, **KEY) == T
    save(engine, **KEY, started_at=T + timedelta(hours=1), now=T + timedelta(hours=1, minutes=1))
    assert last_success(engine, **KEY) == T + timedelta(hours=1)
    for other in ({"user_id": "u2"}, {"account_id": "woo"}, {"step": "orders"}):
        assert last_success(engine, **{**KEY, **other}) is None


def test_the_bound_is_written_as_the_spec_says_with_the_overlap():
    shopify = ChangedSinceSpec(param="updated_at_min")
    assert since_params(shopify, T) == {"updated_at_min": "2025-03-01T11:50:00+00:00"}
    woo = ChangedSinceSpec(param="modified_after", format="%Y-%m-%dT%H:%M:%S", overlap_seconds=60)
    assert since_params(woo, T) == {"modified_after": "2025-03-01T11:59:00"}
