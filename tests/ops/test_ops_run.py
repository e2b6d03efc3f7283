"""`sync-runner run` end to end, in a real process: webhooks per ended job, metrics pushed to a
Pushgateway, maintenance after the drain, the same events in both log formats, and a
credential echoed by the supplier API redacted everywhere."""

from __future__ import annotations

import hmac
import json
import os
import random
import re
import socket
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from runner.clock import SystemClock
from runner.db.tables import imported_products
from runner.queue import Queue
from runner.spec.load import load_specs
from tests.fakes.base import FakeServer, Reply, Request
from tests.fakes.bigbuy import BigBuyServer
from tests.sync.support import add_supplier

pytestmark = pytest.mark.slow  # real CLI processes

API_KEY = "bb_live_9f8e7d6c5b4a3210"  # the supplier credential that must never be logged
HOOK_SECRET = "whsec_e2e_0123456789"


class Sink(FakeServer):
    """Answers 204 or 202 to anything: a webhook receiver, or a Pushgateway."""

    name = "sink"

    def __init__(self, status: int = 204) -> None:
        super().__init__()
        self.status = status

    def handle(self, request: Request) -> Reply:
        return Reply(self.status)


class EchoingBigBuy(BigBuyServer):
    """Refuses the price list with a 401 that echoes the key, as some APIs do."""

    def handle(self, request: Request) -> Reply:
        if "productprices" in request.path:
            return Reply(401, {"code": 401, "message": f"API key {self.api_key} is not allowed"})
        return super().handle(request)


@pytest.fixture
def servers():
    with (
        EchoingBigBuy(products=8, api_key=API_KEY) as bigbuy,
        Sink(204) as receiver,
        Sink(202) as gateway,
    ):
        yield bigbuy, receiver, gateway


def run_cli(args: list[str], db_url: str, specs_dir) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SYNC_RUNNER_SPECS": str(specs_dir),
        "HOOK_SECRET": HOOK_SECRET,
    }
    env.pop("LOG_FORMAT", None)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def enqueue(engine, specs, sync_type: str) -> str:
    queue = Queue(engine, specs.runner.queue, SystemClock(), random.Random(1))
    return queue.enqueue("user-a", sync_type, account_id="bb", max_attempts=1).job_id


def prepare(engine, make_specs, servers):
    """Specs with a webhook to the receiver, and a live BigBuy account on the fake."""
    bigbuy, receiver, _ = servers
    webhook = {
        "name": "ops",
        "url": f"{receiver.base_url}/hooks/sync",
        "secret": "{{ env.HOOK_SECRET }}",
        "allow_hosts": ["127.0.0.1"],
        "timeout_seconds": 3,
    }
    specs_dir = make_specs({"webhooks": [webhook]})
    add_supplier(engine, "bb", "bigbuy", base_url=bigbuy.base_url, credentials={"api_key": API_KEY})
    return specs_dir


def run_two_jobs(engine, specs_dir, servers, log_format: str):
    """Enqueue a catalogue job and a price job (the 401 fails it), then `sync-runner run`."""
    gateway = servers[2]
    specs = load_specs(specs_dir)
    jobs = {
        "catalogue": enqueue(engine, specs, "supplier_api"),
        "prices": enqueue(engine, specs, "price_update"),
    }
    db_url = engine.url.render_as_string(hide_password=False)
    args = ["run", "--no-schedules", "--pushgateway", gateway.base_url, "--json"]
    result = run_cli([*args, "--log-format", log_format], db_url, specs_dir)
    assert result.returncode == 0, result.stderr
    return jobs, result


def test_run_notifies_pushes_and_maintains(engine, make_specs, servers):
    _, receiver, gateway = servers
    jobs, result = run_two_jobs(engine, prepare(engine, make_specs, servers), servers, "json")
    report = json.loads(result.stdout)

    # One signed delivery per ended job.
    assert len(receiver.requests) == 2
    events = {}
    for request in receiver.requests:
        expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request.body, "sha256").hexdigest()
        assert hmac.compare_digest(request.headers["x-syncrunner-signature"], expected)
        body = json.loads(request.body)
        assert body["event"] == request.headers["x-syncrunner-event"]
        events[body["data"]["job_id"]] = body
    assert events[jobs["catalogue"]]["event"] == "job.completed"
    assert events[jobs["catalogue"]]["data"]["result_data"]["totals"]["inserted"] == 8
    # The job's account under its name and under the key receivers read before.
    data = events[jobs["catalogue"]]["data"]
    assert (data["account_id"], data["supplier_id"]) == ("bb", "bb")
    assert events[jobs["prices"]]["event"] == "job.failed"
    assert API_KEY not in json.dumps(events)

    # Metrics pushed once, with this run's counts.
    [push] = gateway.requests
    assert push.method == "POST" and push.path == "/metrics/job/sync-runner"
    samples = {
        (s.name, tuple(s.labels.items())): s.value
        for family in text_string_to_metric_families(push.body.decode())
        for s in family.samples
    }
    bigbuy = (("supplier", "bigbuy"),)
    catalogue = (*bigbuy, ("sync_type", "supplier_api"))
    prices = (*bigbuy, ("sync_type", "price_update"))
    assert samples[("syncrunner_last_run_jobs", (("outcome", "completed"), *catalogue))] == 1
    assert samples[("syncrunner_last_run_jobs", (("outcome", "failed"), *prices))] == 1
    assert samples[("syncrunner_last_run_records", (("outcome", "inserted"), *catalogue))] == 8
    # A job failed: the run is not a success, and says so.
    assert samples[("syncrunner_last_run_success", ())] == 0
    assert ("syncrunner_last_success_timestamp_seconds", ()) not in samples

    # Maintenance ran after the drain and scored every product.
    assert report["maintenance"]["scores"]["products"] == 8
    with engine.connect() as conn:
        unscored = select(func.count()).where(imported_products.c.ai_score.is_(None))
        assert conn.execute(unscored).scalar() == 0

    # JSON logs: one object per line, with the job fields.
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    by_event = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)
    for name in ("run.started", "job.started", "step.finished", "job.failed", "run.finished"):
        assert name in by_event, sorted(by_event)
    assert "maintenance.finished" in by_event
    step = by_event["step.finished"][0]
    assert step["job_id"] in jobs.values() and step["supplier"] == "bigbuy"
    assert step["counts"]["inserted"] >= 0
    [completed] = by_event["job.completed"]
    assert completed["job_id"] == jobs["catalogue"] and completed["supplier"] == "bb"
    assert completed["counts"]["inserted"] == 8 and "accounts" not in completed["counts"]
    assert API_KEY not in result.stderr and "***" in result.stderr


HUMAN_EVENT = re.compile(r" \[([a-z_.]+)(?: |\])")


def test_both_formats_log_the_same_events_and_hide_the_key(engine, make_specs, servers):
    specs_dir = prepare(engine, make_specs, servers)
    _, json_run = run_two_jobs(engine, specs_dir, servers, "json")
    # The same two jobs again (the catalogue now finds everything unchanged), in human form.
    _, human_run = run_two_jobs(engine, specs_dir, servers, "human")
    json_events = [json.loads(line)["event"] for line in json_run.stderr.splitlines()]
    human_events = [
        match.group(1) if match else "log"
        for match in map(HUMAN_EVENT.search, human_run.stderr.splitlines())
    ]
    assert len(json_events) > 10 and json_events == human_events
    for run in (json_run, human_run):
        assert API_KEY not in run.stderr and "***" in run.stderr
    assert "❌" in human_run.stderr and "🧹" in human_run.stderr and "✅" in human_run.stderr


def test_run_job_notifies_too(engine, make_specs, servers):
    _, receiver, _ = servers
    specs_dir = prepare(engine, make_specs, servers)
    job_id = enqueue(engine, load_specs(specs_dir), "supplier_api")
    db_url = engine.url.render_as_string(hide_password=False)
    result = run_cli(["run-job", job_id, "--log-format", "json"], db_url, specs_dir)
    assert result.returncode == 0, result.stderr
    [request] = receiver.requests
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request.body, "sha256").hexdigest()
    assert hmac.compare_digest(request.headers["x-syncrunner-signature"], expected)
    body = json.loads(request.body)
    assert body["event"] == "job.completed" and body["data"]["job_id"] == job_id


def test_a_dead_or_slow_receiver_does_not_fail_the_job(engine, make_specs, servers):
    bigbuy, receiver, _ = servers
    receiver.faults.slow(5)  # the first delivery hangs far past the webhook timeout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    hooks = [
        {
            "name": name,
            "url": url,
            "secret": "{{ env.HOOK_SECRET }}",
            "allow_hosts": ["127.0.0.1"],
            "timeout_seconds": 1,
        }
        for name, url in (
            ("slow", f"{receiver.base_url}/slow"),
            ("dead", f"http://127.0.0.1:{dead_port}/hook"),
        )
    ]
    specs_dir = make_specs({"webhooks": hooks})
    add_supplier(engine, "bb", "bigbuy", base_url=bigbuy.base_url, credentials={"api_key": API_KEY})
    job_id = enqueue(engine, load_specs(specs_dir), "supplier_api")
    db_url = engine.url.render_as_string(hide_password=False)
    started = time.monotonic()
    result = run_cli(["run", "--no-schedules", "--json"], db_url, specs_dir)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15  # two 1-second webhook budgets, not 5 s of hanging
    [job] = json.loads(result.stdout)["jobs"]
    assert job["job_id"] == job_id and job["outcome"] == "completed"
    assert Queue(engine, load_specs(specs_dir).runner.queue).get(job_id)["status"] == "completed"
    warnings = [line for line in result.stderr.splitlines() if "webhook" in line]
    assert len(warnings) == 2 and all("not delivered" in line for line in warnings)


def test_a_failed_job_exits_1_and_pushes_failure_with_the_queue_left(engine, make_specs, servers):
    """run-job exits 1 on a failed job (k8s/run-job then fails); a run with a failed job
    pushes last_run_success 0, labelled counts, and the queue it left behind."""
    _, _, gateway = servers
    specs_dir = prepare(engine, make_specs, servers)
    specs = load_specs(specs_dir)
    db_url = engine.url.render_as_string(hide_password=False)

    failing = enqueue(engine, specs, "price_update")  # the fake refuses the price list
    result = run_cli(["run-job", failing, "--log-format", "json"], db_url, specs_dir)
    assert result.returncode == 1, result.stderr
    assert "failed" in result.stdout and "Traceback" not in result.stderr
    # The old flag is still accepted, and changes nothing.
    again = enqueue(engine, specs, "price_update")
    flagged = run_cli(["run-job", again, "--fail-on-job-error"], db_url, specs_dir)
    assert flagged.returncode == 1, flagged.stderr

    enqueue(engine, specs, "price_update")
    enqueue(engine, specs, "supplier_api")  # left due: the run stops after one job
    args = ["run", "--no-schedules", "--no-maintenance", "--max-jobs", "1"]
    result = run_cli([*args, "--pushgateway", gateway.base_url], db_url, specs_dir)
    assert result.returncode == 0, result.stderr  # the queue keeps the failure; see --help
    [push] = gateway.requests
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(push.body.decode())
        for s in family.samples
    }
    assert samples[("syncrunner_last_run_success", ())] == 0
    prices = (("outcome", "failed"), ("supplier", "bigbuy"), ("sync_type", "price_update"))
    assert samples[("syncrunner_last_run_jobs", prices)] == 1
    catalogue = (("supplier", "bigbuy"), ("sync_type", "supplier_api"))
    assert samples[("syncrunner_queue_jobs", (("state", "due"), *catalogue))] == 1
    assert samples[("syncrunner_queue_jobs", (("state", "running"), *catalogue))] == 0
    assert samples[("syncrunner_queue_oldest_due_age_seconds", catalogue)] >= 0
    assert not any("user" in name or "user-a" in str(labels) for name, labels in samples)
