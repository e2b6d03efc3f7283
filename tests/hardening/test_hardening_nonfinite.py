"""Non-finite numbers and secrets inside rejected records, through the CLI, on both databases.

A supplier that sends `NaN` or `Infinity` (what `1e999` parses to) as a price, a stock or
inside a JSON value gets that one record rejected with its reason; the other records are
stored, and the reject's payload is stored too (non-finite numbers as strings), on SQLite and
on Postgres alike (Postgres's JSON has no token for them). A supplier that echoes the API key
inside a rejected record does not get it stored: reject payloads and reasons are redacted like
every other output.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from runner.db.tables import sync_rejects
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import acme_project, add_acme, cli, products

BAD = {
    3: {"price": float("nan")},
    4: {"price": float("inf")},  # `Infinity`, as `1e999` parses
    5: {"stock": float("-inf")},
    6: {"cost": float("nan"), "note": "cost unknown"},
}


def _sync(db_url, make_specs, server) -> dict:
    specs = acme_project(make_specs)
    args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
    done = cli(*args, "--specs", str(specs), "--database-url", db_url)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)["accounts"]["acme-1"]


def test_non_finite_numbers_reject_their_record_and_the_payload_stores(db_url, engine, make_specs):
    server = CatalogServer(products=100, overrides=BAD).start()
    try:
        add_acme(engine, "acme-1", server)
        account = _sync(db_url, make_specs, server)
    finally:
        server.stop()
    assert account["totals"]["inserted"] == len(products(engine)) == 100 - len(BAD)
    assert account["totals"]["rejected"] == len(BAD)
    with engine.connect() as conn:
        rejects = {r.external_id: r for r in conn.execute(select(sync_rejects))}
    assert set(rejects) == {f"AC-{n:06d}" for n in BAD}
    assert rejects["AC-000003"].field == "price"
    assert rejects["AC-000005"].field == "stock_quantity"
    for reject in rejects.values():
        assert "not a finite number" in reject.reason, reject.reason
    assert rejects["AC-000003"].payload["price"] == "nan"
    assert rejects["AC-000004"].payload["price"] == "inf"
    assert rejects["AC-000005"].payload["stock"] == "-inf"
    assert rejects["AC-000006"].payload["note"] == "cost unknown"


def test_a_secret_echoed_in_a_rejected_record_is_not_stored(db_url, engine, make_specs):
    key = "catalog-test-key"
    echo = {
        "name": "",  # required: the record is rejected
        "description": f"your key is {key}",
        f"debug-{key}": {"url": f"https://api.acme.test/v1?api_key={key}&x=1", "k": [key]},
    }
    server = CatalogServer(products=10, overrides={2: echo, 3: {"price": f"{key}"}}).start()
    try:
        add_acme(engine, "acme-1", server)
        account = _sync(db_url, make_specs, server)
    finally:
        server.stop()
    assert account["totals"]["rejected"] == 2
    with engine.connect() as conn:
        rejects = {r.external_id: r for r in conn.execute(select(sync_rejects))}
    stored = json.dumps([[r.reason, r.payload] for r in rejects.values()])
    assert key not in stored
    assert rejects["AC-000002"].payload["description"] == "your key is ***"
    assert rejects["AC-000002"].payload["debug-***"]["k"] == ["***"]
    assert "***" in rejects["AC-000003"].reason
