"""Fixtures for the sync engine tests: the bundled specs and started fake servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from runner.config import load_specs
from tests.fakes.aliexpress import AliExpressServer
from tests.fakes.base import FakeServer
from tests.fakes.bigbuy import BigBuyServer
from tests.fakes.shopify import ShopifyServer
from tests.fakes.woocommerce import WooCommerceServer


@pytest.fixture(scope="session")
def specs():
    return load_specs()


@pytest.fixture
def start_server() -> Iterator[Callable[[FakeServer], FakeServer]]:
    """`start_server(BigBuyServer(products=25))`: started now, stopped after the test."""
    started: list[FakeServer] = []

    def start(server: FakeServer) -> FakeServer:
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def bigbuy(start_server) -> BigBuyServer:
    return start_server(BigBuyServer(products=25))


@pytest.fixture
def aliexpress(start_server) -> AliExpressServer:
    return start_server(AliExpressServer(products=12))


@pytest.fixture
def shopify(start_server) -> ShopifyServer:
    return start_server(ShopifyServer(orders=30))


@pytest.fixture
def woocommerce(start_server) -> WooCommerceServer:
    return start_server(WooCommerceServer(orders=30))
