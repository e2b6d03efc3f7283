"""Budgets in the database: sliding windows, the server's word, sharing between threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from runner.budgets import BudgetStore, SharedBudget, budget_usage
from runner.clock import FakeClock
from runner.errors import BudgetWait
from runner.http.ratelimit import RateLimiter
from runner.spec.model import RateLimitSpec

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


def _budget(engine, clock, requests=3, seconds=60.0, **kwargs) -> SharedBudget:
    spec = RateLimitSpec(requests=requests, seconds=seconds)
    return SharedBudget(
        engine, "acct-1", "bigbuy/products", spec, clock=clock, max_wait=0, **kwargs
    )


def test_a_budget_allows_its_requests_per_sliding_window(engine):
    clock = FakeClock(T0)
    budget = _budget(engine, clock)
    for _ in range(2):
        budget.acquire()
    clock.advance(20)
    budget.acquire()
    with pytest.raises(BudgetWait) as caught:
        budget.acquire()
    assert caught.value.budget == "bigbuy/products"
    # the oldest start leaves the window (and the margin of a second for its arrival)
    assert caught.value.until == T0 + timedelta(seconds=61)
    assert caught.value.delay_seconds == 41
    clock.advance(41)
    budget.acquire()
    budget.acquire()  # both slots of T0 are free again
    with pytest.raises(BudgetWait) as caught:
        budget.acquire()
    assert caught.value.until == T0 + timedelta(seconds=81)


def test_every_process_sees_the_same_budget(engine):
    clock = FakeClock(T0)
    first, second = _budget(engine, clock), _budget(engine, clock)
    first.acquire()
    first.acquire()
    second.acquire()
    with pytest.raises(BudgetWait):
        second.acquire()
    with pytest.raises(BudgetWait):
        first.acquire()


def test_the_servers_reset_closes_the_budget_until_then(engine):
    clock = FakeClock(T0)
    budget = _budget(engine, clock)
    budget.acquire()
    _budget(engine, clock).close(300)  # another process got a 429: "reset in 300 s"
    with pytest.raises(BudgetWait) as caught:
        budget.acquire()
    assert caught.value.until == T0 + timedelta(seconds=300)
    clock.advance(300)
    budget.acquire()


def test_a_changed_spec_resizes_the_stored_budget(engine):
    clock = FakeClock(T0)
    _budget(engine, clock, requests=2).acquire()
    bigger = _budget(engine, clock, requests=4)
    for _ in range(3):
        bigger.acquire()
    with pytest.raises(BudgetWait):
        bigger.acquire()
    (usage,) = budget_usage(engine, clock.now())
    assert (usage.used, usage.limit, usage.window_seconds) == (4, 4, 60.0)
    assert usage.next_free == T0 + timedelta(seconds=61)
    smaller = _budget(engine, clock, requests=1)
    with pytest.raises(BudgetWait):
        smaller.acquire()
    (usage,) = budget_usage(engine, clock.now())
    assert (usage.used, usage.limit) == (1, 1)


def test_threads_never_take_more_slots_than_the_budget_has(engine):
    clock = FakeClock(T0)
    taken: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        budget = _budget(engine, clock, requests=5)
        for _ in range(3):
            try:
                budget.acquire()
                outcome = taken
            except BudgetWait:
                outcome = refused
            with lock:
                outcome.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 5
    assert len(refused) == 13


def test_a_short_wait_is_slept_in_process(engine):
    clock = FakeClock(T0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    budget = SharedBudget(
        engine,
        "acct-1",
        "x/y",
        RateLimitSpec(requests=1, seconds=5),
        clock=clock,
        sleep=sleep,
        max_wait=10,
    )
    budget.acquire()
    assert budget.acquire() == 5.5  # the window and a tenth of it
    assert slept == [5.5]


def test_a_budget_of_many_requests_per_second_stays_in_memory(engine):
    store = BudgetStore(engine, "acct-1", FakeClock(T0))
    fast = store.make("x/fast", RateLimitSpec(requests=500, per="second"), 1, lambda s: None)
    slow = store.make("x/slow", RateLimitSpec(requests=10, per="hour"), 1, lambda s: None)
    assert isinstance(fast, RateLimiter)
    assert isinstance(slow, SharedBudget)


def test_jobs_waiting_for_a_budget_are_counted(engine):
    from runner.budgets import jobs_waiting_for_budget
    from runner.queue import Queue

    clock = FakeClock(T0)
    queue = Queue(engine, clock=clock)
    waiting = queue.enqueue("u", "supplier_api", account_id="s1").job_id
    queue.enqueue("u", "supplier_api", account_id="s2", run_at=T0 + timedelta(hours=1))
    queue.enqueue("u", "price_update", account_id="s1")
    job = queue.claim("w1", job_id=waiting)
    until = T0 + timedelta(minutes=41)
    result = {"waiting_for": [{"budget": "bigbuy/products", "until": "00:41"}]}
    assert queue.defer(job, 2460, "waits", until=until, result_data=result)
    assert jobs_waiting_for_budget(engine, clock.now()) == 1
    assert queue.stats()["pending_waiting_for_budget"] == 1
    clock.set(until)
    assert jobs_waiting_for_budget(engine, clock.now()) == 0  # due now: no longer waiting


def test_the_budgets_command_shows_used_limit_window_and_next_slot(engine, db_url):
    import json

    from click.testing import CliRunner

    from runner.cli import cli
    from runner.clock import SystemClock

    clock = SystemClock()
    budget = SharedBudget(
        engine, "acct-1", "bigbuy/products", RateLimitSpec(requests=2, per="hour"), clock=clock
    )
    budget.acquire()
    budget.acquire()
    runner = CliRunner()
    result = runner.invoke(cli, ["budgets", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    (header, line) = result.stdout.splitlines()
    assert header.split() == ["ACCOUNT", "BUDGET", "USED", "LIMIT", "WINDOW", "NEXT", "FREE"]
    assert line.split()[:5] == ["acct-1", "bigbuy/products", "2", "2", "3600s"]
    assert line.endswith("UTC")
    result = runner.invoke(cli, ["budgets", "--json", "--database-url", db_url])
    (usage,) = json.loads(result.stdout)
    assert usage["used"] == 2 and usage["limit"] == 2 and usage["window_seconds"] == 3600
    assert usage["next_free"].endswith("Z")
    empty = runner.invoke(cli, ["budgets", "--account", "nobody", "--database-url", db_url])
    assert empty.stdout == "no budget has been spent yet\n"
