"""Connector tests that replay vcrpy cassettes recorded against the fake servers.

The cassettes in tests/cassettes/ were recorded with canary credentials; the recording hooks
strip auth headers and mask tokens, keys and signatures (query keys and known values, in
requests and in response headers and bodies). Replays match on method, path and query (not
host or port), so they run on any machine without the fakes; sockets to anything but the
loopback address are blocked throughout.

Re-record (starts the fakes, overwrites the cassettes):

    SYNC_RUNNER_RECORD=1 .venv/bin/pytest tests/http -k cassette
"""

from __future__ import annotations

import base64
import copy
import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import vcr
import yaml

from runner.connector import Account, Connector
from runner.redact import is_secret_header, redact, redact_url
from tests.fakes.aliexpress import AliExpressServer
from tests.fakes.base import FakeServer
from tests.fakes.bigbuy import BigBuyServer
from tests.fakes.shopify import ShopifyServer
from tests.fakes.woocommerce import WooCommerceServer

RECORD = os.environ.get("SYNC_RUNNER_RECORD") == "1"
CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"

CANARY = {
    "bigbuy": {"api_key": "CANARY-bigbuy-key-5b1c0f3a"},
    "aliexpress": {
        "app_key": "CANARY-ae-appkey-3e8d",
        "app_secret": "CANARY-ae-secret-9e2d41",
        "access_token": "CANARY-ae-token-77aa0c",
    },
    "shopify": {"access_token": "shpat_CANARY_4c3f2e91"},
    "woocommerce": {"consumer_key": "ck_CANARY_6d1e82", "consumer_secret": "cs_CANARY_0b9a57"},
}


# -- recording hooks ---------------------------------------------------------------------------


def _scrub_request(request):
    request = copy.deepcopy(request)
    request.uri = redact_url(request.uri)
    for name in list(request.headers):
        if is_secret_header(name):
            del request.headers[name]
    if request.body:
        request.body = redact(request.body_bytes.decode("utf-8", "replace")).encode()
    return request


def _scrub_response(response):
    response = copy.deepcopy(response)
    headers = {}
    for name, values in response["headers"].items():
        if name.lower() == "set-cookie":
            continue
        headers[name] = [redact(value) for value in values]
    body = response["body"]["string"]
    if body:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        body = redact(text).encode()
        response["body"]["string"] = body
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(len(body or b""))]
    response["headers"] = headers
    return response


VOLATILE_PARAMS = {"timestamp"}  # AliExpress signs a fresh timestamp into every call


def _stable_query(r1, r2) -> None:
    """Match queries without the volatile params (signatures are already masked)."""
    left = [pair for pair in r1.query if pair[0] not in VOLATILE_PARAMS]
    right = [pair for pair in r2.query if pair[0] not in VOLATILE_PARAMS]
    assert left == right, f"{left} != {right}"


VCR = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    # not host/port (the fakes' port varies), not the volatile params
    match_on=["method", "scheme", "path", "stable_query"],
    before_record_request=_scrub_request,
    before_record_response=_scrub_response,
    decode_compressed_response=True,
)
VCR.register_matcher("stable_query", _stable_query)


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch):
    """Block every socket connection that does not go to the loopback address."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ConnectionRefusedError(f"tests may only connect to 127.0.0.1, not {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@contextmanager
def cassette(name: str, make_server: Callable[[], FakeServer]) -> Iterator[str]:
    """Record against a fresh fake (SYNC_RUNNER_RECORD=1) or replay; yield the origin URL."""
    path = CASSETTES / f"{name}.yaml"
    if RECORD:
        CASSETTES.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        server = make_server().start()
        try:
            with VCR.use_cassette(path.name):
                yield f"http://127.0.0.1:{server.port}"
        finally:
            server.stop()
        return
    if not path.exists():
        pytest.fail(f"missing {path}; record: SYNC_RUNNER_RECORD=1 pytest tests/http -k cassette")
    first_uri = yaml.safe_load(path.read_text())["interactions"][0]["request"]["uri"]
    parts = urlsplit(first_uri)
    with VCR.use_cassette(path.name, allow_playback_repeats=False) as played:
        yield f"{parts.scheme}://{parts.netloc}"
    assert played.all_played, f"{name}: some recorded interactions were not replayed"


# -- the recorded scenarios --------------------------------------------------------------------


def test_cassette_bigbuy_catalogue_with_a_rate_limited_retry(bundled, sleeper):
    def server() -> BigBuyServer:
        fake = BigBuyServer(products=6, seed=11, api_key=CANARY["bigbuy"]["api_key"])
        fake.faults.rate_limit(retry_after=1, path="productsstockbyhandlingdays")
        return fake

    with cassette("bigbuy_catalogue", server) as origin:
        account = Account(
            "bb", dict(CANARY["bigbuy"]), {"rate_limit": False}, base_url=f"{origin}/rest"
        )
        with Connector(bundled.connector("bigbuy"), account, sleep=sleeper) as connector:
            products = [r for p in connector.list("products") for r in p.records]
            stock_pages = list(connector.list("stock"))
    assert [p["id"] for p in products] == list(range(400001, 400007))
    assert all(p["wholesalePrice"] < p["retailPrice"] for p in products)
    assert [len(p.records) for p in stock_pages] == [6]
    assert stock_pages[0].requests == 2  # the 429 and its retry
    assert len(sleeper.calls) == 1


def test_cassette_aliexpress_feed_then_signed_product_lookups(bundled, sleeper):
    def server() -> AliExpressServer:
        creds = CANARY["aliexpress"]
        return AliExpressServer(
            products=3,
            seed=5,
            app_key=creds["app_key"],
            app_secret=creds["app_secret"],
            access_token=creds["access_token"],
        )

    with cassette("aliexpress_products", server) as origin:
        account = Account("ae", dict(CANARY["aliexpress"]), {}, base_url=origin)
        with Connector(bundled.connector("aliexpress"), account, sleep=sleeper) as connector:
            ids = [i for p in connector.list("feed_items") for i in p.records]
            records = [r for p in connector.lookup("product", ids) for r in p.records]
            found = sorted(connector.id_of("product", r) for r in records)
    assert len(ids) == 3
    assert found == sorted(str(i) for i in ids)


def test_cassette_shopify_orders_follow_link_headers(bundled, sleeper):
    spec = bundled.connector("shopify")
    op = spec.operations["orders"]
    spec = replace(spec, operations={"orders": replace(op, params={**op.params, "limit": 10})})

    def server() -> ShopifyServer:
        return ShopifyServer(orders=25, seed=2, access_token=CANARY["shopify"]["access_token"])

    with cassette("shopify_orders", server) as origin:
        account = Account("sh", dict(CANARY["shopify"]), {}, integration={"shop_url": origin})
        with Connector(spec, account, sleep=sleeper, clock=sleeper.clock) as connector:
            pages = list(connector.list("orders"))
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert len({o["id"] for p in pages for o in p.records}) == 25
    assert "page_info=" in pages[1].url


def test_cassette_woocommerce_orders_with_the_query_fallback(bundled, sleeper):
    spec = bundled.connector("woocommerce")
    op = spec.operations["orders"]
    paginate = replace(op.paginate, params={**op.paginate.params, "size": 10})
    spec = replace(spec, operations={"orders": replace(op, paginate=paginate)})

    def server() -> WooCommerceServer:
        creds = CANARY["woocommerce"]
        return WooCommerceServer(
            orders=15,
            seed=4,
            consumer_key=creds["consumer_key"],
            consumer_secret=creds["consumer_secret"],
            drops_authorization=True,
        )

    with cassette("woocommerce_orders", server) as origin:
        account = Account("wc", dict(CANARY["woocommerce"]), {}, integration={"shop_url": origin})
        with Connector(spec, account, sleep=sleeper) as connector:
            pages = list(connector.list("orders"))
    assert [len(p.records) for p in pages] == [10, 5]
    assert [p.requests for p in pages] == [2, 1]  # 401 to the header, then the query form


# -- the cassettes hold no secret --------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}


def _strings(value) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif value is not None:
        yield str(value)


def test_cassette_files_hold_no_canary_secret():
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) >= 4, "the cassettes are missing; re-record them"
    secrets = set()
    for credentials in CANARY.values():
        for value in credentials.values():
            secrets |= _forms(value)
    woo = CANARY["woocommerce"]
    secrets |= _forms(f"{woo['consumer_key']}:{woo['consumer_secret']}")
    for path in files:
        raw = path.read_text()
        texts = [raw, *_strings(yaml.safe_load(raw))]  # also what !!binary blocks hold
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{path.name} leaks a canary secret"
            assert not re.search(r"sign=[0-9A-F]{64}", text), f"{path.name} keeps a signature"
            assert "Bearer " not in text and "Basic " not in text


def test_sockets_beyond_loopback_are_blocked():
    with pytest.raises(ConnectionRefusedError, match=r"only connect to 127\.0\.0\.1"):
        socket.create_connection(("198.51.100.7", 80), timeout=1)
