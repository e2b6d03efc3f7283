"""Batched writes on SQLite and Postgres: counts, content hashes, tenancy, row checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from runner.db.tables import imported_products as products
from runner.db.tables import orders, sync_rejects
from runner.db.write import (
    TARGETS,
    RowPreparer,
    WriteBatch,
    insert_rejects,
    writer_for,
)

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
PRODUCTS = TARGETS["imported_products"]
COLUMNS = ["external_id", "sku", "name", "price", "image_urls", "stock_quantity"]


def product(n: int, *, price: str = "10.00", name: str | None = None) -> dict:
    row = {
        "external_id": str(n),
        "sku": f"SKU{n}",
        "name": name or f"Product {n}",
        "price": Decimal(price),
        "image_urls": [f"https://img/{n}.jpg"],
        "stock_quantity": n,
    }
    row["content_hash"] = f"h{n}-{price}-{row['name']}"
    return row


def upsert(
    engine, rows, *, user="u1", supplier="s1", now=T0, probe=True, expect_new=False, **flags
):
    with engine.begin() as conn:
        batch = WriteBatch(
            target=PRODUCTS,
            user_id=user,
            account_id=supplier,
            now=now,
            rows=rows,
            columns=COLUMNS,
            probe=probe,
            expect_new=expect_new,
            **flags,
        )
        return writer_for(conn).upsert(conn, batch)


def rows_of(engine, user="u1", supplier="s1"):
    with engine.connect() as conn:
        result = conn.execute(
            select(products)
            .where(products.c.user_id == user, products.c.supplier_id == supplier)
            .order_by(products.c.external_id)
        )
        return {row.external_id: row for row in result}


def test_upsert_inserts_then_only_changed_hashes(engine):
    counts = upsert(engine, [product(n) for n in range(1, 6)])
    assert (counts.inserted, counts.updated, counts.unchanged) == (5, 0, 0)

    counts = upsert(engine, [product(n) for n in range(1, 6)], now=T1)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 5)
    assert all(row.updated_at == T0 for row in rows_of(engine).values())

    changed = [product(n, price="12.50" if n in (2, 4) else "10.00") for n in range(1, 7)]
    counts = upsert(engine, changed, now=T1)
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 2, 3)
    rows = rows_of(engine)
    assert rows["2"].price == Decimal("12.50") and rows["2"].updated_at == T1
    assert rows["2"].created_at == T0 and rows["2"].last_synced_at == T1
    assert rows["1"].updated_at == T0 and rows["6"].created_at == T1
    assert rows["3"].image_urls == ["https://img/3.jpg"]


def test_upsert_without_the_probe_counts_and_writes_the_same(engine):
    # A first sync skips the probe of stored hashes; the upsert alone must still rewrite
    # only changed hashes and count exactly what it did.
    upsert(engine, [product(n) for n in range(1, 6)], probe=False)
    changed = [product(n, price="12.50" if n in (2, 4) else "10.00") for n in range(1, 8)]
    counts = upsert(engine, changed, now=T1, probe=False)
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 2, 3)
    rows = rows_of(engine)
    assert rows["2"].price == Decimal("12.50") and rows["2"].updated_at == T1
    assert rows["1"].updated_at == T0 and rows["1"].last_synced_at == T0
    assert rows["7"].created_at == T1 and len(rows) == 7


def test_upsert_expecting_new_rows_copies_them_or_falls_back_to_the_upsert(engine):
    # A first sync COPYs its batches straight into the table; when a key exists after all
    # (a key listed twice, another run in between), the batch is upserted as usual.
    counts = upsert(engine, [product(n) for n in range(1, 6)], probe=False, expect_new=True)
    assert (counts.inserted, counts.updated, counts.unchanged) == (5, 0, 0)
    rows = rows_of(engine)
    assert rows["3"].price == Decimal("10.00") and rows["3"].image_urls == ["https://img/3.jpg"]
    assert rows["3"].created_at == rows["3"].updated_at == rows["3"].last_synced_at == T0
    assert rows["3"].user_id == "u1" and rows["3"].content_hash == "h3-10.00-Product 3"

    changed = [product(n, price="12.50" if n in (2, 4) else "10.00") for n in range(1, 8)]
    counts = upsert(engine, changed, now=T1, probe=False, expect_new=True)
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 2, 3)
    rows = rows_of(engine)
    assert len(rows) == 7 and rows["2"].price == Decimal("12.50")
    assert rows["2"].created_at == T0 and rows["2"].updated_at == T1
    assert rows["1"].updated_at == T0 and rows["7"].created_at == T1

    # The same keys under another user are new there: copied, this user's rows untouched.
    counts = upsert(engine, changed, user="u2", now=T1, probe=False, expect_new=True)
    assert counts.inserted == 7 and len(rows_of(engine, user="u2")) == 7
    assert rows_of(engine) == rows


def test_upsert_marking_checked_moves_last_synced_at_of_unchanged_rows_only_of_this_account(
    engine,
):
    # A lookup step that creates rows marks every row it checked, changed or not, so that
    # the stale selection moves past them; other accounts' rows keep their time.
    upsert(engine, [product(n) for n in range(1, 4)])
    upsert(engine, [product(1)], supplier="s2")
    counts = upsert(engine, [product(n) for n in range(1, 4)], now=T1, mark_checked=True)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 3)
    rows = rows_of(engine)
    assert all(row.last_synced_at == T1 and row.updated_at == T0 for row in rows.values())
    assert rows_of(engine, supplier="s2")["1"].last_synced_at == T0


def test_writer_for_picks_the_database_and_targets_derive_from_one_definition(engine):
    from runner.db.tables import metadata
    from runner.spec.columns import TARGET_TABLES

    expected = {"postgresql": "PostgresWriter", "sqlite": "SqliteWriter"}[engine.dialect.name]
    assert type(writer_for(engine)).__name__ == expected
    assert set(TARGETS) == set(TARGET_TABLES)
    for name, spec in TARGET_TABLES.items():
        target = TARGETS[name]
        assert target.table is metadata.tables[name]
        assert (target.account_column, target.key_column) == (spec.account_column, spec.key_column)
        assert spec.key_column in spec.columns


def test_upsert_never_touches_another_user(engine):
    upsert(engine, [product(1), product(2)], user="userB")
    counts = upsert(engine, [product(1, price="99.00"), product(2)], user="userA")
    assert counts.inserted == 2
    counts = upsert(engine, [product(1, price="55.00")], user="userA", now=T1)
    assert counts.updated == 1
    b = rows_of(engine, user="userB")
    assert b["1"].price == Decimal("10.00") and b["1"].updated_at == T0
    assert rows_of(engine, user="userA")["1"].price == Decimal("55.00")


def update(engine, rows, columns, *, user="u1", supplier="s1", now=T1, **kwargs):
    with engine.begin() as conn:
        batch = WriteBatch(
            target=PRODUCTS,
            user_id=user,
            account_id=supplier,
            now=now,
            rows=rows,
            columns=columns,
            **kwargs,
        )
        return writer_for(conn).update(conn, batch)


def test_update_changes_only_distinct_values_and_never_inserts(engine):
    upsert(engine, [product(n) for n in range(1, 5)])
    upsert(engine, [product(1, price="77.00")], user="u2")  # same key, other user
    upsert(engine, [product(1, price="77.00")], supplier="s2")  # same key, other supplier
    rows = [
        {"external_id": "1", "price": Decimal("11.00")},
        {"external_id": "2", "price": Decimal("10.00")},  # unchanged
        {"external_id": "3", "price": None},  # set to NULL is a change
        {"external_id": "999", "price": Decimal("5.00")},  # unknown: never inserted
    ]
    counts = update(engine, rows, ["price"])
    assert (counts.updated, counts.unchanged, counts.unmatched) == (2, 1, 1)
    mine = rows_of(engine)
    assert "999" not in mine and len(mine) == 4
    assert mine["1"].price == Decimal("11.00") and mine["1"].updated_at == T1
    assert mine["3"].price is None
    assert mine["2"].updated_at == T0 and mine["2"].last_synced_at == T0
    assert mine["1"].content_hash == product(1)["content_hash"]  # clear_hash off
    assert rows_of(engine, user="u2")["1"].price == Decimal("77.00")
    assert rows_of(engine, supplier="s2")["1"].price == Decimal("77.00")

    counts = update(engine, rows, ["price"])
    assert (counts.updated, counts.unchanged, counts.unmatched) == (0, 3, 1)


def test_update_json_and_text_columns_mark_checked_and_clear_hash(engine):
    upsert(engine, [product(n) for n in range(1, 4)])
    rows = [
        {"external_id": "1", "image_urls": ["https://img/1.jpg"], "name": "Product 1"},
        {"external_id": "2", "image_urls": ["https://img/2b.jpg", "x"], "name": "Product 2"},
    ]
    counts = update(engine, rows, ["image_urls", "name"], mark_checked=True, clear_hash=True)
    assert (counts.updated, counts.unchanged, counts.unmatched) == (1, 1, 0)
    mine = rows_of(engine)
    assert mine["2"].image_urls == ["https://img/2b.jpg", "x"]
    assert mine["2"].content_hash is None and mine["2"].updated_at == T1
    assert mine["1"].last_synced_at == T1 and mine["1"].updated_at == T0  # checked only
    assert mine["1"].content_hash is not None
    assert mine["3"].last_synced_at == T0  # not looked up

    # A lookup step with no own column still marks the rows as checked.
    counts = update(engine, [{"external_id": "3"}], [], mark_checked=True, now=T1 + T1.resolution)
    assert (counts.updated, counts.unchanged) == (0, 1)
    assert rows_of(engine)["3"].last_synced_at == T1 + T1.resolution


def test_orders_update_by_integration(engine):
    now = T0
    with engine.begin() as conn:
        conn.execute(
            orders.insert(),
            [
                {
                    "user_id": user,
                    "integration_id": "i1",
                    "platform_order_id": "727",
                    "status": "processing",
                    "created_at": now,
                    "updated_at": now,
                }
                for user in ("u1", "u2")
            ],
        )
        batch = WriteBatch(
            target=TARGETS["orders"],
            user_id="u1",
            account_id="i1",
            now=T1,
            rows=[{"platform_order_id": "727", "status": "delivered", "tracking_number": "CX1"}],
            columns=["status", "tracking_number"],
        )
        counts = writer_for(conn).update(conn, batch)
        assert counts.updated == 1
        got = dict(conn.execute(select(orders.c.user_id, orders.c.status)).all())
    assert got == {"u1": "delivered", "u2": "processing"}


def test_preparer_fits_values_and_reports_problems():
    preparer = RowPreparer(PRODUCTS, ["external_id", "sku", "price", "stock_quantity"])
    rows, problems, duplicates = preparer.prepare(
        [
            {"external_id": 1, "sku": "a", "price": Decimal("1.005"), "stock_quantity": 3},
            {"external_id": "2", "sku": "x" * 300, "price": 1, "stock_quantity": 1},
            {"external_id": "3", "sku": "c", "price": "abc", "stock_quantity": 1},
            {"external_id": "4", "sku": "d", "price": 1, "stock_quantity": 2**40},
            {"external_id": None, "sku": "e"},
            {"external_id": "1", "sku": "b", "price": 2.5, "stock_quantity": 4},
        ]
    )
    assert duplicates == 1
    assert rows == [
        {
            "external_id": "1",
            "sku": "b",
            "price": Decimal("2.50"),
            "stock_quantity": 4,
        }
    ]
    reasons = {(p.key, p.field): p.reason for p in problems}
    assert reasons == {
        ("2", "sku"): "sku is longer than 255 characters (300)",
        ("3", "price"): "price is not a number: 'abc'",
        ("4", "stock_quantity"): f"stock_quantity is out of range: {2**40}",
        (None, "external_id"): "external_id is required (the column cannot be empty)",
    }


def test_preparer_trusts_mapping_types_but_checks_string_lengths():
    types = {"price": "decimal", "stock_quantity": "integer", "sku": "string", "name": "string"}
    preparer = RowPreparer(
        PRODUCTS, ["external_id", "sku", "name", "price", "stock_quantity"], types
    )
    assert [name for name, _ in preparer.checks] == []
    assert preparer.lengths == (("sku", 255, True),)
    rows, problems, _ = preparer.prepare(
        [
            {"external_id": "1", "sku": "a", "name": "n" * 10_000, "price": Decimal("1.50")},
            {"external_id": "2", "sku": "b" * 256, "name": "x", "price": Decimal("2.00")},
            {"external_id": "", "sku": "c"},
        ]
    )
    assert [row["external_id"] for row in rows] == ["1"]
    assert [(p.key, p.reason) for p in problems] == [
        ("2", "sku is longer than 255 characters (256)"),
        ("", "external_id is required (the column cannot be empty)"),
    ]


def test_fetch_existing_and_rejects(engine):
    upsert(engine, [product(1), product(2)])
    upsert(engine, [product(3)], user="other")
    with engine.begin() as conn:
        found = writer_for(conn).fetch_existing(
            conn, PRODUCTS, ["1", "3", "9"], user_id="u1", account_id="s1", columns=["price"]
        )
        assert found == {
            "1": {"external_id": "1", "content_hash": product(1)["content_hash"], "price": 10}
        }
        insert_rejects(
            conn,
            [
                {
                    "job_id": None,
                    "user_id": "u1",
                    "supplier_id": "s1",
                    "step": "products",
                    "external_id": "7",
                    "field": "price",
                    "reason": "price is required",
                    "payload": {"id": 7, "price": Decimal("1.5"), "when": T0},
                    "created_at": T0,
                }
            ],
        )
        payload = conn.execute(select(sync_rejects.c.payload)).scalar_one()
        assert payload == {"id": 7, "price": "1.5", "when": str(T0)}
        assert conn.execute(select(func.count()).select_from(products)).scalar_one() == 3
