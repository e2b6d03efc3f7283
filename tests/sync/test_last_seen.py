"""When a listing last saw each product (ai_score's `days_since_seen`), on SQLite and Postgres.

A complete listing records its time once per account (`listing_marks`): the products it saw
need no write of their own, so a warm listing a day later writes no product row, yet every
product it listed reads as seen now. A product missing from a complete listing keeps the
time it was last seen and ages; one that comes back is seen again; a walk that ended early
and a dry run record nothing (runner.sync.seen).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from runner.clock import FakeClock
from runner.db.tables import imported_products, listing_marks
from runner.errors import JobFailed
from runner.maintenance import recompute_scores
from runner.spec.model import ScoreRuleSpec, ScoringSpec
from runner.sync.engine import SyncRequest, run_sync
from tests.sync.support import T0, last_seen, products_of
from tests.sync.test_delist import setup  # noqa: F401  (the Shelf supplier, 100 products)

DAY = timedelta(days=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def sync(engine, specs, clock, **request):
    result = run_sync(engine, specs, SyncRequest("user-a", "supplier_api", **request), clock=clock)
    return result["accounts"]["shelf"]["steps"]["products"]


def marks(engine) -> list[tuple]:
    m = listing_marks.c
    with engine.connect() as conn:
        return list(conn.execute(select(m.user_id, m.account_id, m.target, m.listed_at)))


def product_writes(engine) -> list[int]:
    """Collects the rows each statement that writes imported_products writes from now on."""
    written: list[int] = []

    def record(conn, cursor, statement, *args):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE", "COPY"} and "imported_products" in statement:
            written.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", record)
    return written


def days_since_seen(engine, clock) -> dict[str, float]:
    return {k: (clock.now() - t) / DAY for k, t in last_seen(engine, "shelf").items()}


def test_a_warm_listing_a_day_later_writes_no_product_row(engine, setup, clock):  # noqa: F811
    specs, _ = setup
    assert sync(engine, specs, clock)["inserted"] == 100
    assert marks(engine) == [("user-a", "shelf", "imported_products", T0)]
    before = products_of(engine, "shelf")
    clock.advance(days=1)
    writes = product_writes(engine)

    step = sync(engine, specs, clock)

    assert (step["unchanged"], step["seen"]) == (100, {"missing": 0, "returned": 0})
    assert sum(writes) == 0  # a few set-based statements that find nothing to write
    assert products_of(engine, "shelf") == before  # not one column of one row changed
    assert marks(engine) == [("user-a", "shelf", "imported_products", T0 + DAY)]
    assert set(days_since_seen(engine, clock).values()) == {0.0}
    # ai_score reads the same: every product is fresh, none stale
    rules = (
        ScoreRuleSpec(name="fresh", metric="days_since_seen", points=5, max=2),
        ScoreRuleSpec(name="stale", metric="days_since_seen", points=-20, min=1),
    )
    clock.advance(hours=12)
    recompute_scores(engine, ScoringSpec(base=50, rules=rules), clock)
    with engine.connect() as conn:
        scores = set(conn.execute(select(imported_products.c.ai_score)).scalars())
    assert scores == {55.0}


def test_a_missing_product_keeps_its_time_and_ages_then_is_seen_again(
    engine,
    setup,  # noqa: F811
    clock,
):
    specs, server = setup
    sync(engine, specs, clock)
    gone = server.ids.pop(4)  # S-005 leaves the catalogue
    clock.advance(days=1)
    writes = product_writes(engine)

    step = sync(engine, specs, clock)

    assert step["seen"] == {"missing": 1, "returned": 0}
    assert step["on_missing"] == {"missing": 1, "delisted": 1}
    # one row delisted, the same row's last seen time frozen: nothing per listed row
    assert sum(writes) == 2
    assert products_of(engine, "shelf")[gone].last_seen_at == T0
    ages = days_since_seen(engine, clock)
    assert ages.pop(gone) == 1.0 and set(ages.values()) == {0.0}

    clock.advance(days=9)
    writes.clear()
    assert sync(engine, specs, clock)["seen"] == {"missing": 0, "returned": 0}
    assert sum(writes) == 0  # still missing: already frozen, nothing to write
    ages = days_since_seen(engine, clock)
    assert ages.pop(gone) == 10.0 and set(ages.values()) == {0.0}

    server.ids.insert(4, gone)  # it comes back
    clock.advance(days=1)
    step = sync(engine, specs, clock)
    assert (step["updated"], step["seen"]) == (1, {"missing": 0, "returned": 1})
    assert products_of(engine, "shelf")[gone].last_seen_at is None
    assert set(days_since_seen(engine, clock).values()) == {0.0}


def test_a_truncated_walk_changes_no_mark_and_no_time(engine, setup, clock):  # noqa: F811
    specs, server = setup
    sync(engine, specs, clock)
    before = products_of(engine, "shelf")
    server.ids = server.ids[:95]
    server.lie_total = 5  # announces 100, serves 95: the walk ends short
    clock.advance(days=2)
    with pytest.raises(JobFailed):
        sync(engine, specs, clock)
    assert marks(engine) == [("user-a", "shelf", "imported_products", T0)]
    assert products_of(engine, "shelf") == before
    assert set(days_since_seen(engine, clock).values()) == {2.0}  # not seen since T0


def test_a_dry_run_records_nothing_seen(engine, setup, clock):  # noqa: F811
    specs, server = setup
    sync(engine, specs, clock)
    server.ids.pop()
    clock.advance(days=3)
    run_sync(engine, specs, SyncRequest("user-a", "supplier_api", dry_run=True), clock=clock)
    assert marks(engine) == [("user-a", "shelf", "imported_products", T0)]
    assert {row.last_seen_at for row in products_of(engine, "shelf").values()} == {None}


def test_the_first_complete_listing_freezes_a_missing_row_at_its_last_write(
    engine,
    setup,  # noqa: F811
    clock,
):
    """Rows from before any mark (an older version, a walk that failed) that the first
    complete listing misses were last seen when they were written."""
    specs, server = setup
    sync(engine, specs, clock)
    with engine.begin() as conn:
        conn.execute(listing_marks.delete())
    gone = server.ids.pop()
    clock.advance(days=4)
    assert sync(engine, specs, clock)["seen"] == {"missing": 1, "returned": 0}
    assert products_of(engine, "shelf")[gone].last_seen_at == T0
    assert days_since_seen(engine, clock)[gone] == 4.0
