"""The worker in-process, on SQLite and Postgres: handler outcomes, stopping, leases,
schedules. (Real processes, signals and crashes: test_queue_processes.py.)"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from runner.clock import FakeClock, SystemClock
from runner.config import load_specs
from runner.db.tables import import_jobs, marketplace_integrations, suppliers
from runner.errors import JobFailed, PermanentError, RetryLater, TransientError
from runner.handlers import JobContext, register
from runner.queue import Queue
from runner.spec.model import BackoffSpec, QueueSpec, ScheduleSpec
from runner.worker import (
    StopFlag,
    Worker,
    WorkerOptions,
    enqueue_due_schedules,
    schedule_slot,
)

ROOT = Path(__file__).resolve().parents[2]
QUICK = QueueSpec(
    lease_seconds=10,
    heartbeat_seconds=1,
    max_attempts=3,
    backoff=BackoffSpec(base_seconds=30, max_seconds=300, jitter=0.2),
)
NO_EXTRAS = WorkerOptions(schedules=False, maintenance=False)


@pytest.fixture(scope="module")
def bundled_specs():
    return load_specs(ROOT / "specs")


def specs_with(bundled, queue: QueueSpec = QUICK, schedules=()):
    return replace(bundled, runner=replace(bundled.runner, queue=queue, schedules=schedules))


@register("wt_ok", replace=True)
def _ok(ctx: JobContext) -> dict:
    return {"n": 1, "dry_run": ctx.dry_run, "offline": ctx.offline}


@register("wt_logs", replace=True)
def _logs(ctx: JobContext) -> dict:
    ctx.log.info("step done", extra={"event": "step.finished", "step": "products"})
    return {}


@register("wt_later", replace=True)
def _later(ctx: JobContext) -> dict:
    raise RetryLater("429 Too Many Requests: Retry-After 60", 60)


@register("wt_transient", replace=True)
def _transient(ctx: JobContext) -> dict:
    raise TransientError("503 from supplier")


@register("wt_permanent", replace=True)
def _permanent(ctx: JobContext) -> dict:
    raise PermanentError("401 Unauthorized: check the API key")


@register("wt_partial", replace=True)
def _partial(ctx: JobContext) -> dict:
    raise JobFailed(
        "1 of 2 suppliers failed",
        errors=[{"supplier": "aliexpress", "message": "timeout"}],
        result_data={"bigbuy": {"updated": 5}},
        transient=True,
    )


@register("wt_crash", replace=True)
def _crash(ctx: JobContext) -> dict:
    raise KeyError("boom\nwith a second line")


@register("wt_wait", replace=True)
def _wait(ctx: JobContext) -> dict:
    """Works until told to stop (at most 5 s)."""
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while datetime.now(UTC) < deadline:
        ctx.checkpoint()
        threading.Event().wait(0.02)
    return {"finished": True}


def _job(engine, job_id: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()._mapping
        )


def test_each_handler_outcome_is_recorded(engine, bundled_specs):
    clock = FakeClock()
    specs = specs_with(bundled_specs)
    queue = Queue(engine, specs.runner.queue, clock)
    ids = {
        t: queue.enqueue(f"user-{t}", t).job_id
        for t in (
            "wt_ok",
            "wt_later",
            "wt_transient",
            "wt_permanent",
            "wt_partial",
            "wt_crash",
            "wt_none",
        )
    }
    worker = Worker(engine, specs, clock=clock, rng=random.Random(1), options=NO_EXTRAS)
    report = worker.run()
    outcomes = {o.sync_type: o.outcome for o in report.outcomes}
    assert outcomes == {
        "wt_ok": "completed",
        "wt_later": "deferred",
        "wt_transient": "retry",
        "wt_permanent": "failed",
        "wt_partial": "retry",
        "wt_crash": "failed",
        "wt_none": "failed",
    }
    assert report.stopped_by == "drained" and report.job_errors == 5

    ok = _job(engine, ids["wt_ok"])
    assert (ok["status"], ok["result_data"]) == (
        "completed",
        {"n": 1, "dry_run": False, "offline": False},
    )
    later = _job(engine, ids["wt_later"])
    assert (later["status"], later["attempts"]) == ("pending", 0)
    assert later["scheduled_at"] == clock.now() + timedelta(seconds=60)
    transient = _job(engine, ids["wt_transient"])
    assert (transient["status"], transient["attempts"]) == ("pending", 1)
    assert transient["errors"][0]["message"] == "503 from supplier"
    permanent = _job(engine, ids["wt_permanent"])
    assert (permanent["status"], permanent["errors"][0]["type"]) == ("failed", "PermanentError")
    partial = _job(engine, ids["wt_partial"])
    assert partial["result_data"] == {"bigbuy": {"updated": 5}}
    assert partial["errors"][0]["details"] == [{"supplier": "aliexpress", "message": "timeout"}]
    crash = _job(engine, ids["wt_crash"])
    assert crash["status"] == "failed"
    assert crash["errors"][0]["type"] == "KeyError"
    assert (
        "\n" not in crash["errors"][0]["message"] and "second line" in crash["errors"][0]["message"]
    )
    none = _job(engine, ids["wt_none"])
    assert none["errors"][0]["type"] == "NoHandler"
    assert "no handler registered for sync type 'wt_none'" in none["errors"][0]["message"]


def test_max_jobs_bounds_the_run(engine, bundled_specs):
    specs = specs_with(bundled_specs)
    queue = Queue(engine, specs.runner.queue)
    for i in range(3):
        queue.enqueue(f"u{i}", "wt_ok")
    report = Worker(engine, specs, options=replace(NO_EXTRAS, max_jobs=2)).run()
    assert (len(report.outcomes), report.stopped_by) == (2, "max_jobs")
    assert len(queue.list(statuses=["pending"])) == 1


def test_max_runtime_stops_claiming(engine, bundled_specs):
    specs = specs_with(bundled_specs)
    Queue(engine, specs.runner.queue).enqueue("u", "wt_ok")
    report = Worker(engine, specs, options=replace(NO_EXTRAS, max_runtime=0)).run()
    assert (report.outcomes, report.stopped_by) == ([], "max_runtime")


def test_a_stop_request_hands_the_job_back_uncharged(engine, bundled_specs):
    specs = specs_with(bundled_specs)
    queue = Queue(engine, specs.runner.queue)
    job_id = queue.enqueue("u", "wt_wait", metadata={}).job_id
    stop = StopFlag()
    threading.Timer(0.3, stop.request, args=("test stop",)).start()
    report = Worker(engine, specs, options=NO_EXTRAS, stop=stop).run()
    assert [o.outcome for o in report.outcomes] == ["released"]
    assert report.stopped_by == "signal"
    job = _job(engine, job_id)
    assert (job["status"], job["attempts"], job["locked_by"]) == ("pending", 0, None)
    assert job["errors"] == []


def test_heartbeats_renew_and_a_cancel_interrupts_the_job(engine, bundled_specs):
    specs = specs_with(bundled_specs, queue=replace(QUICK, heartbeat_seconds=0.1))
    queue = Queue(engine, specs.runner.queue, SystemClock())
    job_id = queue.enqueue("u", "wt_wait").job_id
    beats = []

    def cancel_later() -> None:
        threading.Event().wait(0.5)
        beats.append(_job(engine, job_id)["heartbeat_at"])
        queue.cancel(job_id)

    threading.Thread(target=cancel_later).start()
    worker = Worker(engine, specs, options=NO_EXTRAS)
    report = worker.run()
    assert [o.outcome for o in report.outcomes] == ["lost"]  # fenced: the cancel stands
    job = _job(engine, job_id)
    assert job["status"] == "cancelled"
    assert beats[0] > job["started_at"]  # the lease was renewed while the job ran
    assert report.outcomes[0].seconds < 3


def test_run_job_and_dry_run(engine, bundled_specs):
    specs = specs_with(bundled_specs)
    queue = Queue(engine, specs.runner.queue)
    later = queue.enqueue("u", "wt_ok", run_at=datetime.now(UTC) + timedelta(days=1)).job_id
    worker = Worker(engine, specs, options=replace(NO_EXTRAS, offline=True))
    dry = worker.run_job(later, dry_run=True)
    assert (dry.outcome, dry.result_data["dry_run"], dry.result_data["offline"]) == (
        "released",
        True,
        True,
    )
    assert (_job(engine, later)["status"], _job(engine, later)["attempts"]) == ("pending", 0)
    done = worker.run_job(later)
    assert done.outcome == "completed"
    assert worker.run_job(later) is None  # completed: nothing to claim


def test_a_job_whose_last_attempt_was_lost_fails_without_running(engine, bundled_specs):
    clock = FakeClock()
    specs = specs_with(bundled_specs)
    queue = Queue(engine, specs.runner.queue, clock)
    job_id = queue.enqueue("u", "wt_ok", max_attempts=1).job_id
    queue.claim("vanished-worker")
    clock.advance(11)
    report = Worker(engine, specs, clock=clock, options=NO_EXTRAS).run()
    assert [o.outcome for o in report.outcomes] == ["failed"]
    job = _job(engine, job_id)
    assert (job["status"], job["attempts"], job["result_data"]) == ("failed", 1, None)
    assert [e["type"] for e in job["errors"]] == ["LeaseExpired"]


def test_maintenance_runs_after_the_drain(engine, bundled_specs):
    report = Worker(engine, specs_with(bundled_specs), options=WorkerOptions(schedules=False)).run()
    assert report.maintenance is not None


# ---------------------------------------------------------------------------------------------
# Schedules


def _accounts(engine, now: datetime) -> None:
    common = {"created_at": now, "updated_at": now, "status": "active"}
    with engine.begin() as conn:
        conn.execute(
            insert(suppliers),
            [
                {
                    "id": "s-big",
                    "user_id": "u1",
                    "name": "BigBuy",
                    "supplier_type": "bigbuy",
                    **common,
                },
                {
                    "id": "s-ali",
                    "user_id": "u2",
                    "name": "Ali",
                    "supplier_type": "aliexpress",
                    **common,
                },
                {
                    "id": "s-off",
                    "user_id": "u1",
                    "name": "Old",
                    "supplier_type": "bigbuy",
                    **common,
                    "status": "inactive",
                },
                {
                    "id": "s-odd",
                    "user_id": "u1",
                    "name": "Odd",
                    "supplier_type": "no_such_spec",
                    **common,
                },
            ],
        )
        conn.execute(
            insert(marketplace_integrations),
            [
                {
                    "id": "m-shop",
                    "user_id": "u1",
                    "platform": "shopify",
                    "name": "Shop",
                    "shop_url": "https://x.myshopify.com",
                    **common,
                }
            ],
        )


SCHEDULES = (
    ScheduleSpec(name="hourly-inventory", sync_type="inventory_update", cron="0 * * * *"),
    ScheduleSpec(name="orders", sync_type="order_sync", cron="*/15 * * * *", priority=10),
)


def test_schedule_slot():
    at = datetime(2025, 3, 1, 10, 7, 30, tzinfo=UTC)
    assert schedule_slot("0 * * * *", at) == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert schedule_slot("*/15 * * * *", at) == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    on_the_dot = datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    assert schedule_slot("0 * * * *", on_the_dot) == on_the_dot


def test_schedules_enqueue_each_slot_once_per_account(engine, bundled_specs):
    clock = FakeClock(datetime(2025, 3, 1, 10, 7, tzinfo=UTC))
    _accounts(engine, clock.now())
    specs = specs_with(bundled_specs, schedules=SCHEDULES)
    queue = Queue(engine, specs.runner.queue, clock)
    created = enqueue_due_schedules(queue, specs)
    jobs = {(j["source_type"], j["supplier_id"]): j for j in queue.list()}
    assert len(created) == 3
    assert set(jobs) == {
        ("inventory_update", "s-big"),
        ("inventory_update", "s-ali"),
        ("order_sync", "m-shop"),
    }
    orders = jobs[("order_sync", "m-shop")]
    assert (orders["user_id"], orders["priority"]) == ("u1", 10)
    assert orders["dedupe_key"] == "schedule:orders:m-shop:20250301T1000Z"
    assert orders["metadata"] == {"schedule": "orders", "slot": "2025-03-01T10:00:00+00:00"}

    assert enqueue_due_schedules(queue, specs) == []  # same slot: nothing new
    clock.advance(minutes=10)  # 10:17: a new order slot, but the 10:00 job still waits
    assert enqueue_due_schedules(queue, specs) == []
    while (job := queue.claim("w")) is not None:  # the jobs run
        queue.complete(job, {})
    assert enqueue_due_schedules(queue, specs) != []  # 10:15 slot for orders
    assert {j["source_type"] for j in queue.list(statuses=["pending"])} == {"order_sync"}
    clock.advance(minutes=43)  # 11:00
    assert len(enqueue_due_schedules(queue, specs)) == 2  # inventory for 11:00 (orders wait)


def test_schedules_run_first_in_a_run(engine, bundled_specs):
    clock = FakeClock(datetime(2025, 3, 1, 10, 7, tzinfo=UTC))
    _accounts(engine, clock.now())
    specs = specs_with(bundled_specs, schedules=(SCHEDULES[0],))
    worker = Worker(
        engine, specs, clock=clock, options=WorkerOptions(maintenance=False, max_jobs=1)
    )
    report = worker.run()
    assert len(report.enqueued) == 2 and len(report.outcomes) == 1


def test_ctx_log_carries_the_job_fields_and_the_call_s_extra(engine, bundled_specs, caplog):
    specs = specs_with(bundled_specs)
    job_id = Queue(engine, specs.runner.queue).enqueue("u9", "wt_logs", account_id="s9").job_id
    with caplog.at_level("INFO", logger="sync_runner.job"):
        Worker(engine, specs, options=NO_EXTRAS).run()
    (record,) = [r for r in caplog.records if r.getMessage() == "step done"]
    assert (record.job_id, record.user_id, record.supplier) == (job_id, "u9", "s9")
    assert (record.event, record.step, record.sync_type) == ("step.finished", "products", "wt_logs")
