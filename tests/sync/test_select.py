"""Selection of known rows for lookup steps: staleness, status, tenancy, keyset chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from runner.db.tables import imported_products, orders
from runner.db.write import TARGETS
from runner.sync.select import known_keys

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def seed_products(engine):
    rows = []
    for n in range(25):
        synced = None if n % 5 == 0 else NOW - timedelta(hours=n)
        for user, supplier in (("u1", "s1"), ("u2", "s1"), ("u1", "s2")):
            rows.append(
                {
                    "user_id": user,
                    "supplier_id": supplier,
                    "external_id": f"{n:03d}",
                    "last_synced_at": synced,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
    with engine.begin() as conn:
        conn.execute(insert(imported_products), rows)


def test_stale_products_in_chunks(engine):
    seed_products(engine)
    target = TARGETS["imported_products"]
    chunks = list(
        known_keys(
            engine,
            target,
            user_id="u1",
            account_id="s1",
            synced_before=NOW - timedelta(hours=10),
            chunk_size=4,
        )
    )
    assert all(len(chunk) <= 4 for chunk in chunks)
    keys = [key for chunk in chunks for key in chunk]
    expected = [f"{n:03d}" for n in range(25) if n % 5 == 0 or n > 10]
    assert keys == expected

    every = [
        k
        for c in known_keys(engine, target, user_id="u1", account_id="s1", chunk_size=5)
        for k in c
    ]
    assert every == [f"{n:03d}" for n in range(25)]
    assert list(known_keys(engine, target, user_id="nobody", account_id="s1")) == []


def test_orders_by_status(engine):
    statuses = ["pending", "processing", "shipped", "delivered", "cancelled"]
    with engine.begin() as conn:
        conn.execute(
            insert(orders),
            [
                {
                    "user_id": user,
                    "integration_id": "i1",
                    "platform_order_id": str(700 + n),
                    "status": statuses[n % 5],
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(10)
                for user in ("u1", "u2")
            ],
        )
    keys = [
        k
        for chunk in known_keys(
            engine,
            TARGETS["orders"],
            user_id="u1",
            account_id="i1",
            status_in=("pending", "processing", "shipped"),
            chunk_size=2,
        )
        for k in chunk
    ]
    assert keys == ["700", "701", "702", "705", "706", "707"]
    # order_sync's selection: every status but the final ones, an unknown one included
    with engine.begin() as conn:
        conn.execute(
            orders.update()
            .where(orders.c.platform_order_id == "704", orders.c.user_id == "u1")
            .values(status="on_hold")
        )
    not_final = known_keys(
        engine,
        TARGETS["orders"],
        user_id="u1",
        account_id="i1",
        status_not_in=("delivered", "cancelled", "refunded", "failed"),
    )
    assert [k for chunk in not_final for k in chunk] == [*keys[:3], "704", *keys[3:]]
