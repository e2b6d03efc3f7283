"""Pushgateway metrics against a real local fake Pushgateway, read back from the text format."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.logs import setup_logging
from runner.metrics import RunSummary, push_run_metrics
from runner.queue_depth import QueueDepth
from tests.fakes.base import FakeServer, Reply, Request


class FakePushgateway(FakeServer):
    """Accepts pushes like a Pushgateway (202 for PUT/POST on /metrics/job/...) and keeps
    the bodies."""

    name = "pushgateway"

    def handle(self, request: Request) -> Reply:
        if request.method in ("PUT", "POST") and request.path.startswith("/metrics/job/"):
            return Reply(202)
        return Reply(404, {"error": "not found"})


@pytest.fixture(scope="module")
def _gateway():
    with FakePushgateway() as server:
        yield server


@pytest.fixture
def gateway(_gateway):
    _gateway.reset()
    return _gateway


def read_back(request: Request) -> dict[tuple[str, tuple], float]:
    """Every sample of a pushed body: (name, sorted labels) -> value."""
    samples = {}
    for family in text_string_to_metric_families(request.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


BIGBUY = {"sync_type": "supplier_api", "supplier": "bigbuy"}


def finished_summary(success: bool = True) -> RunSummary:
    summary = RunSummary(started_at=1_750_000_000.0)
    summary.count_job("completed", {"inserted": 10, "updated": 5, "unchanged": 100}, **BIGBUY)
    summary.count_job("completed", {"updated": 2, "rejected": 3, "pages": 7}, **BIGBUY)
    summary.count_job("failed", **BIGBUY)
    summary.count_job("retried", **BIGBUY)
    summary.queue = [
        QueueDepth("supplier_api", "bigbuy", 3, 1, 90, waiting=2, oldest_waiting_age_seconds=4000)
    ]
    summary.finish(success=success, at=1_750_000_042.5)
    return summary


def labels(outcome: str, **more: str) -> tuple:
    return tuple(sorted({"outcome": outcome, **BIGBUY, **more}.items()))


def test_a_run_pushes_the_documented_metrics(gateway):
    assert push_run_metrics(gateway.base_url, finished_summary()) is True
    [request] = gateway.requests
    # pushadd: POST, grouping key job="sync-runner" and nothing else (no pod/instance label)
    assert request.method == "POST"
    assert request.path == "/metrics/job/sync-runner"
    samples = read_back(request)
    assert samples == {
        ("syncrunner_last_run_timestamp_seconds", ()): 1_750_000_042.5,
        ("syncrunner_last_success_timestamp_seconds", ()): 1_750_000_042.5,
        ("syncrunner_last_run_success", ()): 1.0,
        ("syncrunner_last_run_duration_seconds", ()): 42.5,
        ("syncrunner_last_run_jobs", labels("completed")): 2.0,
        ("syncrunner_last_run_jobs", labels("failed")): 1.0,
        ("syncrunner_last_run_jobs", labels("retried")): 1.0,
        ("syncrunner_last_run_jobs", labels("released")): 0.0,
        ("syncrunner_last_run_records", labels("inserted")): 10.0,
        ("syncrunner_last_run_records", labels("updated")): 7.0,
        ("syncrunner_last_run_records", labels("unchanged")): 100.0,
        ("syncrunner_last_run_records", labels("rejected")): 3.0,
        ("syncrunner_queue_jobs", tuple(sorted({"state": "due", **BIGBUY}.items()))): 3.0,
        ("syncrunner_queue_jobs", tuple(sorted({"state": "running", **BIGBUY}.items()))): 1.0,
        ("syncrunner_queue_jobs", tuple(sorted({"state": "waiting", **BIGBUY}.items()))): 2.0,
        ("syncrunner_queue_oldest_due_age_seconds", tuple(sorted(BIGBUY.items()))): 90.0,
        ("syncrunner_queue_oldest_waiting_age_seconds", tuple(sorted(BIGBUY.items()))): 4000.0,
    }
    families = {f.name: f.type for f in text_string_to_metric_families(request.body.decode())}
    assert set(families.values()) == {"gauge"}


def test_a_failed_run_does_not_push_a_success_time(gateway):
    assert push_run_metrics(gateway.base_url, finished_summary(success=False))
    samples = read_back(gateway.requests[0])
    names = {name for name, _ in samples}
    assert "syncrunner_last_success_timestamp_seconds" not in names
    assert samples[("syncrunner_last_run_success", ())] == 0.0
    assert samples[("syncrunner_last_run_timestamp_seconds", ())] == 1_750_000_042.5


def test_no_url_no_push(gateway):
    assert push_run_metrics(None, finished_summary()) is False
    assert push_run_metrics("", finished_summary()) is False
    assert gateway.requests == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("problem", ["dead", "slow", "error"])
def test_a_failed_push_warns_and_never_raises(gateway, problem):
    stream = io.StringIO()
    setup_logging("json", "info", stream)
    url = gateway.base_url
    if problem == "dead":
        url = f"http://127.0.0.1:{free_port()}"
    elif problem == "slow":
        gateway.faults.slow(3)
    else:
        gateway.faults.server_errors(1, status=500)
    started = time.monotonic()
    try:
        assert push_run_metrics(url, finished_summary(), timeout=0.5) is False
    finally:
        setup_logging("human", "info", io.StringIO())
    assert time.monotonic() - started < 1.0
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["event"] == "metrics.push_failed"


def test_summary_counts():
    summary = RunSummary(started_at=100.0)
    summary.count_job("released")
    summary.add_records({"inserted": 2, "updated": True, "unknown": 5})  # bools are not counts
    summary.finish(success=True, at=103.0)
    assert summary.jobs == {"completed": 0, "failed": 0, "retried": 0, "released": 1}
    assert summary.labelled_jobs == {("", ""): summary.jobs}
    assert summary.records == {"inserted": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert summary.duration_seconds == 3.0
    with pytest.raises(ValueError):
        summary.count_job("exploded")


def test_a_run_without_jobs_pushes_zeros_not_an_empty_family(gateway):
    """A family without samples could leave the last push's series standing."""
    summary = RunSummary(started_at=10.0)
    summary.finish(success=True, at=11.0)
    assert push_run_metrics(gateway.base_url, summary)
    samples = read_back(gateway.requests[0])
    empty = (("supplier", ""), ("sync_type", ""))
    assert samples[("syncrunner_last_run_jobs", (("outcome", "failed"), *empty))] == 0
    assert samples[("syncrunner_last_run_records", (("outcome", "inserted"), *empty))] == 0
    assert samples[("syncrunner_queue_oldest_due_age_seconds", empty)] == 0
