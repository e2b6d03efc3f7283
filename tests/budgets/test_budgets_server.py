"""The server's word wins: a 429's reset closes the budget for every process. Retry lines
say when the next attempt comes."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from runner.budgets import BudgetStore, SharedBudget
from runner.clock import SystemClock
from runner.config import load_specs
from runner.connector import Account, Connector
from runner.errors import BudgetWait, TransientError
from runner.handlers import register
from runner.queue import Queue
from runner.spec.model import RateLimitSpec
from runner.worker import Worker, WorkerOptions
from tests.fakes.bigbuy import BigBuyServer


def test_a_429_reset_closes_the_budget_for_every_process(engine, start_server):
    server = start_server(BigBuyServer(products=5))
    server.faults.rate_limit(retry_after=600, path="catalog/products.json")
    clock = SystemClock()
    specs = load_specs()
    account = Account("bb", {"api_key": "bigbuy-test-key"}, {}, base_url=server.base_url)
    store = BudgetStore(engine, "bb", clock)
    with Connector(specs.suppliers["bigbuy"], account, budgets=store.make) as connector:
        with pytest.raises(BudgetWait) as caught:
            list(connector.list("products"))
        assert len(list(connector.list("information"))) == 1  # its own budget is open
    assert caught.value.budget == "bigbuy/products"
    expected = clock.now() + timedelta(seconds=600)
    assert abs((caught.value.until - expected).total_seconds()) < 3
    assert len(server.requests) == 2  # the refused call, then the information page

    # Another process, another connector: the budget is closed there too.
    other = SharedBudget(
        engine,
        "bb",
        "bigbuy/products",
        RateLimitSpec(requests=10, per="hour"),
        clock=clock,
        max_wait=120,
    )
    with pytest.raises(BudgetWait):
        other.acquire()


@register("qt_budget_flaky")
def _flaky(ctx):
    raise TransientError("503 from supplier")


def test_a_retry_line_says_when_the_next_attempt_comes(engine, caplog):
    specs = load_specs()
    Queue(engine, specs.runner.queue).enqueue("u", "qt_budget_flaky")
    options = WorkerOptions(max_jobs=1, schedules=False, maintenance=False)
    with caplog.at_level(logging.INFO, logger="sync_runner"):
        (outcome,) = Worker(engine, specs, options=options).run().outcomes
    assert outcome.outcome == "retry"
    line = next(r.getMessage() for r in caplog.records if " retry " in r.getMessage())
    match = re.search(
        r"retry after [\d.]+s; next attempt in (\d+)s \(at \d\d:\d\d:\d\d UTC\)", line
    )
    assert match, line
    assert 23 <= int(match.group(1)) <= 30  # the queue's backoff: 30 s less up to 20% jitter
