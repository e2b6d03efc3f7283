"""Pytest fixtures that start the local fake API servers (127.0.0.1, a free port, a thread).

Use them from any test directory by importing them in that directory's conftest.py:

    from tests.fakes.fixtures import *  # noqa: F403  (bigbuy_server, aliexpress_server, ...)

Each fixture is a factory: call it with the server's options, get a started server back; every
server it started is stopped at the end of the test.

    def test_sync(bigbuy_server):
        server = bigbuy_server(products=250, seed=7)      # tests.fakes.bigbuy.BigBuyServer
        server.base_url            # "http://127.0.0.1:PORT/rest" (Account.base_url)
        server.api_key             # the key it accepts: credentials {"api_key": server.api_key}
        server.faults.rate_limit(retry_after=1)            # inject faults (tests.fakes.base)
        server.requests            # every request received (method, path, query, headers, ...)

- `bigbuy_server(products=, seed=, api_key=, empty_past_end=, rate_limit=(N, seconds))`
- `aliexpress_server(products=, seed=, app_key=, app_secret=, access_token=)`; `.base_url` is
  the gateway root (the spec's operations use the path `/sync`).
- `shopify_server(orders=, seed=, access_token=, bucket=)`; `.base_url` is the shop URL
  (`integration.shop_url`); `.set_order(order)` adds or changes an order.
- `woocommerce_server(orders=, seed=, consumer_key=, consumer_secret=, drops_authorization=,
  pretty_permalinks=)`; `.base_url` is the shop URL; `.set_order(order)` as above.
- `generic_server(items=, auth=)`: the kinds no bundled API uses (see tests.fakes.generic).

`fake_account(server, **settings)` (a plain function) turns a started server into the
`runner.connector.Account` that the bundled spec of the same name expects:

    account = fake_account(server)   # then Connector(load_specs().connector("bigbuy"), account)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from runner.connector import Account
from tests.fakes.aliexpress import AliExpressServer
from tests.fakes.base import FakeServer
from tests.fakes.bigbuy import BigBuyServer
from tests.fakes.generic import GenericServer
from tests.fakes.shopify import ShopifyServer
from tests.fakes.woocommerce import WooCommerceServer

__all__ = [
    "aliexpress_server",
    "bigbuy_server",
    "fake_account",
    "generic_server",
    "shopify_server",
    "woocommerce_server",
]


def fake_account(server: FakeServer, **settings: object) -> Account:
    """The Account that points the bundled spec named like the server at this fake."""
    extra = dict(settings)
    if isinstance(server, BigBuyServer):
        return Account("bigbuy-fake", {"api_key": server.api_key}, extra, base_url=server.base_url)
    if isinstance(server, AliExpressServer):
        credentials = {
            "app_key": server.app_key,
            "app_secret": server.app_secret,
            "access_token": server.access_token,
        }
        return Account("aliexpress-fake", credentials, extra, base_url=server.base_url)
    if isinstance(server, ShopifyServer):
        return Account(
            "shopify-fake",
            {"access_token": server.access_token},
            extra,
            integration={"shop_url": server.base_url},
        )
    if isinstance(server, WooCommerceServer):
        credentials = {
            "consumer_key": server.consumer_key,
            "consumer_secret": server.consumer_secret,
        }
        return Account(
            "woocommerce-fake", credentials, extra, integration={"shop_url": server.base_url}
        )
    raise TypeError(f"no bundled spec for {type(server).__name__}")


def _factory(cls: type[FakeServer]) -> Callable[[], Iterator[Callable[..., FakeServer]]]:
    def fixture() -> Iterator[Callable[..., FakeServer]]:
        started: list[FakeServer] = []

        def start(**options: object) -> FakeServer:
            server = cls(**options).start()
            started.append(server)
            return server

        yield start
        for server in started:
            server.stop()

    fixture.__name__ = f"{cls.name}_server"
    fixture.__doc__ = f"Start {cls.__name__}s on demand; they stop after the test."
    return fixture


bigbuy_server = pytest.fixture(_factory(BigBuyServer), name="bigbuy_server")
aliexpress_server = pytest.fixture(_factory(AliExpressServer), name="aliexpress_server")
shopify_server = pytest.fixture(_factory(ShopifyServer), name="shopify_server")
woocommerce_server = pytest.fixture(_factory(WooCommerceServer), name="woocommerce_server")
generic_server = pytest.fixture(_factory(GenericServer), name="generic_server")
