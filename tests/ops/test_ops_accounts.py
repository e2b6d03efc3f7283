"""Accounts without SQL (runner.accounts): add, list, show, set, disable, and the offline
check, on SQLite and Postgres."""

from __future__ import annotations

import pytest

from runner.account_check import check_account
from runner.accounts import (
    AccountChange,
    AccountError,
    active_accounts_missing,
    add_account,
    get_account,
    list_accounts,
    set_account,
)
from runner.spec.load import load_specs
from tests.ops.support import ROOT

SPECS = load_specs(ROOT / "specs")


def add_bigbuy(engine, name="EU shop", **options):
    return add_account(
        engine,
        SPECS,
        user_id="u1",
        kind="supplier",
        spec_name="bigbuy",
        name=name,
        credentials={"api_key": {"env": "BB_TEST_KEY"}},
        **options,
    )


def test_add_list_show_set_disable(engine, monkeypatch):
    monkeypatch.delenv("BB_TEST_KEY", raising=False)
    eu = add_bigbuy(engine, account_id="aa-1")
    uk = add_bigbuy(engine, "UK shop", account_id="aa-2", mode="mock")
    shop = add_account(
        engine,
        SPECS,
        user_id="u2",
        kind="marketplace",
        spec_name="shopify",
        name="Main store",
        credentials={"access_token": "stored"},
        shop_url="https://main.example",
    )
    assert [a.id for a in list_accounts(engine, user_id="u1")] == ["aa-1", "aa-2"]
    assert [a.id for a in list_accounts(engine, kind="marketplace")] == [shop.id]
    assert get_account(engine, shop.id[:8]) == shop
    with pytest.raises(AccountError, match="several accounts"):
        get_account(engine, "aa-")
    with pytest.raises(AccountError, match="already has a bigbuy account named 'EU shop'"):
        add_bigbuy(engine)
    with pytest.raises(AccountError, match="needs --shop-url"):
        add_account(
            engine,
            SPECS,
            user_id="u1",
            kind="marketplace",
            spec_name="shopify",
            name="x",
            credentials={},
        )
    with pytest.raises(AccountError, match="did you mean 'bigbuy'"):
        add_account(
            engine,
            SPECS,
            user_id="u1",
            kind="supplier",
            spec_name="bigbuyy",
            name="x",
            credentials={},
        )
    # Only the live active account lacks its env variable (the mock one needs nothing).
    assert active_accounts_missing(engine, SPECS) == [
        "bigbuy account 'EU shop' needs env BB_TEST_KEY: not set"
    ]
    changed = set_account(
        engine,
        "aa-1",
        AccountChange(
            name="EU main",
            credentials={"api_key": "literal"},
            settings={"language": "es"},
        ),
    )
    assert (changed.name, changed.credentials, changed.settings) == (
        "EU main",
        {"api_key": "literal"},
        {"language": "es"},
    )
    cleared = set_account(engine, "aa-1", AccountChange(settings={"language": None}))
    assert cleared.settings == {}
    assert set_account(engine, eu.id, AccountChange(status="disabled")).status == "disabled"
    assert active_accounts_missing(engine, SPECS) == []
    with pytest.raises(AccountError, match="only a marketplace"):
        set_account(engine, uk.id, AccountChange(shop_url="https://x.example"))

    result = check_account(SPECS, uk)  # a mock account: the mock answers, no network
    assert result.ok and result.mode == "mock" and result.records == 1
    shop_check = check_account(SPECS, shop, offline=True)
    assert shop_check.ok, shop_check.line()


def test_a_live_check_spends_the_accounts_budget_like_a_job(engine):
    """`accounts check` takes its slot of the budget in the database: checks and jobs
    together never send more than the supplier allows (BigBuy: 10 an hour per endpoint)."""
    from runner.budgets import budget_usage
    from runner.clock import SystemClock
    from tests.fakes.bigbuy import BigBuyServer

    with BigBuyServer(products=3, api_key="bb-check-key") as server:
        account = add_bigbuy(engine, settings={"base_url": server.base_url})
        environ = {"BB_TEST_KEY": "bb-check-key"}
        result = check_account(SPECS, account, environ=environ, engine=engine)
        assert result.ok, result.line()
    used = {u.budget: u.used for u in budget_usage(engine, SystemClock().now(), account.id)}
    assert used == {"bigbuy/products": 1}
