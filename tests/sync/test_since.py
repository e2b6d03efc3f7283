"""runner.sync.since: the cursor of a `changed_since` step, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runner.spec.model import ChangedSinceSpec
from runner.sync.since import ChangedSince, since_params

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEY = {"user_id": "u1", "account_id": "shop", "sync_type": "order_sync", "step": "changed"}
BY_FIELD = ChangedSinceSpec(param="updated_at_min", field="updated_at")


def run(engine, spec=BY_FIELD, began=T, **key) -> ChangedSince:
    return ChangedSince(engine, spec, **{**KEY, **key}, began=began)


def test_the_first_run_asks_for_everything_and_marks_the_latest_change(engine):
    first = run(engine)
    assert first.params == {}
    first.see([{"updated_at": "2025-02-01T10:00:00+01:00"}, {"updated_at": "2025-02-03T08:00:00Z"}])
    first.see([{"updated_at": None}, {"updated_at": "garbage"}, {"id": 1}, "not a record"])
    first.save(now=T)
    second = run(engine)
    assert second.last == datetime(2025, 2, 3, 8, 0, tzinfo=UTC)  # the source's clock
    assert second.params == {"updated_at_min": "2025-02-03T07:50:00+00:00"}
    # A run that lists only older records (the overlap) never moves the mark back.
    second.see([{"updated_at": "2025-02-03T07:55:00Z"}])
    second.save(now=T)
    assert run(engine).last == datetime(2025, 2, 3, 8, 0, tzinfo=UTC)


def test_a_run_that_lists_nothing_and_has_no_mark_saves_none(engine):
    empty = run(engine)
    empty.save(now=T)
    assert run(engine).params == {}


def test_without_field_the_mark_is_when_the_run_began(engine):
    spec = ChangedSinceSpec(param="since")
    first = run(engine, spec, began=T)
    first.see([{"updated_at": "2030-01-01T00:00:00Z"}])  # not read without `field`
    first.save(now=T + timedelta(minutes=3))
    assert run(engine, spec).params == {"since": "2025-03-01T11:50:00+00:00"}


def test_each_account_step_keeps_its_own_mark(engine):
    first = run(engine)
    first.see([{"updated_at": "2025-02-03T08:00:00Z"}])
    first.save(now=T)
    for other in ({"user_id": "u2"}, {"account_id": "woo"}, {"step": "orders"}):
        assert run(engine, **other).last is None


def test_the_bound_is_written_as_the_spec_says_with_the_overlap():
    shopify = ChangedSinceSpec(param="updated_at_min")
    assert since_params(shopify, T) == {"updated_at_min": "2025-03-01T11:50:00+00:00"}
    woo = ChangedSinceSpec(param="modified_after", format="%Y-%m-%dT%H:%M:%S", overlap_seconds=60)
    assert since_params(woo, T) == {"modified_after": "2025-03-01T11:59:00"}
