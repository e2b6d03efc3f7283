"""Huge, deeply nested and non-JSON responses are refused with bounded memory, through the CLI.

Each hostile route of tests/hardening/hostile.py is one supplier account of one user; one
`sync` run covers them all next to a healthy account. Every hostile account fails (or
rejects its record) with a clear one-line reason, the healthy one syncs, nothing crashes,
and the process's peak memory stays within a small margin of a run with only the healthy
account, although the endless route would stream gigabytes if the client let it.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from runner.db.tables import sync_rejects
from tests.hardening.hostile import HOSTILE_ROUTES, CatalogServer
from tests.hardening.support import acme_project, add_acme, cli_peak_rss, products

CAP = 2_000_000  # max_response_bytes of the hostile accounts

EXPECTED = {  # account -> what its error (or reject) must say
    "endless": f"response body over the {CAP} byte limit",
    "declared": f"response body over the {CAP} byte limit ({10 * 1024**3}+ bytes)",
    "deep": "JSON nested too deeply",
    "deep-record": "missing required field",  # the record is rejected, its payload kept
    "html": "not JSON: HTML page: Login",
    "binary": "invalid JSON: 'utf-8' codec can't decode byte",
    "bigint": "invalid JSON: Exceeds the limit (4300 digits) for integer string conversion",
    "nan": "records rejected",  # NaN is no price: the record is rejected
    "scalar": "records path 'products' holds a str, not a list or an object",
    "trailing": 'not JSON (25 bytes, error at byte 17): {"products": []} <script>',
}


@pytest.fixture
def db_backend():
    return "sqlite"  # the client is the subject here, not the database


def test_hostile_bodies_fail_clearly_with_bounded_memory(db_url, engine, make_specs):
    assert set(EXPECTED) == set(HOSTILE_ROUTES)
    server = CatalogServer(products=20).start()
    try:
        specs = acme_project(make_specs)
        add_acme(engine, "healthy", server)
        args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
        args += ["--specs", str(specs), "--database-url", db_url]
        baseline, baseline_peak = cli_peak_rss(*args)
        assert baseline.returncode == 0, baseline.stderr

        for route in HOSTILE_ROUTES:
            add_acme(engine, route, server, route=route, max_response_bytes=CAP)
        done, peak = cli_peak_rss(*args)
    finally:
        server.stop()
    assert done.returncode == 1, done.stderr  # some accounts failed
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    accounts = result["accounts"]
    assert accounts["healthy"]["status"] == "ok"
    assert len(products(engine)) == 20

    with engine.connect() as conn:
        rejects = {r.supplier_id: r for r in conn.execute(select(sync_rejects))}
    for route, needle in EXPECTED.items():
        account = accounts[route]
        text = account["error"] or ""
        if route in rejects:
            text += " " + rejects[route].reason
        assert needle in text, f"{route}: {account}"
        assert account["status"] == "failed", route
        assert "\n" not in (account["error"] or "")
    # the 900-level record is kept whole as the reject's payload
    kept = rejects["deep-record"]
    assert kept.field == "external_id" and kept.payload["name"] == "no id"

    assert server.streamed < 64 * 1024**2  # the client hung up early, not at 2 GiB
    growth_mb = (peak - baseline_peak) / 1024
    assert growth_mb < 48, f"peak memory grew by {growth_mb:.0f} MB"
