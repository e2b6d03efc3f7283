"""Every auth kind against a live local fake server."""

from __future__ import annotations

import threading

import httpx
import pytest

from runner.connector import Account, Connector
from runner.errors import PermanentError
from runner.http.auth import AuthContext, BasicAuth, Call
from runner.spec.model import AuthSpec
from tests.fakes.fixtures import fake_account
from tests.http.http_support import generic_spec

LIST_ALL = {"path": "/all", "records": "data"}
PAGES = {
    "path": "/pages",
    "records": "results",
    "paginate": {"type": "page_number", "page_param": "page", "size_param": "size", "size": 5},
}


def _connector(server, auth: AuthSpec, credentials: dict, **kwargs) -> Connector:
    spec = generic_spec(server.base_url, auth=auth, all=LIST_ALL, pages=PAGES)
    return Connector(spec, Account("a1", credentials, {}), **kwargs)


def test_none(generic_server):
    server = generic_server(items=4, auth="none")
    with _connector(server, AuthSpec("none"), {}) as connector:
        (page,) = connector.list("all")
    assert [r["id"] for r in page.records] == [1, 2, 3, 4]
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize("where", ["header", "query"])
def test_api_key(generic_server, where):
    server = generic_server(items=3, auth=f"api_key_{where}", api_key="canary-api-key-91")
    name = "X-Api-Key" if where == "header" else "api_key"
    auth = AuthSpec("api_key", {"name": name, "value": "{{ credentials.key }}", "in": where})
    with _connector(server, auth, {"key": "canary-api-key-91"}) as connector:
        (page,) = connector.list("all")
    assert len(page.records) == 3
    assert "canary-api-key-91" not in page.url
    if where == "query":
        assert server.requests[0].query["api_key"] == "canary-api-key-91"
        assert "api_key=***" in page.url
    else:
        assert server.requests[0].headers["x-api-key"] == "canary-api-key-91"

    with (
        _connector(server, auth, {"key": "wrong-api-key-00"}) as connector,
        pytest.raises(PermanentError, match="HTTP 401"),
    ):
        list(connector.list("all"))
        assert connector.requests == 1  # never retried


def test_bearer_against_bigbuy(bigbuy_server, bundled):
    server = bigbuy_server(products=3, api_key="canary-bigbuy-key-55")
    account = fake_account(server, rate_limit=False)
    with Connector(bundled.connector("bigbuy"), account) as connector:
        (page,) = connector.list("products")
    assert len(page.records) == 3
    assert server.requests[0].headers["authorization"] == "Bearer canary-bigbuy-key-55"

    bad = Account(
        "b", {"api_key": "wrong-bigbuy-key"}, {"rate_limit": False}, base_url=server.base_url
    )
    with (
        Connector(bundled.connector("bigbuy"), bad) as connector,
        pytest.raises(PermanentError, match="HTTP 401") as caught,
    ):
        list(connector.list("products"))
        assert connector.requests == 1
    assert "wrong-bigbuy-key" not in str(caught.value)


def test_basic(generic_server):
    server = generic_server(items=2, auth="basic", username="u-canary", password="p-canary-pw")
    auth = AuthSpec(
        "basic", {"username": "{{ credentials.user }}", "password": "{{ credentials.pw }}"}
    )
    with _connector(server, auth, {"user": "u-canary", "pw": "p-canary-pw"}) as connector:
        (page,) = connector.list("all")
    assert len(page.records) == 2
    assert server.requests[0].headers["authorization"].startswith("Basic ")


def test_basic_header_accepted_by_woocommerce_needs_no_fallback(woocommerce_server, bundled):
    server = woocommerce_server(orders=150)
    with Connector(bundled.connector("woocommerce"), fake_account(server)) as connector:
        pages = list(connector.list("orders"))
    assert [len(p.records) for p in pages] == [100, 50]
    assert [p.requests for p in pages] == [1, 1]
    assert all("consumer_key" not in r.query for r in server.requests)


def test_basic_falls_back_to_query_when_the_header_is_dropped(woocommerce_server, bundled):
    server = woocommerce_server(orders=150, drops_authorization=True, consumer_secret="cs_canary_9")
    with Connector(bundled.connector("woocommerce"), fake_account(server)) as connector:
        pages = list(connector.list("orders"))
    assert [len(p.records) for p in pages] == [100, 50]
    # the first page took the refused header request and the query retry; then query only
    assert [p.requests for p in pages] == [2, 1]
    assert "consumer_key" not in server.requests[0].query
    assert server.requests[1].query["consumer_secret"] == "cs_canary_9"
    assert all("cs_canary_9" not in p.url for p in pages)
    assert "consumer_secret=***" in pages[0].url


def test_basic_fallback_under_concurrent_lookups(woocommerce_server, bundled):
    server = woocommerce_server(orders=120, drops_authorization=True)
    ids = [727 + i for i in range(120)]
    spec = bundled.connector("woocommerce")
    from dataclasses import replace

    op = spec.operations["orders"]
    small = replace(op, lookup=replace(op.lookup, batch_size=20, concurrency=4))
    spec = replace(spec, operations={"orders": small})
    with Connector(spec, fake_account(server)) as connector:
        pages = list(connector.lookup("orders", ids))
    assert sorted(o["id"] for p in pages for o in p.records) == ids


def test_basic_fallback_with_wrong_secret_fails_after_two_requests(woocommerce_server, bundled):
    server = woocommerce_server(orders=5)
    account = fake_account(server)
    account.credentials["consumer_secret"] = "cs_wrong_secret"
    with (
        Connector(bundled.connector("woocommerce"), account) as connector,
        pytest.raises(PermanentError, match="Consumer secret is invalid") as caught,
    ):
        list(connector.list("orders"))
        assert connector.requests == 2
    assert "cs_wrong_secret" not in str(caught.value)


def test_basic_fallback_never_puts_secrets_in_a_plain_http_query_to_a_remote_host():
    context = AuthContext(fetch=lambda call: None, clock=lambda: 0.0, wall=lambda: 0.0)
    auth = BasicAuth({"username": "ck_x1", "password": "cs_x2", "fallback": "query"}, context)
    remote = Call("GET", httpx.URL("http://shop.example.com/wp-json/wc/v3/orders"))
    auth.apply(remote)
    assert auth.on_unauthorized(remote, httpx.Response(401)) is False
    secure = Call("GET", httpx.URL("https://shop.example.com/wp-json/wc/v3/orders"))
    auth.apply(secure)
    assert auth.on_unauthorized(secure, httpx.Response(401)) is True
    auth.apply(secure)
    assert secure.params == {"consumer_key": "ck_x1", "consumer_secret": "cs_x2"}
    assert "Authorization" not in secure.headers
    assert auth.on_unauthorized(secure, httpx.Response(401)) is False  # the query was refused


def _oauth_spec(server) -> AuthSpec:
    return AuthSpec(
        "oauth2_client_credentials",
        {
            "token_url": f"{server.base_url}/oauth/token",
            "client_id": "{{ credentials.client_id }}",
            "client_secret": "{{ credentials.client_secret }}",
            "scope": "read",
        },
    )


OAUTH_CREDENTIALS = {"client_id": "generic-client", "client_secret": "canary-client-secret-3"}


def test_oauth2_token_is_fetched_once_and_cached(generic_server, sleeper):
    server = generic_server(items=12, auth="oauth2", client_secret="canary-client-secret-3")
    with _connector(server, _oauth_spec(server), OAUTH_CREDENTIALS, clock=sleeper.clock) as c:
        pages = list(c.list("pages"))
        assert [len(p.records) for p in pages] == [5, 5, 2]
        token_calls = [r for r in server.requests if r.path == "/oauth/token"]
        assert len(token_calls) == 1
        assert token_calls[0].form["scope"] == "read"
        assert c.requests == 4  # one token request and three pages

        # the cached token expires (3600 s less a margin): the next call fetches a new one
        sleeper.now += 3600
        list(c.list("all"))
    assert len([r for r in server.requests if r.path == "/oauth/token"]) == 2


def test_oauth2_concurrent_lookups_share_one_token(generic_server):
    server = generic_server(items=20, auth="oauth2", client_secret="canary-client-secret-3")
    spec = generic_spec(
        server.base_url,
        auth=_oauth_spec(server),
        item={"path": "/items/{id}", "lookup": {"concurrency": 4}},
    )
    with Connector(spec, Account("a", OAUTH_CREDENTIALS, {})) as connector:
        pages = list(connector.lookup("item", range(1, 21)))
    assert sorted(p.records[0]["id"] for p in pages) == list(range(1, 21))
    assert len([r for r in server.requests if r.path == "/oauth/token"]) == 1


def test_oauth2_revoked_token_is_replaced_after_a_401(generic_server):
    server = generic_server(items=3, auth="oauth2", client_secret="canary-client-secret-3")
    with _connector(server, _oauth_spec(server), OAUTH_CREDENTIALS) as connector:
        list(connector.list("all"))
        server.issued.clear()  # the server revokes every token
        (page,) = connector.list("all")
        # token, call; then the refused call, a new token, the call again
        assert connector.requests == 5
    assert len(page.records) == 3
    assert page.requests == 2  # the refused call and the accepted one
    assert len([r for r in server.requests if r.path == "/oauth/token"]) == 2


def test_oauth2_wrong_client_secret_is_permanent(generic_server):
    server = generic_server(items=3, auth="oauth2")
    credentials = {"client_id": "generic-client", "client_secret": "wrong-client-secret"}
    with (
        _connector(server, _oauth_spec(server), credentials) as connector,
        pytest.raises(PermanentError, match="HTTP 401") as caught,
    ):
        list(connector.list("all"))
    assert "wrong-client-secret" not in str(caught.value)


def test_iop_signing_against_the_aliexpress_fake(aliexpress_server, bundled):
    server = aliexpress_server(products=5, access_token="canary-ae-token-4")
    with Connector(bundled.connector("aliexpress"), fake_account(server)) as connector:
        ids = [i for page in connector.list("feed_items") for i in page.records]
        pages = list(connector.lookup("product", ids))
    assert len(pages) == 5 and all(len(p.records) == 1 for p in pages)
    assert all(r.query["session"] == "canary-ae-token-4" for r in server.requests)
    assert all("canary-ae-token-4" not in p.url for p in pages)

    stale = fake_account(server)
    stale.credentials["access_token"] = "expired-ae-token"
    with (
        Connector(bundled.connector("aliexpress"), stale) as connector,
        pytest.raises(PermanentError, match="IllegalAccessToken"),
    ):
        list(connector.list("feed_items"))


def test_unknown_auth_kind_is_a_clear_error(generic_server):
    server = generic_server()
    with pytest.raises(PermanentError, match="unknown auth type 'hmac_md5'"):
        _connector(server, AuthSpec("hmac_md5"), {})


def test_token_fetch_is_thread_safe(generic_server):
    """Many threads asking for the token at once fetch it once."""
    server = generic_server(auth="oauth2", client_secret="canary-client-secret-3")
    with _connector(server, _oauth_spec(server), OAUTH_CREDENTIALS) as connector:
        auth = connector._auth
        threads = [threading.Thread(target=auth.token) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert auth.fetches == 1
