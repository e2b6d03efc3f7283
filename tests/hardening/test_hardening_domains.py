"""Impossible values: a negative price, cost or stock, a 2 MB name, a sku longer than its column.

Each target column declares its domain (runner/spec/columns.py): price, cost and stock at
least 0, text no longer than the column. A record with a value outside it is rejected with
its reason, on SQLite and on Postgres alike (Postgres would refuse a VARCHAR overflow and
fail the whole batch; SQLite would store anything), unless the mapping's field says
`clamp: true`, in which case the value is raised to the minimum or cut to the length.
"""

from __future__ import annotations

import json

from sqlalchemy import String, select

from runner.db.tables import imported_products, orders, sync_rejects
from runner.spec.columns import COLUMN_DOMAINS, WRITABLE_COLUMNS
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import acme_project, add_acme, cli, products

IMPOSSIBLE = {
    2: ({"price": "-1.00"}, "price", "below the minimum of 0"),
    3: ({"cost": "-0.01"}, "cost_price", "below the minimum of 0"),
    4: ({"stock": -5}, "stock_quantity", "below the minimum of 0"),
    5: ({"name": "n" * 2_000_000}, "name", "longer than 1000 characters (2000000)"),
    6: ({"sku": "s" * 300}, "sku", "longer than 255 characters (300)"),
}


def _sync(db_url, specs) -> dict:
    args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
    done = cli(*args, "--specs", str(specs), "--database-url", db_url)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)["accounts"]["acme-1"]["totals"]


def _server() -> CatalogServer:
    return CatalogServer(products=30, overrides={n: v[0] for n, v in IMPOSSIBLE.items()})


def test_values_outside_their_domain_reject_the_record(db_url, engine, make_specs):
    server = _server().start()
    try:
        add_acme(engine, "acme-1", server)
        totals = _sync(db_url, acme_project(make_specs))
    finally:
        server.stop()
    assert totals["inserted"] == len(products(engine)) == 30 - len(IMPOSSIBLE)
    with engine.connect() as conn:
        rejects = {r.external_id: r for r in conn.execute(select(sync_rejects))}
    assert set(rejects) == {f"AC-{n:06d}" for n in IMPOSSIBLE}
    for n, (_, field, reason) in IMPOSSIBLE.items():
        reject = rejects[f"AC-{n:06d}"]
        assert (reject.field, reason in reject.reason) == (field, True), reject.reason
        assert len(reject.reason) < 200  # the value is shown short


def test_clamp_raises_to_the_minimum_and_cuts_to_the_length(db_url, engine, make_specs):
    specs = acme_project(make_specs)
    mapping = specs.parent / "mappings" / "acme_product.yaml"
    text = mapping.read_text()
    for name in ("name", "sku", "price", "cost_price", "stock_quantity"):
        head = f"  {name}: {{"
        assert head in text
        text = text.replace(head, head + "clamp: true, ")
    mapping.write_text(text)
    server = _server().start()
    try:
        add_acme(engine, "acme-1", server)
        totals = _sync(db_url, specs)
    finally:
        server.stop()
    assert totals["inserted"] == 30 and totals["rejected"] == 0
    stored = products(engine)
    row = {n: stored[("user-a", "acme-1", f"AC-{n:06d}")] for n in IMPOSSIBLE}
    assert str(row[2][3]) == "0.00" and str(row[3][4]) == "0.00"  # price, cost
    assert row[4][7] == 0  # stock
    assert row[5][1] == "n" * 1000 and row[6][0] == "s" * 255  # name, sku


def test_the_domains_match_the_tables():
    tables = {"imported_products": imported_products, "orders": orders}
    for target, columns in WRITABLE_COLUMNS.items():
        domains = COLUMN_DOMAINS[target]
        assert set(domains) <= columns
        for name in columns:
            column = tables[target].c[name]
            if isinstance(column.type, String) and column.type.length:
                assert domains[name].max_length == column.type.length, name
            elif column.type.__class__.__name__ == "Text":
                assert domains[name].max_length, f"{name}: a Text column needs a cap"
