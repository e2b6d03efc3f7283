"""Feed suppliers end to end, from the YAML of docs/specs.md alone, on SQLite and Postgres:
the real engine, real HTTP against the fake wholesaler, real gzip."""

from __future__ import annotations

import gzip
import json
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from runner.clock import FakeClock
from runner.connector import Account, Connector
from runner.db.tables import activity_logs, imported_products, listing_marks
from runner.sync.engine import SyncRequest, run_sync
from runner.sync.report import summary_rows
from tests.fakes.feeds import (
    csv_product,
    gzipped,
    wholesale_csv,
    wholesale_xml,
    xml_product,
    zipped,
)
from tests.feeds.support import rejects, rows, states, step, sync
from tests.sync.support import T0, add_supplier, last_seen

CSV_PATH = "/export/artikel.csv.gz"
XML_PATH = "/v2/catalogue.xml"
JSONL_PATH = "/v1/exports/products.jsonl.gz"


def add_grossmarkt(engine, feeds, supplier_id="gm"):
    return add_supplier(
        engine, supplier_id, "grossmarkt", base_url=feeds.base_url, credentials={"token": "k-77"}
    )


def written(engine) -> tuple[int, object]:
    """How many product rows there are and when the last one was written."""
    with engine.connect() as conn:
        return conn.execute(select(func.count(), func.max(imported_products.c.updated_at))).one()


@pytest.mark.slow
def test_a_200000_row_latin1_csv_with_decimal_commas_syncs_exactly(engine, feed_specs, feeds):
    n = 200_000
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(n)), content_type="application/gzip")
    add_grossmarkt(engine, feeds)

    result = sync(engine, feed_specs)

    catalogue = step(result, "gm", "catalogue")
    assert (catalogue["status"], catalogue["fetched"], catalogue["inserted"]) == ("ok", n, n)
    assert (catalogue["rejected"], catalogue["requests"]) == (0, 1)
    got = rows(engine, "gm")
    assert len(got) == n
    assert all(got[f"A{i:07d}"] == csv_product(i) for i in range(n))
    assert got["A0000003"]["name"] == 'Tisch Lüneburg 3; "Eiche"'  # quoted, Latin-1
    assert got["A0001498"]["price"] == Decimal("1000.36")  # written 1.000,36
    assert feeds.requests[0].query == {"kunde": "k-77"}  # the token from the credentials
    (state,) = states(engine, "gm")
    assert state["record_count"] == n and state["etag"] == feeds.files[CSV_PATH].etag


def test_an_unchanged_feed_is_asked_for_conditionally_and_writes_nothing(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(300)))
    add_grossmarkt(engine, feeds)
    assert step(sync(engine, feed_specs), "gm", "catalogue")["inserted"] == 300
    before, state, logs = written(engine), states(engine, "gm"), _activity(engine)

    again = sync(engine, feed_specs)

    catalogue = step(again, "gm", "catalogue")
    assert catalogue["status"] == "unchanged"
    assert "HTTP 304" in catalogue["reason"]
    assert catalogue["fetched"] == catalogue["inserted"] == catalogue["updated"] == 0
    assert again["accounts"]["gm"]["status"] == "ok"
    (summary,) = summary_rows(again, sync_type="supplier_api")
    assert summary["status"] == "ok (feed unchanged)"
    assert feeds.conditional()[-1] == {"if-none-match": feeds.files[CSV_PATH].etag}
    assert written(engine) == before
    assert states(engine, "gm") == state  # not even the state is rewritten
    assert _activity(engine)[len(logs) :] == ["step.unchanged", "job.finished"]


@pytest.mark.parametrize("etag", [True, False], ids=["304", "same-body"])
def test_an_unchanged_feed_confirms_the_listing_every_product_is_seen_now(
    engine, feed_specs, feeds, etag
):
    """The supplier confirmed its whole catalogue: the account's listing mark moves, and
    every product reads as seen now, without a product row written (runner.sync.seen)."""
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(300)), etag=etag)
    add_grossmarkt(engine, feeds)
    clock = FakeClock(T0)
    request = SyncRequest(user_id="user-a", sync_type="supplier_api")
    assert step(run_sync(engine, feed_specs, request, clock=clock), "gm", "catalogue")["inserted"]
    before = written(engine)
    clock.advance(days=2)

    catalogue = step(run_sync(engine, feed_specs, request, clock=clock), "gm", "catalogue")

    assert catalogue["status"] == "unchanged"
    assert written(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(listing_marks.c.listed_at)).scalars().all() == [clock.now()]
    assert set(last_seen(engine, "gm").values()) == {clock.now()}


def _activity(engine) -> list[str]:
    with engine.connect() as conn:
        query = select(activity_logs.c.event).order_by(activity_logs.c.id)
        return list(conn.execute(query).scalars())


def test_a_changed_feed_updates_exactly_what_changed(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(500)))
    add_grossmarkt(engine, feeds)
    sync(engine, feed_specs)
    lines = wholesale_csv(500).decode("latin-1").split("\r\n")
    cells = lines[8].split(";")  # product 7
    cells[5] = "99,99"  # its cost
    lines[8] = ";".join(cells)
    feeds.publish(CSV_PATH, gzipped("\r\n".join(lines).encode("latin-1")))

    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")

    assert feeds.conditional()[-1] != {}  # asked conditionally, got the new file
    assert (catalogue["status"], catalogue["fetched"], catalogue["updated"]) == ("ok", 500, 1)
    assert catalogue["unchanged"] == 499
    assert rows(engine, "gm")["A0000007"]["cost_price"] == Decimal("99.99")


def test_without_validators_the_body_hash_tells_it_is_unchanged(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(200)), etag=False)
    add_grossmarkt(engine, feeds)
    assert step(sync(engine, feed_specs), "gm", "catalogue")["inserted"] == 200
    before = written(engine)

    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")

    assert catalogue["status"] == "unchanged"
    assert "same body" in catalogue["reason"]
    assert feeds.conditional()[-1] == {}
    assert written(engine) == before

    feeds.publish(CSV_PATH, gzipped(wholesale_csv(201)), etag=False)
    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")
    assert (catalogue["status"], catalogue["inserted"], catalogue["unchanged"]) == ("ok", 1, 200)


def test_last_modified_alone_makes_the_request_conditional(engine, feed_specs, feeds):
    file = feeds.publish(CSV_PATH, gzipped(wholesale_csv(50)), etag=False, last_modified=True)
    add_grossmarkt(engine, feeds)
    sync(engine, feed_specs)
    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")
    assert catalogue["status"] == "unchanged"
    assert feeds.conditional()[-1] == {"if-modified-since": file.last_modified}


def test_a_much_shorter_feed_is_refused_as_truncated(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(1000)))
    add_grossmarkt(engine, feeds)
    sync(engine, feed_specs)
    (kept,) = states(engine, "gm")
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(400)))

    result = sync(engine, feed_specs)

    assert result["failed"] is True
    error = result["accounts"]["gm"]["error"]
    assert "truncated listing refused: 400 records" in error
    assert "last complete feed had 1000" in error
    assert result["errors"][0]["step"] == "catalogue"
    assert states(engine, "gm") == [kept]  # the short feed is not remembered
    assert len(rows(engine, "gm")) == 1000
    # the next full feed goes through, compared with the last complete one
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(990)))
    assert step(sync(engine, feed_specs), "gm", "catalogue")["status"] == "ok"


def test_malformed_rows_are_rejected_with_their_line_and_the_rest_goes_on(
    engine, feed_specs, feeds
):
    lines = wholesale_csv(100).decode("latin-1").split("\r\n")
    lines[10] = "A0000009;4000000000009;kurz"  # 3 cells
    lines[20] += ";zu viel"  # 11 cells
    cells = lines[30].split(";")
    cells[5] = "16,8x"  # a cost that is no number: the mapping rejects it
    lines[30] = ";".join(cells)
    lines[-1] = 'A9999990;1;"a quote never closed;x'
    feeds.publish(CSV_PATH, gzipped("\r\n".join(lines).encode("latin-1")))
    add_grossmarkt(engine, feeds)

    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")

    assert (catalogue["status"], catalogue["fetched"]) == ("ok", 101)
    assert (catalogue["inserted"], catalogue["rejected"]) == (97, 4)
    found = rejects(engine, "gm")
    reasons = [r["reason"] for r in found]
    assert reasons[:2] == [
        "line 11: 3 fields where the header has 10",
        "line 21: 11 fields where the header has 10",
    ]
    assert found[0]["payload"] == {"line": 11, "text": "A0000009;4000000000009;kurz"}
    assert "expected a decimal, got '16,8x'" in reasons
    assert any(r.startswith("line 102: malformed CSV") for r in reasons)
    assert len(rows(engine, "gm")) == 97


def test_an_xml_feed_with_a_namespace_attributes_and_nested_elements(engine, feed_specs, feeds):
    n = 500
    feeds.publish(
        XML_PATH, wholesale_xml(n), content_type="application/xml", etag=False, last_modified=True
    )
    add_supplier(
        engine,
        "lu",
        "lumen",
        base_url=feeds.base_url,
        credentials={"user": "shop", "password": "s3cret"},
    )

    result = sync(engine, feed_specs)

    catalogue = step(result, "lu", "catalogue")
    assert (catalogue["status"], catalogue["inserted"], catalogue["rejected"]) == ("ok", n, 0)
    got = rows(engine, "lu")
    assert {key: got[key] for key in got} == {f"X-{i}": xml_product(i) for i in range(n)}
    assert got["X-0"]["currency"] == "CHF" and got["X-1"]["image_urls"] == [
        "https://img.example/1/0.jpg",
        "https://img.example/1/1.jpg",
    ]
    assert got["X-3"]["name"] == "Lampe Nr. 3 <Messing> & Glas"
    assert feeds.requests[0].headers["authorization"].startswith("Basic ")
    assert step(sync(engine, feed_specs), "lu", "catalogue")["status"] == "unchanged"


def test_a_jsonl_feed_in_a_zip_with_a_bad_line(engine, feed_specs, feeds):
    lines = [
        json.dumps(
            {
                "id": 70000 + i,
                "sku": f"PC-{i}",
                "title": f"Cable {i}",
                "cost": 1.5 + i,
                "price": "3.10",
                "stock": i,
                "images": [f"https://cdn.example/{i}.jpg"],
                "active": i % 2 == 0,
            }
        )
        for i in range(40)
    ]
    lines.insert(5, '{"id": 1, "sku": ')
    body = zipped(("\n".join(lines) + "\n").encode(), "products.jsonl")
    feeds.publish(JSONL_PATH, body, content_type="application/zip")
    add_supplier(engine, "pc", "parcelo", base_url=feeds.base_url, credentials={"api_key": "t"})

    export = step(sync(engine, feed_specs), "pc", "export")

    assert (export["status"], export["inserted"], export["rejected"]) == ("ok", 40, 1)
    (reject,) = rejects(engine, "pc")
    assert reject["reason"].startswith("line 6: not JSON")
    got = rows(engine, "pc")
    assert got["70003"]["cost_price"] == Decimal("4.50")
    assert got["70003"]["status"] == "inactive" and got["70004"]["status"] == "active"
    assert got["70003"]["image_urls"] == ["https://cdn.example/3.jpg"]
    assert feeds.requests[0].headers["authorization"] == "Bearer t"


def test_a_gzip_content_encoding_is_undone(engine, feed_specs, feeds):
    body = "\n".join(
        json.dumps({"id": i, "sku": f"S{i}", "title": "T", "cost": 2, "price": 3, "stock": 1})
        for i in range(30)
    ).encode()
    feeds.publish(JSONL_PATH, gzip.compress(body), content_encoding="gzip")
    add_supplier(engine, "pc", "parcelo", base_url=feeds.base_url, credentials={"api_key": "t"})
    export = step(sync(engine, feed_specs), "pc", "export")
    assert (export["status"], export["inserted"]) == ("ok", 30)


def test_a_server_error_before_the_body_is_retried(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(20)))
    feeds.faults.server_errors(1, status=503)
    add_grossmarkt(engine, feeds)
    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")
    assert (catalogue["status"], catalogue["inserted"], catalogue["requests"]) == ("ok", 20, 2)


def test_a_body_cut_short_fails_the_step_as_transient_and_is_not_remembered(
    engine, feed_specs, feeds
):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(2000)))
    feeds.faults.truncate()
    add_grossmarkt(engine, feeds)

    result = sync(engine, feed_specs)

    assert result["failed"] is True
    assert "the compressed feed ends early (truncated)" in result["accounts"]["gm"]["error"]
    assert result["errors"][0]["transient"] is True  # the queue tries the job again
    assert states(engine, "gm") == []
    first = len(rows(engine, "gm"))  # the rows read before the cut are written (upserts)
    catalogue = step(sync(engine, feed_specs), "gm", "catalogue")
    assert (catalogue["status"], catalogue["inserted"]) == ("ok", 2000 - first)
    assert len(rows(engine, "gm")) == 2000
    assert states(engine, "gm")[0]["record_count"] == 2000


def test_an_xml_feed_without_the_record_element_is_refused_not_empty(engine, feed_specs, feeds):
    other = (
        wholesale_xml(5).replace(b"w:product ", b"w:article ").replace(b"w:product>", b"w:article>")
    )
    feeds.publish(XML_PATH, other, content_type="application/xml")
    add_supplier(
        engine, "lu", "lumen", base_url=feeds.base_url, credentials={"user": "u", "password": "p"}
    )
    result = sync(engine, feed_specs)
    assert result["failed"] is True
    assert (
        "the feed holds no records; no element matched record: 'products/product'"
        in (result["accounts"]["lu"]["error"])
    )
    assert states(engine, "lu") == []


def test_a_dry_run_reads_the_feed_and_remembers_nothing(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzipped(wholesale_csv(40)))
    add_grossmarkt(engine, feeds)
    seen: list = []

    result = sync(engine, feed_specs, dry_run=True, on_diff=seen.append)

    assert step(result, "gm", "catalogue")["inserted"] == 40
    assert len(seen) == 40 and rows(engine, "gm") == {} and states(engine, "gm") == []
    assert step(sync(engine, feed_specs), "gm", "catalogue")["inserted"] == 40
    again = sync(engine, feed_specs, dry_run=True, on_diff=seen.append)
    assert step(again, "gm", "catalogue")["status"] == "unchanged"


def test_records_are_handed_on_while_the_body_is_still_arriving(feed_specs, feeds):
    body = gzipped(wholesale_csv(5000))
    feeds.publish(CSV_PATH, body, hold_after=len(body) // 2)
    account = Account("gm", {"token": "t"}, {"base_url": feeds.base_url, "rate_limit": False})
    with Connector(feed_specs.suppliers["grossmarkt"], account) as connector:
        pages = connector.list("catalogue")
        started = time.monotonic()
        first = next(pages)  # the server holds the second half of the file for 30 s
        assert time.monotonic() - started < 10
        assert len(first.records) == 1000 and first.records[0]["Artikelnummer"] == "A0000000"
        feeds.release.set()
        assert sum(len(page.records) for page in pages) == 4000
