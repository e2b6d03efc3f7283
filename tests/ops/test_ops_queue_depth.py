"""The queue gauges: due and running jobs and the oldest due age, per sync type and spec."""

from __future__ import annotations

import random
from datetime import timedelta

from runner.queue import Queue
from runner.queue_depth import QueueDepth, queue_depths
from runner.spec.load import load_specs
from tests.ops.support import ROOT
from tests.sync.support import add_integration, add_supplier


def test_queue_depths_per_sync_type_and_spec(engine, clock):
    specs = load_specs(ROOT / "specs")
    queue = Queue(engine, specs.runner.queue, clock, random.Random(3))
    add_supplier(engine, "bb1", "bigbuy")
    add_supplier(engine, "bb2", "bigbuy", user_id="user-b")
    add_integration(engine, "shop1", "shopify", "https://shop.example")
    queue.enqueue("user-a", "supplier_api", account_id="bb1")
    clock.advance(minutes=10)
    queue.enqueue("user-b", "supplier_api", account_id="bb2")
    queue.enqueue("user-a", "order_sync", account_id="shop1")
    later = clock.now() + timedelta(hours=1)
    queue.enqueue("user-a", "price_update", account_id="bb1", run_at=later)  # not due
    queue.enqueue("user-a", "inventory_update")  # every account of the user
    clock.advance(minutes=5)
    assert queue.claim("worker-1") is not None  # the oldest: bb1's supplier_api

    assert queue_depths(engine, clock.now()) == [
        QueueDepth("inventory_update", "", due=1, running=0, oldest_due_age_seconds=300.0),
        QueueDepth("order_sync", "shopify", due=1, running=0, oldest_due_age_seconds=300.0),
        QueueDepth(
            "price_update",
            "bigbuy",
            due=0,
            running=0,
            oldest_due_age_seconds=0.0,
            waiting=1,
            oldest_waiting_age_seconds=300.0,
        ),
        QueueDepth("supplier_api", "bigbuy", due=1, running=1, oldest_due_age_seconds=300.0),
    ]


def test_an_empty_queue_has_no_rows(engine, clock):
    assert queue_depths(engine, clock.now()) == []
