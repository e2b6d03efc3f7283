"""The operator's path of docs/operations.md ("Accounts"), with sync-runner commands only:
from an empty database to a synced live account, against the fake BigBuy and Shopify
servers, on SQLite and Postgres. Then a missing secret: named by `validate --accounts`
(exit 2) and by `run`, which fails only that account's job, with that line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from runner.db.tables import import_jobs, imported_products
from tests.fakes.bigbuy import BigBuyServer
from tests.fakes.shopify import ShopifyServer

pytestmark = pytest.mark.slow  # real CLI processes

API_KEY = "bb_live_5d4c3b2a19"
SHOP_TOKEN = "shpat_path_0123"


def cli(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BIGBUY", "SHOPIFY"))}
    environ.update(DATABASE_URL=db_url, **env)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fakes():
    with BigBuyServer(products=8, api_key=API_KEY) as bigbuy, ShopifyServer(orders=3) as shop:
        shop.access_token = SHOP_TOKEN
        yield bigbuy, shop


def add_bigbuy(db_url: str, base_url: str, name: str, env_name: str) -> str:
    added = cli(
        db_url,
        *("accounts", "add", "--user", "shop-1", "--supplier", "bigbuy", "--name", name),
        *("--credential", f"api_key=env:{env_name}"),
        *("--setting", f"base_url={base_url}", "--setting", "rate_limit=false", "--json"),
    )
    assert added.returncode == 0, added.stderr
    assert "warning" not in added.stderr  # a reference stores no secret
    return json.loads(added.stdout)["id"]


def test_from_zero_to_a_synced_live_account(db_url, engine, fakes):
    bigbuy, shop = fakes
    assert cli(db_url, "db", "upgrade").returncode == 0

    account = add_bigbuy(db_url, bigbuy.base_url, "EU shop", "BIGBUY_API_KEY")

    # The secret is not there yet: validate names it and exits 2; check says what failed.
    checked = cli(db_url, "validate", "--accounts")
    assert checked.returncode == 2
    assert "bigbuy account 'EU shop' needs env BIGBUY_API_KEY: not set" in checked.stdout
    result = cli(db_url, "accounts", "check", account[:8])
    assert result.returncode == 1
    assert result.stderr == (
        "failed: bigbuy account 'EU shop' (live): secret missing: "
        "needs env BIGBUY_API_KEY: not set\n"
    )
    result = cli(db_url, "accounts", "check", account[:8], BIGBUY_API_KEY="wrong-key")
    assert result.returncode == 1 and "auth refused" in result.stderr, result.stderr
    result = cli(db_url, "accounts", "check", account[:8], BIGBUY_API_KEY=API_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: bigbuy account 'EU shop' (live)")
    assert cli(db_url, "validate", "--accounts", BIGBUY_API_KEY=API_KEY).returncode == 0

    # A marketplace integration: a literal secret is stored, with a warning.
    added = cli(
        db_url,
        *("accounts", "add", "--user", "shop-1", "--marketplace", "shopify"),
        *("--name", "Main store", "--shop-url", shop.base_url),
        *("--credential", f"access_token={SHOP_TOKEN}", "--setting", "rate_limit=false"),
    )
    assert added.returncode == 0, added.stderr
    assert "warning: credential access_token is stored in the database" in added.stderr
    listed = json.loads(cli(db_url, "accounts", "list", "--user", "shop-1", "--json").stdout)
    assert [(a["kind"], a["spec"], a["name"]) for a in listed] == [
        ("supplier", "bigbuy", "EU shop"),
        ("marketplace", "shopify", "Main store"),
    ]
    assert listed[1]["credentials"] == {"access_token": "(stored value)"}
    assert SHOP_TOKEN not in cli(db_url, "accounts", "show", listed[1]["id"]).stdout
    result = cli(db_url, "accounts", "check", listed[1]["id"])
    assert result.returncode == 0, result.stderr

    # Enqueue and run: the catalogue lands.
    enqueued = cli(
        db_url, "enqueue", "--user", "shop-1", "--type", "supplier_api", "--account", account
    )
    assert enqueued.returncode == 0, enqueued.stderr
    ran = cli(db_url, "run", "--no-schedules", "--no-maintenance", BIGBUY_API_KEY=API_KEY)
    assert ran.returncode == 0, ran.stderr
    assert "1 completed" in ran.stdout
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(imported_products)) == 8

    # Rename, then disable: a disabled account is listed as such and skipped.
    renamed = cli(db_url, "accounts", "set", account[:8], "--name", "EU shop (main)", "--json")
    assert json.loads(renamed.stdout)["name"] == "EU shop (main)"
    assert cli(db_url, "accounts", "disable", account[:8]).returncode == 0
    shown = json.loads(cli(db_url, "accounts", "show", account, "--json").stdout)
    assert shown["status"] == "disabled"
    assert cli(db_url, "validate", "--accounts").returncode == 0  # disabled: not checked


def test_a_missing_secret_fails_only_that_accounts_job(db_url, engine, fakes):
    bigbuy, _ = fakes
    good = add_bigbuy(db_url, bigbuy.base_url, "EU shop", "BIGBUY_API_KEY")
    bad = add_bigbuy(db_url, bigbuy.base_url, "UK shop", "BIGBUY_UK_API_KEY")
    for account in (good, bad):
        enqueued = cli(
            db_url,
            "enqueue",
            "--user",
            "shop-1",
            "--type",
            "supplier_api",
            "--account",
            account,
            "--max-attempts",
            "1",
        )
        assert enqueued.returncode == 0, enqueued.stderr
    line = "bigbuy account 'UK shop' needs env BIGBUY_UK_API_KEY: not set"
    ran = cli(db_url, "run", "--no-schedules", "--no-maintenance", BIGBUY_API_KEY=API_KEY)
    assert ran.returncode == 0, ran.stderr
    assert line in ran.stderr  # named at the start of the run
    assert "Traceback" not in ran.stderr
    with engine.connect() as conn:
        jobs = {r.supplier_id: r for r in conn.execute(select(import_jobs))}
        assert conn.scalar(select(func.count()).select_from(imported_products)) == 8
    assert jobs[good].status == "completed"
    assert jobs[bad].status == "failed"
    assert line in json.dumps(jobs[bad].errors)
