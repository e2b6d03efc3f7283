"""External ids and names with SQL, quotes, COPY escapes, NUL bytes and emoji, through the CLI.

They are stored exactly as the supplier sent them, on SQLite and on Postgres (whose bulk
path is COPY, with its own escapes: `\\N`, `\\.`, tabs, backslashes). A NUL character or a
lone surrogate cannot be stored as text by Postgres (nor encoded as UTF-8): the runner
rejects such a record on both databases alike, with the reason, and the rest goes on. And
no value ever reaches the SQL text: every statement the sync runs is captured, and no
hostile value appears in any of them (they are all bound parameters).
"""

from __future__ import annotations

import json

from sqlalchemy import event, select

from runner.db.tables import activity_logs, sync_rejects
from runner.spec.load import load_specs
from runner.sync.engine import SyncRequest, run_sync
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import acme_project, add_acme, cli, products

HOSTILE = [
    "Robert'); DROP TABLE imported_products;--",
    "' OR '1'='1",
    '" OR ""="',
    "' UNION SELECT api_credentials FROM suppliers --",
    "1; DELETE FROM import_jobs WHERE 1=1",
    "%s %(name)s ? :name $1 {0}",
    "back\\slash \\' \\\\ end\\",
    "\\N",
    "\\.",
    "line\n\\.\nafter",
    "tab\there\tand\tthere",
    "CR\r\nLF",
    "emoji 🚀🛒 family 👨‍👩‍👧 flag 🇪🇸",
    "RTL \u202e override \u200b zero width",
    "ünïcödé 中文 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "E'\\\\x00' and \\x00 as text",
    "-- comment /* block */ ;",
    "  leading and trailing spaces  ",
    "x" * 255,
]
UNSTORABLE = {
    "nul in name": {"name": "before\x00after"},
    "nul in id": {"id": "AC-\x00-1"},
    "lone surrogate": {"name": "half \ud800 a pair"},
}


def hostile_server() -> CatalogServer:
    overrides = {}
    for n, value in enumerate(HOSTILE, start=1):
        overrides[n] = {"id": value, "name": value, "brand": value[:255], "sku": value[:255]}
    first_bad = len(HOSTILE) + 1
    for n, fields in enumerate(UNSTORABLE.values(), start=first_bad):
        overrides[n] = fields
    return CatalogServer(products=len(HOSTILE) + len(UNSTORABLE) + 20, overrides=overrides)


def test_hostile_values_are_stored_exactly_and_unstorable_ones_rejected(db_url, engine, make_specs):
    server = hostile_server().start()
    try:
        specs = acme_project(make_specs)
        add_acme(engine, "acme-1", server)
        args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
        done = cli(*args, "--specs", str(specs), "--database-url", db_url)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    totals = json.loads(done.stdout)["accounts"]["acme-1"]["totals"]
    stored = products(engine)
    assert totals["inserted"] == len(stored) == server.products - len(UNSTORABLE)
    assert totals["rejected"] == len(UNSTORABLE)
    for value in HOSTILE:
        row = stored[("user-a", "acme-1", value)]  # the external id, exactly
        assert row[1] == value  # name
        assert row[6] == value[:255]  # brand
        assert row[0] == value[:255]  # sku
    with engine.connect() as conn:
        rejects = conn.execute(select(sync_rejects)).all()
    assert len(rejects) == len(UNSTORABLE)
    for reject in rejects:
        assert "NUL" in reject.reason or "surrogate" in reject.reason, reject.reason
        assert reject.payload is not None  # the record is kept for a look, as JSON
    assert "Traceback" not in done.stderr


def test_every_value_is_bound_never_in_the_sql_text(engine, make_specs):
    server = hostile_server().start()
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        specs = load_specs(acme_project(make_specs))
        add_acme(engine, "acme-1", server)
        request = SyncRequest(user_id="user-a", sync_type="supplier_api")
        run_sync(engine, specs, request)
        run_sync(engine, specs, SyncRequest(user_id="user-a", sync_type="price_update"))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        server.stop()
    assert len(products(engine)) == server.products - len(UNSTORABLE)
    assert any("imported_products" in s for s in statements)
    markers = ["DROP TABLE", "UNION SELECT", "DELETE FROM import_jobs", "Robert", "🚀", "acme-1"]
    markers += ["user-a", "AC-000030", "Acme product"]
    for statement in statements:
        for marker in markers:
            assert marker not in statement, f"{marker!r} in SQL text: {statement[:300]}"


def test_an_error_body_with_nul_and_surrogates_fails_the_job_cleanly(db_url, engine, make_specs):
    """The supplier's error text reaches logs, activity_logs and import_jobs.errors."""
    body = b"down\x00for maintenance \xed\xa0\x80 " + "🚧".encode()
    server = CatalogServer(fail_all=True, error_body=body).start()
    try:
        specs = acme_project(make_specs)
        add_acme(engine, "acme-1", server)
        args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
        done = cli(*args, "--specs", str(specs), "--database-url", db_url)
    finally:
        server.stop()
    assert done.returncode == 1 and done.stdout, done.stderr[-2000:]
    error = json.loads(done.stdout)["accounts"]["acme-1"]["error"]
    assert "HTTP 503" in error and "gave up after 4 attempts" in error
    assert "Traceback" not in done.stderr
    with engine.connect() as conn:
        messages = conn.execute(select(activity_logs.c.message)).scalars().all()
    assert any("HTTP 503" in m and "down" in m for m in messages)
