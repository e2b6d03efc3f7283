"""One connector used by several threads at once: a list walked while its lookups are in flight.

The bug this guards against: with one `httpx.Client` shared by the lookup threads and the
caller's thread, httpcore's sync connection pool (1.0.9) checks every pooled connection from
whichever thread sends or finishes next. It reads a connection's state (IDLE), then asks the
socket whether it is readable; an idle socket with data on it is taken for a server-side close.
If, between those two reads, another thread starts its request on that connection and the
answer arrives, the check closes the socket under the thread reading the answer: it fails at
once (EBADF) or, when `poll` is not woken by the close, waits for its whole read timeout
(30 s for AliExpress) and retries. With 4 lookup threads and 4 pooled connections, the list
request is the fifth sender, so connections are handed from one thread to another and the
window opens: the sync engineer saw 2 read-timeout hangs in 25 runs; a 600-product walk
against the fake hit the race (a hang or an EBADF retry) in about half its runs.

`unlucky_scheduler` makes the window wide instead of rare (what an ill-timed switch of the GIL
does): a thread handed a connection pauses 5 ms before using it, and the pool's readability
check waits up to 20 ms for data instead of looking once.
"""

from __future__ import annotations

import select
import threading
import time
from dataclasses import replace

import httpcore._backends.sync as httpcore_sync
import httpcore._sync.connection_pool as httpcore_pool
import httpx
import pytest

from runner.connector import Connector
from runner.http.pool import ClientPool
from runner.spec.model import RetrySpec, TimeoutSpec
from tests.fakes.fixtures import fake_account

LOOKUP_THREADS = 4  # the bundled AliExpress spec: lookup concurrency 4, so 4 pooled connections


def _aliexpress(bundled, page_size: int, read_timeout: float = 0.5):
    """The bundled AliExpress spec with small feed pages (a list request every few lookups),
    a short read timeout and one attempt: a hang or a closed socket fails the walk."""
    spec = bundled.connector("aliexpress")
    feed = spec.operations["feed_items"]
    feed = replace(feed, params={**feed.params, "page_size": page_size})
    return replace(
        spec,
        operations={**spec.operations, "feed_items": feed},
        timeouts=TimeoutSpec(connect=2, read=read_timeout),
        retry=RetrySpec(max_attempts=1),
    )


def _walk(connector: Connector) -> int:
    """Lookups fed straight from the list generator, as `ids_from` steps are: the feed's next
    page is requested while the lookups of the page before are in flight."""
    ids = (
        connector.id_of("feed_items", r) for p in connector.list("feed_items") for r in p.records
    )
    return sum(len(page.records) for page in connector.lookup("product", ids))


@pytest.fixture
def unlucky_scheduler(monkeypatch):
    """Widen httpcore's race window; returns counters that prove both hooks ran."""
    calls = {"handed": 0, "polled": 0}
    wait_for_connection = httpcore_pool.PoolRequest.wait_for_connection
    get_extra_info = httpcore_sync.SyncStream.get_extra_info

    def handed(self, timeout=None):
        connection = wait_for_connection(self, timeout)
        calls["handed"] += 1
        time.sleep(0.005)
        return connection

    def polled(self, info):
        if info == "is_readable":
            calls["polled"] += 1
            select.select([self._sock], [], [], 0.02)
        return get_extra_info(self, info)

    monkeypatch.setattr(httpcore_pool.PoolRequest, "wait_for_connection", handed)
    monkeypatch.setattr(httpcore_sync.SyncStream, "get_extra_info", polled)
    return calls


def test_a_list_walked_while_its_lookups_are_in_flight_never_loses_a_request(
    aliexpress_server, bundled, unlucky_scheduler
):
    server = aliexpress_server(products=24)
    spec = _aliexpress(bundled, page_size=3)
    for _ in range(3):
        server.reset()
        with Connector(spec, fake_account(server, rate_limit=False)) as connector:
            assert _walk(connector) == 24
            sent = connector.requests
        # 8 feed pages + the empty last one, 24 lookups; nothing resent
        assert sent == len(server.requests) == 9 + 24
    assert unlucky_scheduler["handed"] > 0 and unlucky_scheduler["polled"] > 0


def test_concurrent_requests_share_at_most_pool_size_keep_alive_connections(
    aliexpress_server, bundled
):
    server = aliexpress_server(products=300)
    spec = _aliexpress(bundled, page_size=20, read_timeout=5)
    with Connector(spec, fake_account(server, rate_limit=False)) as connector:
        assert _walk(connector) == 300
    assert len(server.requests) == 16 + 300
    # keep-alive: 316 requests over at most one connection per lookup thread
    assert len({request.connection for request in server.requests}) <= LOOKUP_THREADS


def test_a_freed_client_goes_to_the_thread_that_waited_first():
    """A thread that gives its client back and asks again queues behind the waiting one."""
    pool = ClientPool(1, httpx.Client, timeout=5)
    order: list[str] = []

    def lease_once(name: str) -> None:
        with pool.lease():
            order.append(name)

    with pool.lease():
        waiter = threading.Thread(target=lease_once, args=("waiter",))
        waiter.start()
        while pool.waiting() == 0:
            time.sleep(0.001)
    lease_once("again")
    waiter.join(5)
    assert order == ["waiter", "again"]
    pool.close()


def test_a_client_not_freed_in_time_is_a_pool_timeout():
    pool = ClientPool(1, httpx.Client, timeout=0.05)
    with (
        pool.lease(),
        pytest.raises(httpx.PoolTimeout, match=r"no free connection within 0\.05 s"),
        pool.lease(),
    ):
        pass
    assert pool.waiting() == 0
    with pool.lease() as client:  # the timed-out waiter left no trace
        assert isinstance(client, httpx.Client)
    pool.close()
