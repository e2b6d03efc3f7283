"""The Connector API: templates, base URL overrides, lookups (batches, concurrency, 404),
id_of, counters, error hygiene."""

from __future__ import annotations

import pytest

from runner.connector import Account, Connector
from runner.errors import PermanentError
from runner.spec.model import AuthSpec
from tests.fakes.fixtures import fake_account
from tests.http.http_support import generic_spec


def test_templates_render_credentials_env_settings_and_integration(generic_server):
    server = generic_server(items=2, auth="api_key_header", api_key="env-api-key-77")
    spec = generic_spec(
        "{{ integration.shop_url }}",
        auth=AuthSpec("api_key", {"name": "X-Api-Key", "value": "{{ env.GENERIC_KEY }}"}),
        op={
            "path": "/all",
            "records": "data",
            "params": {
                "lang": "{{ settings.language | default('en') }}",
                "who": "{{ credentials.user }}",
                "flag": True,
                "size": 200,
            },
            "headers": {"X-Shop": "{{ integration.shop_url }}"},
        },
    )
    account = Account(
        "a",
        {"user": "acct-user"},
        {"language": "es"},
        integration={"shop_url": server.base_url},
    )
    with Connector(spec, account, env={"GENERIC_KEY": "env-api-key-77"}) as connector:
        (page,) = connector.list("op")
    assert len(page.records) == 2
    sent = server.requests[0]
    assert sent.query == {"lang": "es", "who": "acct-user", "flag": "true", "size": "200"}
    assert sent.headers["x-shop"] == server.base_url


def test_a_missing_template_variable_is_a_clear_permanent_error(generic_server):
    server = generic_server()
    spec = generic_spec(
        server.base_url,
        auth=AuthSpec("bearer", {"token": "{{ credentials.api_key }}"}),
        op={"path": "/all"},
    )
    with pytest.raises(PermanentError, match=r"generic: cannot render auth\.token: .*api_key"):
        Connector(spec, Account("a", {"other": "value-123456"}, {}))


def test_account_base_url_overrides_settings_and_spec(generic_server):
    server = generic_server(items=1)
    spec = generic_spec("https://api.example.invalid/rest", op={"path": "/all", "records": "data"})
    by_settings = Account("a", {}, {"base_url": server.base_url})
    with Connector(spec, by_settings) as connector:
        assert len(next(connector.list("op")).records) == 1
    by_field = Account("a", {}, {"base_url": "https://other.invalid"}, base_url=server.base_url)
    with Connector(spec, by_field) as connector:
        assert len(next(connector.list("op")).records) == 1


def test_lookup_one_request_per_id_with_404_as_no_data(generic_server):
    server = generic_server(items=5)
    spec = generic_spec(server.base_url, item={"path": "/items/{id}", "lookup": {"concurrency": 3}})
    with Connector(spec, Account("a", {}, {})) as connector:
        pages = list(connector.lookup("item", ["1", "2", "99", "", None, "5"]))
        assert connector.requests == 4  # blanks are skipped
    found = sorted(r["id"] for p in pages for r in p.records)
    assert found == [1, 2, 5]
    assert sum(1 for p in pages if not p.records) == 1  # 99 -> 404 -> empty page


def test_lookup_in_batches_joined_by_the_separator(generic_server):
    server = generic_server(items=20)
    spec = generic_spec(
        server.base_url,
        items={
            "path": "/items",
            "records": "data",
            "lookup": {"id_param": "ids", "batch_size": 4, "concurrency": 2},
        },
    )
    with Connector(spec, Account("a", {}, {})) as connector:
        pages = list(connector.lookup("items", range(1, 11)))
    assert sorted(r["id"] for p in pages for r in p.records) == list(range(1, 11))
    batches = sorted(r.query["ids"] for r in server.requests)
    assert batches == ["1,2,3,4", "5,6,7,8", "9,10"]


def _batched(server, path: str = "/items"):
    return generic_spec(
        server.base_url,
        items={"path": path, "records": "data", "lookup": {"id_param": "ids", "batch_size": 4}},
    )


def test_a_batched_lookup_that_finds_none_of_its_ids_is_an_error(generic_server):
    server = generic_server(items=5)
    with Connector(_batched(server), Account("a", {}, {})) as connector:
        # some ids found: the missing ones are simply not there
        pages = list(connector.lookup("items", ["1", "2", "77", "78"]))
        assert sorted(r["id"] for p in pages for r in p.records) == [1, 2]
        # a last batch of one id not found, after batches that found some: fine as well
        pages = list(connector.lookup("items", ["1", "2", "3", "4", "80"]))
        assert sorted(r["id"] for p in pages for r in p.records) == [1, 2, 3, 4]
        with pytest.raises(PermanentError) as error:
            list(connector.lookup("items", ["76", "77", "78", "79", "80"]))
    message = str(error.value)
    assert "generic.items: a lookup of 5 id(s) (one request: http://" in message
    assert "found none of them; check the account's URL" in message


def test_a_batched_lookup_answered_by_404_is_an_error(generic_server):
    server = generic_server(items=5)
    connector = Connector(_batched(server, "/no-such-route"), Account("a", {}, {}))
    with connector, pytest.raises(PermanentError, match=r"HTTP 404 for a lookup of 2 id\(s\)"):
        list(connector.lookup("items", ["1", "2"]))


def test_lookup_concurrency_is_bounded(generic_server):
    server = generic_server(items=8)
    server.faults.slow(0.1, times=8)
    spec = generic_spec(server.base_url, item={"path": "/items/{id}", "lookup": {"concurrency": 2}})
    with Connector(spec, Account("a", {}, {})) as connector:
        pages = list(connector.lookup("item", range(1, 9)))
    assert len(pages) == 8
    assert server.max_in_flight == 2


def test_lookup_batches_are_paginated_when_the_operation_paginates(shopify_server, bundled):
    server = shopify_server(orders=40)
    ids = [o for o in range(5601234567890, 5601234567890 + 40)]
    spec = bundled.connector("shopify")
    from dataclasses import replace

    op = spec.operations["orders"]
    small = replace(op, params={**op.params, "limit": 15}, lookup=replace(op.lookup, batch_size=30))
    spec = replace(spec, operations={"orders": small})
    with Connector(spec, fake_account(server)) as connector:
        pages = list(connector.lookup("orders", ids))
    # batch 1 (30 ids): pages of 15 + 15; batch 2 (10 ids): one page
    assert sorted(len(p.records) for p in pages) == [10, 15, 15]
    assert len({o["id"] for p in pages for o in p.records}) == 40


def test_lookup_errors_propagate_and_stop_the_fan_out(generic_server):
    server = generic_server(items=50, auth="bearer", token="right-token-123")
    spec = generic_spec(
        server.base_url,
        auth=AuthSpec("bearer", {"token": "wrong-token-456"}),
        item={"path": "/items/{id}", "lookup": {"concurrency": 2}},
    )
    with (
        Connector(spec, Account("a", {}, {})) as connector,
        pytest.raises(PermanentError, match="HTTP 401") as caught,
    ):
        list(connector.lookup("item", range(1, 51)))
    assert len(server.requests) < 50
    assert "wrong-token-456" not in str(caught.value)


def test_closing_a_lookup_early_cancels_pending_batches(generic_server):
    server = generic_server(items=50)
    spec = generic_spec(server.base_url, item={"path": "/items/{id}", "lookup": {"concurrency": 2}})
    with Connector(spec, Account("a", {}, {})) as connector:
        pages = connector.lookup("item", range(1, 51))
        next(pages)
        pages.close()
    assert len(server.requests) <= 6  # at most two rounds of two workers in flight


def test_id_of(bundled, generic_server):
    aliexpress = Connector(
        bundled.connector("aliexpress"),
        Account("a", {"app_key": "k1", "app_secret": "s1", "access_token": "t1"}, {}),
    )
    product = {"ae_item_base_info_dto": {"product_id": 1005006123456789}}
    assert aliexpress.id_of("product", product) == "1005006123456789"
    assert aliexpress.id_of("feed_items", 1005006123456789) == "1005006123456789"
    assert aliexpress.id_of("product", {"nothing": 1}) is None
    aliexpress.close()
    with pytest.raises(PermanentError, match="no operation 'nope'"):
        Connector(bundled.connector("bigbuy"), Account("b", {"api_key": "k"}, {})).id_of("nope", {})


def test_list_of_a_path_with_an_id_is_refused(generic_server):
    server = generic_server()
    spec = generic_spec(server.base_url, item={"path": "/items/{id}", "lookup": {}})
    with (
        Connector(spec, Account("a", {}, {})) as connector,
        pytest.raises(PermanentError, match="use lookup"),
    ):
        list(connector.list("item"))


def test_bundled_suppliers_stream_consistent_lists(bigbuy_server, bundled):
    """The parallel BigBuy lists share ids, and every list streams the whole catalogue."""
    server = bigbuy_server(products=1500, seed=3)
    with Connector(bundled.connector("bigbuy"), fake_account(server, rate_limit=False)) as c:
        ids = {
            name: [c.id_of(name, r) for p in c.list(name) for r in p.records]
            for name in ("products", "information", "images", "stock", "prices")
        }
    assert len(ids["products"]) == 1500
    assert all(values == ids["products"] for values in ids.values())
