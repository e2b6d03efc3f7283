"""The source filter: a list step that creates rows maps only the records whose source changed.

Each row keeps the `source_hash` of the record it was mapped from; the next sync hashes the
fetched records, asks the database which hashes differ (one statement per batch) and maps only
those. These tests count the records the product mapping really maps, on both databases.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
import yaml
from sqlalchemy import select

from runner.config import load_specs
from runner.db.tables import imported_products
from runner.db.write import TARGETS, writer_for
from runner.mapping import CompiledMapping, compile_mapping
from runner.sync.engine import SyncRequest, run_sync
from tests.fakes import catalog
from tests.sync.support import T0, EditedBigBuy, add_supplier, products_of

PRODUCTS = 25


@pytest.fixture
def mapped(monkeypatch) -> Counter:
    """mapping name -> records mapped one by one (the source filter maps this way)."""
    calls: Counter = Counter()
    original = CompiledMapping.map

    def counting(self, record):
        calls[self.name] += 1
        return original(self, record)

    monkeypatch.setattr(CompiledMapping, "map", counting)
    return calls


def products_step(engine, specs, sync_type="supplier_api", **request):
    result = run_sync(engine, specs, SyncRequest("user-a", sync_type, **request))
    assert result["accounts"]["bb"]["status"] == "ok", result["accounts"]["bb"]
    steps = result["accounts"]["bb"]["steps"]
    return steps.get("products") or steps.get("prices")


def counts(step):
    return tuple(step[k] for k in ("fetched", "inserted", "updated", "unchanged", "rejected"))


@pytest.fixture
def bigbuy(engine, start_server) -> EditedBigBuy:
    server = start_server(EditedBigBuy(products=PRODUCTS))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    return server


def test_unchanged_records_are_neither_mapped_nor_written(engine, specs, bigbuy, mapped):
    assert counts(products_step(engine, specs)) == (PRODUCTS, PRODUCTS, 0, 0, 0)
    assert mapped["bigbuy_product"] == PRODUCTS
    first = products_of(engine, "bb")
    assert all(row.source_hash and len(row.source_hash) == 32 for row in first.values())

    mapped.clear()
    assert counts(products_step(engine, specs)) == (PRODUCTS, 0, 0, PRODUCTS, 0)
    assert mapped["bigbuy_product"] == 0
    assert products_of(engine, "bb") == first

    # A field the mapping ignores changed: the record is mapped again, its row is not
    # rewritten (same content hash), and so its stored source hash stays the old one.
    ignored = catalog.bigbuy_id(4)
    bigbuy.edits[ignored] = {"dateUpdStock": "2026-11-30 10:00:00"}
    mapped.clear()
    assert counts(products_step(engine, specs)) == (PRODUCTS, 0, 0, PRODUCTS, 0)
    assert mapped["bigbuy_product"] == 1
    assert products_of(engine, "bb") == first

    # A mapped field changed: that record alone is mapped and its row rewritten.
    changed = catalog.bigbuy_id(7)
    bigbuy.edits[changed] = {"retailPrice": 321.5}
    mapped.clear()
    assert counts(products_step(engine, specs)) == (PRODUCTS, 0, 1, PRODUCTS - 1, 0)
    assert mapped["bigbuy_product"] == 2  # the ignored edit is still mapped each time
    after = products_of(engine, "bb")
    assert after[str(changed)].price == Decimal("321.50")
    assert after[str(changed)].source_hash != first[str(changed)].source_hash
    assert {k for k in after if after[k] != first[k]} == {str(changed)}


def test_a_changed_mapping_maps_every_record_again(engine, bigbuy, mapped, make_specs):
    specs_dir = make_specs()
    assert counts(products_step(engine, load_specs(specs_dir))) == (PRODUCTS, PRODUCTS, 0, 0, 0)

    mapping_file = specs_dir.parent / "mappings" / "bigbuy_product.yaml"
    data = yaml.safe_load(mapping_file.read_text(encoding="utf-8"))
    data["fields"]["currency"] = {"value": "USD"}
    mapping_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    mapped.clear()
    result = products_step(engine, load_specs(specs_dir))
    assert mapped["bigbuy_product"] == PRODUCTS
    assert counts(result) == (PRODUCTS, 0, PRODUCTS, 0, 0)
    assert {row.currency for row in products_of(engine, "bb").values()} == {"USD"}


def test_a_price_update_makes_the_next_full_sync_map_its_rows(engine, specs, bigbuy, mapped):
    products_step(engine, specs)
    changed = catalog.bigbuy_id(3)
    bigbuy.edits[changed] = {"retailPrice": 999.99}
    assert counts(products_step(engine, specs, "price_update"))[2] == 1
    row = products_of(engine, "bb")[str(changed)]
    assert row.content_hash is None and row.source_hash is None

    # The products list did not change since the full sync, but the row did: the full sync
    # maps it again and writes the list's values back (the fake's list carries the edit).
    mapped.clear()
    assert counts(products_step(engine, specs)) == (PRODUCTS, 0, 1, PRODUCTS - 1, 0)
    assert mapped["bigbuy_product"] == 1
    assert products_of(engine, "bb")[str(changed)].source_hash is not None


class EscapingBigBuy(EditedBigBuy):
    """Sends its lists as ASCII JSON, so that an edit may carry an unpaired surrogate."""

    def _list(self, name, query):
        reply = super()._list(name, query)
        if isinstance(reply.body, list):
            reply.body = json.dumps(reply.body).encode()
        return reply


def test_a_record_that_cannot_be_hashed_is_mapped_every_time(engine, specs, start_server, mapped):
    server = start_server(EscapingBigBuy(products=PRODUCTS))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
    odd = catalog.bigbuy_id(9)
    server.edits[odd] = {"partNumber": "PN-\ud800"}  # not UTF-8: no text to hash (not mapped)
    products_step(engine, specs)
    assert products_of(engine, "bb")[str(odd)].source_hash is None
    mapped.clear()
    assert counts(products_step(engine, specs)) == (PRODUCTS, 0, 0, PRODUCTS, 0)
    assert mapped["bigbuy_product"] == 1


def test_a_dry_run_counts_what_the_filter_leaves_out(engine, specs, bigbuy, mapped):
    products_step(engine, specs)
    bigbuy.edits[catalog.bigbuy_id(1)] = {"retailPrice": 12.34}
    mapped.clear()
    entries = []
    result = run_sync(
        engine,
        specs,
        SyncRequest("user-a", "supplier_api", dry_run=True),
        on_diff=entries.append,
    )
    dry = result["accounts"]["bb"]["steps"]["products"]
    assert counts(dry) == (PRODUCTS, 0, 1, PRODUCTS - 1, 0)
    assert mapped["bigbuy_product"] == 1
    products = [e for e in entries if e.step == "products"]
    assert [(e.kind, e.key, e.changes) for e in products] == [
        ("update", str(catalog.bigbuy_id(1)), {"price": (Decimal("164.28"), Decimal("12.34"))})
    ]
    assert counts(products_step(engine, specs)) == counts(dry)


def test_differing_returns_new_and_changed_keys_only(engine, specs):
    target = TARGETS["imported_products"]
    add_supplier(engine, "bb", "bigbuy")
    with engine.begin() as conn:
        for key, digest in (("a", "1" * 32), ("b", "2" * 32), ("c", None)):
            conn.execute(
                imported_products.insert().values(
                    user_id="user-a",
                    supplier_id="bb",
                    external_id=key,
                    source_hash=digest,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        # The same key of another user or supplier is not this scope's row.
        conn.execute(
            imported_products.insert().values(
                user_id="user-b",
                supplier_id="bb",
                external_id="d",
                source_hash="4" * 32,
                created_at=T0,
                updated_at=T0,
            )
        )
    keys = ["a", "b", "c", "d", "e"]
    digests = ["1" * 32, "9" * 32, "3" * 32, "4" * 32, "5" * 32]
    with engine.connect() as conn:
        differing = writer_for(conn).differing
        found = differing(
            conn, target, keys, digests, column="source_hash", user_id="user-a", account_id="bb"
        )
        assert sorted(found) == [(1, False), (2, False), (3, True), (4, True)]
        none = differing(conn, target, [], [], column="source_hash", user_id="u", account_id="s")
        assert none == []
        stored = conn.execute(select(imported_products.c.external_id)).scalars().all()
    assert sorted(stored) == ["a", "b", "c", "d"]


def test_source_hashes_ignore_key_order_and_follow_the_mapping(specs):
    mapping = compile_mapping(specs.mappings["bigbuy_product"])
    record = catalog.bigbuy_product(0, 1)
    reordered = dict(reversed(list(record.items())))
    keys, digests = mapping.source_hashes([record, reordered, {**record, "sku": "other"}, [1]])
    assert keys == [str(record["id"])] * 3 + [None]
    assert digests[0] == digests[1] != digests[2] and digests[3] is None
    narrower = compile_mapping(specs.mappings["bigbuy_product"], fields=["price"])
    assert narrower.source_hashes([record])[1][0] != digests[0]
