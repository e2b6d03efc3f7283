"""The real CLI in subprocesses: `demo`, `sync` (with --dry-run) and `run-job --dry-run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from runner.db.tables import import_jobs, imported_products
from runner.queue import Queue
from tests.fakes import catalog
from tests.sync.support import EditedBigBuy, add_supplier, count, products_of

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def start_server():
    started = []

    def start(server):
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def test_demo_on_a_fresh_database_twice(blank_db_url):
    first = cli("demo", "--database-url", blank_db_url)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[1].split()[:3] == ["type", "supplier", "status"]
    table = {tuple(line.split()[:2]): line.split() for line in lines[3:15]}
    pushes = {
        (t, shop) for t in ("stock_push", "price_push") for shop in ("shopify", "woocommerce")
    }
    assert (
        set(table)
        == {
            (sync_type, supplier)
            for sync_type in ("supplier_api", "inventory_update", "price_update")
            for supplier in ("aliexpress", "bigbuy")
        }
        | {("order_sync", "shopify"), ("order_sync", "woocommerce")}
        | pushes
    )
    assert all(row[2] == "ok" for row in table.values())
    assert table[("supplier_api", "bigbuy")][3:5] == ["160", "40"]  # fetched, inserted
    assert table[("order_sync", "shopify")][3] == "24"  # 12 looked up + 12 in the changed list
    assert "70 products, 24 orders" in first.stdout

    second = cli("demo", "--database-url", blank_db_url)
    assert second.returncode == 0, second.stderr
    again = {tuple(line.split()[:2]): line.split() for line in second.stdout.splitlines()[3:15]}
    assert table[("stock_push", "woocommerce")][3:6] == ["70", "0", "70"]  # linked, -, sent
    assert all(again[push][5:7] == ["0", "70"] for push in pushes)  # nothing sent twice
    assert again[("supplier_api", "aliexpress")][3:6] == ["30", "0", "0"]
    assert all(row[4] == "0" for row in again.values())  # nothing inserted twice
    assert "70 products, 24 orders" in second.stdout


def test_sync_command_runs_and_previews(db_url, engine, start_server):
    server = start_server(EditedBigBuy(products=8))
    add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)

    done = cli("sync", "--user", "user-a", "--type", "supplier_api", "--database-url", db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split()[:5] == ["supplier_api", "bigbuy", "ok", "32", "8"]
    rows = products_of(engine, "bb")
    assert len(rows) == 8

    changed = catalog.bigbuy_id(4)
    server.edits[changed] = {"retailPrice": 77.7}
    preview = cli(
        "sync",
        "--user",
        "user-a",
        "--type",
        "price_update",
        "--dry-run",
        "--database-url",
        db_url,
    )
    assert preview.returncode == 0, preview.stderr
    old = rows[str(changed)].price
    assert f"~ bigbuy/prices {changed}  price: {old} -> 77.70" in preview.stdout.splitlines()
    assert "Dry run: nothing was written" in preview.stdout
    assert products_of(engine, "bb") == rows

    as_json = cli(
        "sync",
        "--user",
        "user-a",
        "--type",
        "price_update",
        "--dry-run",
        "--json",
        "--database-url",
        db_url,
    )
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["diff"] == [
        {
            "account": "bigbuy",
            "step": "prices",
            "kind": "update",
            "key": str(changed),
            "changes": {"price": [str(old), "77.70"]},
            "reason": None,
        }
    ]
    assert result["accounts"]["bb"]["steps"]["prices"]["updated"] == 1


def test_sync_command_exit_codes(db_url, engine, start_server):
    server = start_server(EditedBigBuy(products=3))
    add_supplier(
        engine, "bad", "bigbuy", base_url=server.base_url, credentials={"api_key": "not-the-key"}
    )
    unknown = cli("sync", "--user", "user-a", "--type", "nope", "--database-url", db_url)
    assert unknown.returncode == 2 and "unknown sync type 'nope'" in unknown.stderr
    missing = cli(
        "sync",
        "--user",
        "user-a",
        "--type",
        "supplier_api",
        "--account",
        "other",
        "--database-url",
        db_url,
    )
    assert missing.returncode == 2 and "has no supplier with id 'other'" in missing.stderr
    failed = cli("sync", "--user", "user-a", "--type", "supplier_api", "--database-url", db_url)
    assert failed.returncode == 1
    assert "failed" in failed.stdout and "not-the-key" not in failed.stdout + failed.stderr


def test_run_job_dry_run_shows_the_diff_and_hands_the_job_back(db_url, engine):
    add_supplier(engine, "bb", "bigbuy", mode="mock")
    job = Queue(engine).enqueue("user-a", "supplier_api", account_id="bb")
    done = cli("run-job", job.job_id, "--dry-run", "--database-url", db_url)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout[done.stdout.index("{") :])
    inserts = [entry for entry in result["diff"] if entry["kind"] == "insert"]
    assert len(inserts) == result["accounts"]["bb"]["steps"]["products"]["inserted"] == 40
    assert count(engine, imported_products) == 0
    with engine.connect() as conn:
        status = conn.execute(
            select(import_jobs.c.status).where(import_jobs.c.id == job.job_id)
        ).scalar_one()
    assert status == "pending"
