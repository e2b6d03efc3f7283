"""The Pushgateway metrics carry the budgets and the jobs waiting for one."""

from __future__ import annotations

from datetime import timedelta

from runner.budgets import SharedBudget
from runner.clock import SystemClock
from runner.metrics import RunSummary, push_run_metrics
from runner.queue import Queue
from runner.spec.model import RateLimitSpec
from tests.ops.test_ops_metrics import FakePushgateway, read_back


def test_budgets_and_waiting_jobs_are_pushed(engine):
    clock = SystemClock()
    spec = RateLimitSpec(requests=2, per="hour")
    budget = SharedBudget(engine, "acct-1", "bigbuy/products", spec, clock=clock)
    budget.acquire()
    budget.acquire()
    queue = Queue(engine, clock=clock)
    job = queue.claim("w1", job_id=queue.enqueue("u", "supplier_api").job_id)
    until = clock.now() + timedelta(hours=1)
    queue.defer(job, 3600, "waits", until=until, result_data={"waiting_for": [{"budget": "b"}]})

    summary = RunSummary()
    summary.read_budgets(engine)
    summary.finish(success=True)
    with FakePushgateway() as gateway:
        assert push_run_metrics(gateway.base_url, summary)
        samples = read_back(gateway.requests[0])
    key = (("account", "acct-1"), ("budget", "bigbuy/products"))
    assert samples[("syncrunner_jobs_waiting_for_budget", ())] == 1
    assert samples[("syncrunner_budget_used", key)] == 2
    assert samples[("syncrunner_budget_limit", key)] == 2
    assert samples[("syncrunner_budget_window_seconds", key)] == 3600
    assert samples[("syncrunner_budget_next_free_timestamp_seconds", key)] > clock.now().timestamp()
