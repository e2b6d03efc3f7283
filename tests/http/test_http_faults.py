"""Fault handling: retries, stated delays, permanent errors, broken bodies, envelopes.

Every test sleeps through a recording `sleep`, so the delays are checked, not waited.
"""

from __future__ import annotations

import email.utils
import json
import random

import httpx
import pytest

from runner.connector import Account, Connector
from runner.errors import PermanentError, RetryLater, TransientError
from runner.http.auth import Call
from runner.http.client import HttpClient, parse_json
from runner.spec.model import AuthSpec, ResponseSpec, RetrySpec, TimeoutSpec
from tests.fakes.fixtures import fake_account
from tests.http.http_support import generic_spec, with_retry

KEY = "canary-fault-key-8d1"
ALL = {"path": "/all", "records": "data"}


def _generic(server, sleeper, **kwargs) -> Connector:
    auth = AuthSpec("api_key", {"name": "api_key", "value": KEY, "in": "query"})
    spec = generic_spec(server.base_url, auth=auth, all=ALL)
    if kwargs:
        spec = with_retry(spec, **kwargs)
    return Connector(spec, Account("a", {"key": KEY}, {}), sleep=sleeper, clock=sleeper.clock)


def _assert_clean(error: Exception) -> None:
    text = str(error)
    assert KEY not in text and "\n" not in text
    assert "api_key=***" in text  # the URL is named, its secret masked


def test_429_with_retry_after_is_retried_after_the_stated_delay(shopify_server, bundled, sleeper):
    server = shopify_server(orders=5)
    server.faults.rate_limit(retry_after=2)
    account = fake_account(server)
    with Connector(bundled.connector("shopify"), account, sleep=sleeper, clock=sleeper.clock) as c:
        (page,) = c.list("orders")
    assert len(page.records) == 5
    assert page.requests == 2
    assert sleeper.calls == [2.0]


def test_bigbuy_text_429_waits_until_x_ratelimit_reset(bigbuy_server, bundled, sleeper):
    server = bigbuy_server(products=3)
    server.faults.rate_limit(retry_after=3)
    account = fake_account(server, rate_limit=False)
    with Connector(bundled.connector("bigbuy"), account, sleep=sleeper, clock=sleeper.clock) as c:
        (page,) = c.list("products")
    assert len(page.records) == 3
    assert server.requests[0].path == server.requests[1].path
    (delay,) = sleeper.calls
    assert 2.0 <= delay <= 4.0  # epoch seconds rounded up, minus the wall clock now


def test_reset_header_exactly_with_an_injected_wall_clock(bigbuy_server):
    server = bigbuy_server(products=2, wall=lambda: 1736942395.0)
    server.faults.rate_limit(retry_after=5)
    waits: list[float] = []
    client = HttpClient(
        name="bigbuy",
        response=ResponseSpec(rate_limit_reset_header="X-Ratelimit-Reset"),
        sleep=waits.append,
        wall=lambda: 1736942395.0,
    )
    url = httpx.URL(f"{server.base_url}/catalog/products.json?page=0&pageSize=10")
    call = Call("GET", url, headers={"Authorization": f"Bearer {server.api_key}"})
    response = client.request(call)
    client.close()
    assert len(response.data) == 2
    assert waits == [5.0]  # X-Ratelimit-Reset: 1736942400


def test_retry_after_as_an_http_date(generic_server):
    server = generic_server(items=1)
    now = 1736942395.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    server.faults.add("status", status=503, body={"error": "busy"}, headers={"Retry-After": date})
    waits: list[float] = []
    client = HttpClient(name="generic", sleep=waits.append, wall=lambda: now)
    response = client.request(Call("GET", httpx.URL(f"{server.base_url}/all")))
    client.close()
    assert response.data["data"] == [{"id": 1, "name": "Item 1"}]
    assert waits == [7.0]


def test_a_long_stated_wait_defers_the_job(shopify_server, bundled, sleeper):
    server = shopify_server(orders=2)
    server.faults.rate_limit(retry_after=900)
    account = fake_account(server)
    with (
        Connector(bundled.connector("shopify"), account, sleep=sleeper, clock=sleeper.clock) as c,
        pytest.raises(RetryLater) as caught,
    ):
        list(c.list("orders"))
    assert caught.value.delay_seconds == 900
    assert sleeper.calls == []


def test_still_rate_limited_on_the_last_attempt_defers_the_job(shopify_server, bundled, sleeper):
    server = shopify_server(orders=2)
    server.faults.rate_limit(retry_after=2, times=5)
    account = fake_account(server)
    spec = bundled.connector("shopify")
    with (
        Connector(spec, account, sleep=sleeper, clock=sleeper.clock) as c,
        pytest.raises(RetryLater, match="still rate limited after 5 attempts") as caught,
    ):
        list(c.list("orders"))
    assert caught.value.delay_seconds == 2.0
    assert sleeper.calls == [2.0] * 4
    assert server.access_token not in str(caught.value)


def test_a_long_aliexpress_ban_defers_the_job(aliexpress_server, bundled, sleeper):
    server = aliexpress_server(products=2)
    server.faults.rate_limit(retry_after=600)
    spec = bundled.connector("aliexpress")
    with (
        Connector(spec, fake_account(server), sleep=sleeper) as c,
        pytest.raises(RetryLater) as caught,
    ):
        list(c.list("feed_items"))
    assert caught.value.delay_seconds == 600
    assert "ApiCallLimit" in str(caught.value)


def test_a_5xx_burst_shorter_than_the_budget_succeeds(generic_server, sleeper):
    server = generic_server(items=2)
    server.faults.server_errors(3, status=503)
    with _generic(server, sleeper) as connector:
        (page,) = connector.list("all")
    assert len(page.records) == 2
    assert page.requests == 4
    # exponential backoff 1, 2, 4 s with +-10% jitter
    for wait, base in zip(sleeper.calls, [1, 2, 4], strict=True):
        assert base * 0.9 <= wait <= base * 1.1


def test_a_5xx_burst_longer_than_the_budget_fails_clearly(generic_server, sleeper):
    server = generic_server(items=2)
    server.faults.server_errors(5, status=502)
    with _generic(server, sleeper) as connector, pytest.raises(TransientError) as caught:
        list(connector.list("all"))
    assert not isinstance(caught.value, RetryLater)
    assert "HTTP 502" in str(caught.value) and "gave up after 5 attempts" in str(caught.value)
    _assert_clean(caught.value)
    assert len(sleeper.calls) == 4


def test_backoff_is_capped(generic_server, sleeper):
    server = generic_server(items=1)
    server.faults.server_errors(6)
    with _generic(server, sleeper, max_attempts=7, backoff_seconds=1, max_backoff_seconds=5) as c:
        list(c.list("all"))
    assert max(sleeper.calls) <= 5
    assert sleeper.calls[-1] == pytest.approx(5, rel=0.11)


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_fail_at_once(generic_server, sleeper, status):
    server = generic_server(items=1)
    server.faults.add("status", status=status, body={"error": "nope"}, times=10)
    with (
        _generic(server, sleeper) as connector,
        pytest.raises(PermanentError, match=f"HTTP {status}") as caught,
    ):
        list(connector.list("all"))
        assert connector.requests == 1
    assert sleeper.calls == []
    _assert_clean(caught.value)


def test_timeouts_are_retried(generic_server, sleeper):
    server = generic_server(items=2)
    server.faults.slow(1.0)
    auth = AuthSpec("api_key", {"name": "api_key", "value": KEY, "in": "query"})
    spec = generic_spec(server.base_url, auth=auth, all=ALL)
    from dataclasses import replace

    spec = replace(spec, timeouts=TimeoutSpec(connect=1, read=0.2))
    with Connector(spec, Account("a", {}, {}), sleep=sleeper, clock=sleeper.clock) as c:
        (page,) = c.list("all")
    assert len(page.records) == 2 and page.requests == 2


def test_dropped_connections_are_retried(generic_server, sleeper):
    server = generic_server(items=2)
    server.faults.drop(times=2)
    with _generic(server, sleeper) as connector:
        (page,) = connector.list("all")
    assert page.requests == 3


def test_dropped_connections_exhaust_the_budget_clearly(generic_server, sleeper):
    server = generic_server(items=2)
    server.faults.drop(times=5)
    with (
        _generic(server, sleeper) as connector,
        pytest.raises(TransientError, match="connection error") as caught,
    ):
        list(connector.list("all"))
    _assert_clean(caught.value)


def test_truncated_json_is_retried_then_named_clearly(generic_server, sleeper):
    server = generic_server(items=2)
    server.faults.truncate()
    with _generic(server, sleeper) as connector:
        (page,) = connector.list("all")
    assert page.requests == 2

    server.faults.truncate(times=5)
    with (
        _generic(server, sleeper) as connector,
        pytest.raises(TransientError, match="truncated JSON") as caught,
    ):
        list(connector.list("all"))
    _assert_clean(caught.value)
    assert f"{server.base_url}/all" in str(caught.value)


@pytest.mark.parametrize("status", [200, 502])
def test_html_error_pages_give_a_clear_error(generic_server, sleeper, status):
    server = generic_server(items=2)
    server.faults.html(status=status, times=5)
    with _generic(server, sleeper) as connector, pytest.raises(TransientError) as caught:
        list(connector.list("all"))
    message = str(caught.value)
    assert f"HTTP {status}" in message and f"HTML page: {status} Bad Gateway" in message
    assert "<html" not in message
    _assert_clean(caught.value)


def test_response_size_is_capped(generic_server, sleeper):
    server = generic_server(items=200)
    spec = generic_spec(server.base_url, all=ALL)
    account = Account("a", {}, {"max_response_bytes": 1000})
    with (
        Connector(spec, account, sleep=sleeper) as connector,
        pytest.raises(PermanentError, match="over the 1000 byte limit") as caught,
    ):
        list(connector.list("all"))
        assert connector.requests == 1
    assert f"{server.base_url}/all" in str(caught.value)


def test_aliexpress_error_response_is_detected(aliexpress_server, bundled, sleeper):
    server = aliexpress_server(products=3)
    server.faults.envelope()  # {"error_response": {"code": "15", "msg": "Remote service error"}}
    account = fake_account(server)
    with (
        Connector(bundled.connector("aliexpress"), account, sleep=sleeper) as c,
        pytest.raises(PermanentError, match="API error: 15 Remote service error") as caught,
    ):
        list(c.list("feed_items"))
        assert c.requests == 1
    assert "session=***" in str(caught.value) and "sign=***" in str(caught.value)
    assert server.access_token not in str(caught.value)


def test_aliexpress_ban_is_retried_after_the_stated_seconds(aliexpress_server, bundled, sleeper):
    server = aliexpress_server(products=3)
    server.faults.rate_limit(retry_after=1)  # "... this ban will last 1 seconds"
    account = fake_account(server)
    with Connector(
        bundled.connector("aliexpress"), account, sleep=sleeper, clock=sleeper.clock
    ) as c:
        pages = list(c.list("feed_items"))
    assert sum(len(p.records) for p in pages) == 3
    assert 1.0 in sleeper.calls


def test_bigbuy_soft_409_inside_a_200_is_retried(bigbuy_server, bundled, sleeper):
    server = bigbuy_server(products=3)
    server.faults.envelope()
    account = fake_account(server, rate_limit=False)
    with Connector(bundled.connector("bigbuy"), account, sleep=sleeper) as c:
        (page,) = c.list("products")
    assert len(page.records) == 3 and page.requests == 2


def test_other_4xx_are_permanent_and_quote_the_api_message(woocommerce_server, bundled):
    server = woocommerce_server(orders=3)
    from dataclasses import replace

    spec = bundled.connector("woocommerce")
    op = spec.operations["orders"]
    wide = replace(op, paginate=replace(op.paginate, params={**op.paginate.params, "size": 101}))
    spec = replace(spec, operations={"orders": wide})
    with (
        Connector(spec, fake_account(server)) as connector,
        pytest.raises(PermanentError, match="HTTP 400") as caught,
    ):
        list(connector.list("orders"))
        assert connector.requests == 1
    assert "per_page must be between 1 (inclusive) and 100 (inclusive)" in str(caught.value)


def test_jitter_is_reproducible_with_a_seeded_rng():
    def waits(seed: int) -> list[float]:
        client = HttpClient(name="x", retry=RetrySpec(jitter=0.5), rng=random.Random(seed))
        try:
            return [client._backoff(n) for n in range(1, 5)]
        finally:
            client.close()

    assert waits(3) == waits(3)
    assert waits(3) != waits(4)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 123456789012345678901234567890, "price": "12.50", "n": -0, "x": 1E2}',
        b'{"a": 1, "a": 2, "s": "caf\\u00e9 \\ud83d\\ude00", "deep": [[[{"k": null}]]]}',
        b'{"nan": NaN, "inf": Infinity}',  # msgspec refuses: the standard library reads
        b'{"half": "\\ud800"}',  # an unpaired surrogate, kept (the mapping rejects it)
        b'  [1.5, true, false, null, "tab\\t"]  ',
    ],
)
def test_bodies_parse_exactly_as_the_standard_library_reads_them(body):
    parsed, expected = parse_json(body), json.loads(body)
    assert repr(parsed) == repr(expected)  # repr: NaN != NaN, and types must match too


@pytest.mark.parametrize("body", [b'{"a": 1', b'{"a": 1} x', b"[" * 100_000])
def test_bodies_that_are_not_json_raise_the_standard_librarys_error(body):
    with pytest.raises((ValueError, RecursionError)) as expected:
        json.loads(body)
    with pytest.raises(type(expected.value)) as got:
        parse_json(body)
    assert str(got.value) == str(expected.value)
