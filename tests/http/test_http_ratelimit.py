"""The per-connector rate limit holds, alone and under concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from runner.connector import Account, Connector
from runner.errors import RetryLater
from runner.http.ratelimit import RateLimiter
from tests.http.http_support import Sleeper, generic_spec


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        j = i
        while j < len(times) and times[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def test_no_more_than_declared_in_any_window_with_a_fake_clock():
    sleeper = Sleeper()
    granted: list[float] = []
    limiter = RateLimiter(3, 1.0, clock=sleeper.clock, sleep=sleeper)
    for _ in range(10):
        limiter.acquire()
        granted.append(sleeper.now)
    assert _max_in_window(granted, 1.0) == 3
    # 10 requests at 3 per second: the 10th starts exactly 3 s after the first
    assert granted[-1] - granted[0] == pytest.approx(3.0)


def test_under_concurrency_with_the_real_clock():
    limiter = RateLimiter(5, 0.25)
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            limiter.acquire()
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 20
    # timestamps are taken just after the grant, so allow a few ms of scheduling skew
    assert _max_in_window(granted, 0.25 - 0.02) <= 5
    assert max(granted) - min(granted) >= 0.75 - 0.02  # 20 at 5 per 0.25 s: 3 full waits


def test_a_wait_beyond_the_bound_defers_the_job():
    sleeper = Sleeper()
    limiter = RateLimiter(10, 3600, clock=sleeper.clock, sleep=sleeper, max_wait=120, name="bigbuy")
    for _ in range(10):
        limiter.acquire()
    with pytest.raises(RetryLater, match="bigbuy: rate limit of 10 request") as caught:
        limiter.acquire()
    assert caught.value.delay_seconds == pytest.approx(3600)
    assert sleeper.calls == []


def test_the_connector_limit_holds_for_concurrent_lookups(generic_server):
    server = generic_server(items=7)
    spec = generic_spec(server.base_url, item={"path": "/items/{id}", "lookup": {"concurrency": 6}})
    account = Account("a", {}, {"rate_limit": {"requests": 5, "per": "second"}})
    with Connector(spec, account) as connector:
        pages = list(connector.lookup("item", range(1, 8)))
    assert len(pages) == 7
    arrivals = [r.time for r in server.requests]
    assert _max_in_window(arrivals, 1.0 - 0.05) <= 5
    assert max(arrivals) - min(arrivals) >= 1.0 - 0.05  # 7 at 5/s: one full wait
