"""Delisted products (sync type `on_missing`), on SQLite and Postgres.

A catalogue of 100 products is synced, then loses some: losing 5% marks exactly those rows
(stock 0, status delisted); losing 50% is refused by `max_missing_ratio` with the reason
recorded; a walk that ends early delists nothing; a product that comes back is restored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from runner.config import load_specs
from runner.db.tables import activity_logs
from runner.errors import JobFailed
from runner.sync import listed
from runner.sync.engine import SyncRequest, run_sync
from tests.fakes.base import FakeServer, Reply, Request
from tests.sync.support import add_supplier, products_of

SUPPLIER = """\
name: shelf
title: Shelf (delisting tests)
base_url: https://api.shelf.test
auth: {type: none}
retry: {max_attempts: 1}
operations:
  products:
    path: /products
    records: items
    paginate: {type: page_number, page_param: page, size_param: size, size: 20, total_path: total}
    mapping: shelf_product
syncs:
  supplier_api: [products]
"""
MAPPING = """\
name: shelf_product
target: imported_products
key: external_id
fields:
  external_id: {from: id, required: true}
  name: {from: name}
  stock_quantity: {from: stock, type: integer}
  status: {value: active}
"""


class Shelf(FakeServer):
    """`GET /products?page=&size=`: `{"items": [...], "total": N}` over `self.ids`; with
    `lie_total`, the total announced is larger than what is served (a truncated walk)."""

    name = "shelf"

    def __init__(self, count: int) -> None:
        super().__init__()
        self.ids = [f"S-{n:03d}" for n in range(1, count + 1)]
        self.lie_total = 0

    def handle(self, request: Request) -> Reply:
        page, size = int(request.query["page"]), int(request.query["size"])
        chunk = self.ids[(page - 1) * size : page * size]
        items = [{"id": i, "name": f"Product {i}", "stock": 7} for i in chunk]
        return Reply(200, {"items": items, "total": len(self.ids) + self.lie_total})


@pytest.fixture
def setup(engine, make_specs, start_server):
    specs_dir: Path = make_specs()
    (specs_dir / "suppliers" / "shelf.yaml").write_text(SUPPLIER)
    (specs_dir.parent / "mappings" / "shelf_product.yaml").write_text(MAPPING)
    specs = load_specs(specs_dir)
    server = start_server(Shelf(100))
    add_supplier(engine, "shelf", "shelf", base_url=server.base_url)
    return specs, server


def sync(engine, specs):
    result = run_sync(engine, specs, SyncRequest("user-a", "supplier_api"))
    return result["accounts"]["shelf"]["steps"]["products"]


def delisted(engine) -> set[str]:
    rows = products_of(engine, "shelf").values()
    return {r.external_id for r in rows if r.status == "delisted"}


def test_losing_five_percent_marks_exactly_those_rows_and_they_come_back(engine, setup):
    specs, server = setup
    assert sync(engine, specs)["on_missing"] == {"missing": 0, "delisted": 0}
    gone = server.ids[10:15]
    server.ids = [i for i in server.ids if i not in gone]

    step = sync(engine, specs)
    assert step["on_missing"] == {"missing": 5, "delisted": 5}
    assert delisted(engine) == set(gone)
    rows = products_of(engine, "shelf")
    assert all(rows[i].stock_quantity == 0 for i in gone)
    assert all(rows[i].stock_quantity == 7 and rows[i].status == "active" for i in server.ids)

    # Nothing new is missing: an already delisted row is not counted again.
    assert sync(engine, specs)["on_missing"] == {"missing": 0, "delisted": 0}

    server.ids = sorted(server.ids + gone[:2])  # two come back
    sync(engine, specs)
    assert delisted(engine) == set(gone[2:])
    rows = products_of(engine, "shelf")
    assert all(rows[i].stock_quantity == 7 and rows[i].status == "active" for i in gone[:2])


def test_losing_half_the_catalogue_is_refused_with_the_reason(engine, setup):
    specs, server = setup
    sync(engine, specs)
    server.ids = server.ids[:50]
    step = sync(engine, specs)
    assert step["status"] == "ok" and step["on_missing"]["delisted"] == 0
    reason = step["on_missing"]["refused"]
    assert reason.startswith("50 of 100 listed rows are missing from the listing (50%)")
    assert delisted(engine) == set()
    with engine.connect() as conn:
        logged = conn.execute(
            select(activity_logs).where(activity_logs.c.event == "step.delist_refused")
        ).one()
    assert logged.level == "warning" and reason in logged.message


def test_a_truncated_walk_delists_nothing(engine, setup):
    specs, server = setup
    sync(engine, specs)
    server.ids = server.ids[:95]
    server.lie_total = 5  # announces 100, serves 95: the walk ends short
    with pytest.raises(JobFailed) as failed:
        sync(engine, specs)
    assert "the walk ended after 95 of the 100 records announced" in failed.value.errors[0]["error"]
    assert delisted(engine) == set()


def test_keys_streamed_in_chunks_a_repeated_key_is_harmless(engine, setup, monkeypatch):
    """The listed keys go to the database every CHUNK keys (runner.sync.listed), not at the
    end: many chunks, and a key the listing returns twice, change nothing of the outcome."""
    monkeypatch.setattr(listed, "CHUNK", 7)
    specs, server = setup
    assert sync(engine, specs)["on_missing"] == {"missing": 0, "delisted": 0}
    gone = server.ids[40:45]
    server.ids = [i for i in server.ids if i not in gone] + server.ids[:3]  # 3 listed twice

    step = sync(engine, specs)
    assert step["on_missing"] == {"missing": 5, "delisted": 5}
    assert step["seen"] == {"missing": 5, "returned": 0}
    assert delisted(engine) == set(gone)

    server.ids = server.ids[:-3] + gone  # they come back; no repeats
    step = sync(engine, specs)
    assert step["on_missing"] == {"missing": 0, "delisted": 0}
    assert step["seen"] == {"missing": 0, "returned": 5}
    assert delisted(engine) == set()


def test_a_small_listing_writes_no_table_on_postgres_and_an_empty_one_is_refused(
    engine, setup, monkeypatch
):
    """Up to the writer's `inline_keys_limit` keys (Postgres), the keys go into the end's
    statements as one array: no temporary table is written. Past it, they go to the table.
    Both give the same outcome; a listing that returned nothing delists nothing."""
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    specs, server = setup
    gone = server.ids[60:63]
    sync(engine, specs)
    server.ids = [i for i in server.ids if i not in gone]
    statements.clear()
    step = sync(engine, specs)
    assert step["on_missing"] == {"missing": 3, "delisted": 3}
    tables = [s for s in statements if "sync_listed_" in s]
    assert bool(tables) is (engine.dialect.name == "sqlite")

    server.ids += gone  # they come back, through the table this time
    monkeypatch.setattr(listed, "CHUNK", 30)
    statements.clear()
    step = sync(engine, specs)
    assert step["seen"] == {"missing": 0, "returned": 3}
    assert delisted(engine) == set()
    assert any("sync_listed_" in s for s in statements)

    server.ids = []
    step = sync(engine, specs)
    assert step["on_missing"]["delisted"] == 0
    assert step["on_missing"]["refused"].startswith("100 of 100 listed rows are missing")
    assert delisted(engine) == set()
