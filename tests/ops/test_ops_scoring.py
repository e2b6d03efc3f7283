"""ai_score: every product, by the declared rules, set-based, deterministic, clamped, on SQLite
and Postgres."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import event, insert, select

from runner.db.tables import imported_products, listing_marks
from runner.maintenance import recompute_scores
from runner.spec.load import load_specs
from runner.spec.model import ScoreRuleSpec, ScoringSpec
from tests.ops.support import NOW, ROOT

DAY = timedelta(days=1)


def add_products(engine, rows: list[dict]) -> None:
    base = {"user_id": "u1", "supplier_id": "s1", "created_at": NOW, "updated_at": NOW}
    with engine.begin() as conn:
        conn.execute(
            insert(imported_products),
            [{**base, "external_id": str(i), **row} for i, row in enumerate(rows)],
        )


def add_marks(engine, marks: dict[str, datetime]) -> None:
    """The last complete listing of each supplier of user u1 (runner.sync.seen)."""
    rows = [
        {"user_id": "u1", "account_id": account, "target": "imported_products", "listed_at": at}
        for account, at in marks.items()
    ]
    with engine.begin() as conn:
        conn.execute(insert(listing_marks), rows)


def scores(engine) -> dict[str, float | None]:
    p = imported_products.c
    with engine.connect() as conn:
        return {k: v for k, v in conn.execute(select(p.external_id, p.ai_score))}


def score_of(engine, rule: ScoreRuleSpec, rows: list[dict], clock) -> list[float]:
    """Score `rows` with `rule` alone (base 0); return their scores in order."""
    add_products(engine, rows)
    recompute_scores(engine, ScoringSpec(base=0, rules=(rule,)), clock)
    result = scores(engine)
    return [result[str(i)] for i in range(len(rows))]


# One test per metric: below min, at min, inside, at max, above max, NULL.


def test_rule_on_stock(engine, clock):
    rule = ScoreRuleSpec(name="r", metric="stock", points=7, min=10, max=50)
    stocks = [9, 10, 30, 50, 51, None]
    got = score_of(engine, rule, [{"stock_quantity": s} for s in stocks], clock)
    assert got == [0, 7, 7, 0, 0, 0]


def test_rule_on_price(engine, clock):
    rule = ScoreRuleSpec(name="r", metric="price", points=15, min=10, max=80)
    prices = ["9.99", "10.00", "42.50", "80.00", "80.01", None]
    rows = [{"price": Decimal(p) if p else None} for p in prices]
    assert score_of(engine, rule, rows, clock) == [0, 15, 15, 0, 0, 0]


def test_rule_on_margin(engine, clock):
    rule = ScoreRuleSpec(name="r", metric="margin_pct", points=20, min=30, max=50)
    # margin = (price - cost) / price * 100
    cases = [
        ("10.00", "7.01"),  # 29.9 %
        ("20.00", "14.00"),  # exactly 30 %
        ("19.90", "13.93"),  # exactly 30 % (inexact in binary floating point)
        ("10.00", "6.00"),  # 40 %
        ("10.00", "5.00"),  # exactly 50 %: max is exclusive
        ("10.00", "1.00"),  # 90 %
        ("10.00", None),  # no cost price: no margin
        ("0.00", "1.00"),  # zero price: no margin
        (None, "1.00"),
    ]
    rows = [
        {"price": Decimal(p) if p else None, "cost_price": Decimal(c) if c else None}
        for p, c in cases
    ]
    assert score_of(engine, rule, rows, clock) == [0, 20, 20, 20, 0, 0, 0, 0, 0]


def test_rule_on_days_since_sync(engine, clock):
    rule = ScoreRuleSpec(name="r", metric="days_since_sync", points=-20, min=14, max=30)
    ages = [13 * DAY, 14 * DAY, 20 * DAY, 30 * DAY - timedelta(seconds=1), 30 * DAY, None]
    rows = [{"last_synced_at": None if a is None else NOW - a} for a in ages]
    # Negative points are clamped to 0 when base is 0; start from 50 to see them.
    add_products(engine, rows)
    recompute_scores(engine, ScoringSpec(base=50, rules=(rule,)), clock)
    result = scores(engine)
    assert [result[str(i)] for i in range(len(rows))] == [50, 30, 30, 30, 50, 50]


def test_rule_on_days_since_seen(engine, clock):
    """Last seen is the later of when a listing saw it and last_synced_at. A listing saw a
    row at its own last_seen_at (set while it is missing from its supplier's listings),
    else at its supplier's last complete listing (listing_marks)."""
    rule = ScoreRuleSpec(name="r", metric="days_since_seen", points=-20, min=14, max=30)
    old, recent = NOW - 20 * DAY, NOW - DAY
    add_marks(engine, {"listed": recent, "listed_long_ago": old})
    rows = [
        {"last_synced_at": old, "last_seen_at": recent},  # unchanged, but seen yesterday
        {"last_synced_at": old, "last_seen_at": None},  # not seen since
        {"last_synced_at": None, "last_seen_at": old},
        {"last_synced_at": recent, "last_seen_at": old},  # written yesterday
        {"last_synced_at": NOW - 30 * DAY, "last_seen_at": NOW - 31 * DAY},
        {"last_synced_at": None, "last_seen_at": None},
        # in its supplier's listing of yesterday: seen then, without a write of its own
        {"last_synced_at": old, "last_seen_at": None, "supplier_id": "listed"},
        # missing from that listing since 20 days: its own time wins over the mark
        {"last_synced_at": old, "last_seen_at": old, "supplier_id": "listed"},
        {"last_synced_at": None, "last_seen_at": None, "supplier_id": "listed_long_ago"},
        {"last_synced_at": recent, "last_seen_at": None, "supplier_id": "listed_long_ago"},
    ]
    add_products(engine, rows)
    recompute_scores(engine, ScoringSpec(base=50, rules=(rule,)), clock)
    result = scores(engine)
    assert [result[str(i)] for i in range(len(rows))] == [50, 30, 30, 50, 50, 50, 50, 30, 30, 50]
    fresh = ScoreRuleSpec(name="f", metric="days_since_seen", points=5, max=2)
    recompute_scores(engine, ScoringSpec(base=0, rules=(fresh,)), clock)
    result = scores(engine)
    assert [result[str(i)] for i in range(len(rows))] == [5, 0, 0, 5, 0, 0, 5, 0, 0, 5]


def test_open_ended_rules(engine, clock):
    rules = (
        ScoreRuleSpec(name="fresh", metric="days_since_sync", points=5, max=2),
        ScoreRuleSpec(name="any_stock", metric="stock", points=3, min=1),
        ScoreRuleSpec(name="known_price", metric="price", points=1),  # no bounds: any value
    )
    rows = [
        {"last_synced_at": NOW - DAY, "stock_quantity": 1, "price": Decimal("1")},
        {"last_synced_at": NOW - 2 * DAY, "stock_quantity": 0, "price": None},
        {"last_synced_at": None, "stock_quantity": 10**6, "price": Decimal("0")},
    ]
    add_products(engine, rows)
    recompute_scores(engine, ScoringSpec(base=0, rules=rules), clock)
    assert scores(engine) == {"0": 9, "1": 0, "2": 4}


def test_scores_are_clamped_to_0_and_100(engine, clock):
    rules = (
        ScoreRuleSpec(name="big", metric="stock", points=80, min=1),
        ScoreRuleSpec(name="bad", metric="price", points=-200, min=1000),
    )
    add_products(
        engine,
        [
            {"stock_quantity": 5, "price": Decimal("1")},
            {"stock_quantity": 0, "price": Decimal(5000)},
        ],
    )
    recompute_scores(engine, ScoringSpec(base=40, rules=rules), clock)
    assert scores(engine) == {"0": 100.0, "1": 0.0}


# The declared rules of specs/runner.yaml, on a seeded catalogue, against a reference.


MARKS = {"s1": NOW - 3 * DAY, "s2": NOW - 16 * DAY}  # s3: never listed completely


def reference_score(scoring: ScoringSpec, row: dict, now: datetime) -> float:
    """The rules computed in Python, row by row (the test's independent reference)."""
    price, cost = row["price"], row["cost_price"]
    margin = None
    if price is not None and cost is not None and price > 0:
        margin = ((price - cost) * 100 / price).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    synced = row["last_synced_at"]
    listed = row.get("last_seen_at") or MARKS.get(row["supplier_id"])
    seen = max((t for t in (synced, listed) if t is not None), default=None)
    metrics = {
        "stock": row["stock_quantity"],
        "price": price,
        "margin_pct": margin,
        "days_since_sync": None if synced is None else (now - synced) / DAY,
        "days_since_seen": None if seen is None else (now - seen) / DAY,
    }
    total = scoring.base
    for rule in scoring.rules:
        value = metrics[rule.metric]
        if value is None:
            continue
        if rule.min is not None and not value >= rule.min:
            continue
        if rule.max is not None and not value < rule.max:
            continue
        total += rule.points
    return max(0.0, min(100.0, total))


def seeded_catalogue(count: int, seed: int = 42) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        price = Decimal(rng.randint(0, 90000)) / 100 if rng.random() > 0.05 else None
        cost = (
            (price * Decimal(rng.randint(20, 100)) / 100).quantize(Decimal("0.01"))
            if price is not None and rng.random() > 0.1
            else None
        )
        rows.append(
            {
                "price": price,
                "cost_price": cost,
                "stock_quantity": rng.choice([None, 0, 1, 5, 49, 50, 51, 1000]),
                "last_synced_at": (
                    NOW - timedelta(hours=rng.randint(0, 24 * 40)) if rng.random() > 0.1 else None
                ),
                "last_seen_at": (
                    NOW - timedelta(hours=rng.randint(0, 24 * 20)) if rng.random() > 0.5 else None
                ),
                "supplier_id": rng.choice(["s1", "s2", "s3"]),
            }
        )
    return rows


def test_declared_rules_cover_every_product_deterministically(engine, clock):
    scoring = load_specs(ROOT / "specs").runner.scoring
    assert len(scoring.rules) >= 4
    rows = seeded_catalogue(1500)
    add_products(engine, rows)
    add_marks(engine, MARKS)

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        first = recompute_scores(engine, scoring, clock, batch_size=400)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    after_first = scores(engine)
    assert first == {"products": 1500, "updated": 1500}
    assert None not in after_first.values()  # every product has a score
    expected = {str(i): reference_score(scoring, row, NOW) for i, row in enumerate(rows)}
    assert after_first == pytest.approx(expected)
    assert all(0 <= s <= 100 for s in after_first.values())
    assert len(set(after_first.values())) > 5  # the rules really discriminate
    # Set-based: one UPDATE per batch of 400 products, never one per row.
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 4
    assert "CASE WHEN" in updates[0].upper()

    # Same data, same clock: identical scores, and nothing is rewritten.
    second = recompute_scores(engine, scoring, clock, batch_size=400)
    assert second == {"products": 1500, "updated": 0}
    assert scores(engine) == after_first


def test_scores_follow_the_clock(engine, clock):
    """Freshness depends on time only through the injected clock."""
    scoring = load_specs(ROOT / "specs").runner.scoring
    add_products(engine, [{"last_synced_at": NOW - DAY}])
    recompute_scores(engine, scoring, clock)
    fresh = scores(engine)["0"]
    clock.advance(days=20)
    recompute_scores(engine, scoring, clock)
    stale = scores(engine)["0"]
    rules = {r.name: r for r in scoring.rules}
    assert fresh - stale == rules["fresh"].points - rules["stale"].points


def test_empty_catalogue(engine, clock):
    assert recompute_scores(engine, ScoringSpec(base=10), clock) == {"products": 0, "updated": 0}
