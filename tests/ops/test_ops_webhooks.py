"""Webhooks against a real local receiver: signed deliveries, retries, timeouts, refusals."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import socket
import time

import pytest

from runner.logs import setup_logging
from runner.notify import deliver_job_event, refusal_reason
from runner.redact import SECRETS
from runner.spec.model import WebhookSpec
from tests.fakes.base import FakeServer, Reply, Request

SECRET = "whsec_0123456789abcdef"
ENV = {"HOOK_SECRET": SECRET}
PAYLOAD = {
    "id": "5b0e6c1d-0000-4000-8000-000000000042",
    "status": "completed",
    "source_type": "inventory_update",
    "result_data": {"counts": {"updated": 12}, "duration_seconds": 1.5},
}


class Receiver(FakeServer):
    """A webhook receiver: answers 204 and records every request."""

    name = "webhook-receiver"

    def handle(self, request: Request) -> Reply:
        return Reply(204)


@pytest.fixture(scope="module")
def _receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def receiver(_receiver):
    _receiver.reset()  # no requests, no faults
    return _receiver


def hook(url: str, **kwargs) -> WebhookSpec:
    kwargs.setdefault("allow_hosts", ("127.0.0.1",))  # the receiver is on loopback
    return WebhookSpec(name="ops", url=url, secret="{{ env.HOOK_SECRET }}", **kwargs)


def independent_signature(body: bytes) -> str:
    """The receiver's check, written here without runner.notify."""
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_one_signed_delivery(receiver):
    [result] = deliver_job_event(
        [hook(f"{receiver.base_url}/hook")], "job.completed", PAYLOAD, env=ENV
    )
    assert result.ok and result.status_code == 204 and result.attempts == 1
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/hook"
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert hmac.compare_digest(
        headers["x-syncrunner-signature"], independent_signature(request.body)
    )
    assert headers["x-syncrunner-event"] == "job.completed"
    assert headers["x-syncrunner-delivery"] == result.delivery_id
    body = json.loads(request.body)
    assert body == {
        "event": "job.completed",
        "delivery_id": result.delivery_id,
        "timestamp": int(headers["x-syncrunner-timestamp"]),
        "data": PAYLOAD,
    }
    assert abs(body["timestamp"] - time.time()) < 60


def test_a_tampered_body_fails_verification(receiver):
    deliver_job_event([hook(receiver.base_url)], "job.failed", PAYLOAD, env=ENV)
    [request] = receiver.requests
    tampered = request.body.replace(b"completed", b"failed")
    assert independent_signature(tampered) != request.headers["x-syncrunner-signature"]


def test_only_subscribed_events_are_sent(receiver):
    hooks = [hook(receiver.base_url, events=("job.failed",))]
    assert deliver_job_event(hooks, "job.completed", PAYLOAD, env=ENV) == []
    assert receiver.requests == []
    [result] = deliver_job_event(hooks, "job.failed", PAYLOAD, env=ENV)
    assert result.ok and len(receiver.requests) == 1


def test_server_errors_are_retried_with_the_same_delivery_id(receiver):
    receiver.faults.server_errors(2, status=503)
    [result] = deliver_job_event(
        [hook(receiver.base_url, max_attempts=3, timeout_seconds=5)],
        "job.completed",
        PAYLOAD,
        env=ENV,
    )
    assert result.ok and result.attempts == 3
    ids = {r.headers["x-syncrunner-delivery"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {result.delivery_id}
    # backoff between attempts: 0.5 s, then 1 s
    gaps = [b.time - a.time for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95


def test_a_client_error_is_final(receiver):
    receiver.faults.add("status", status=400, body={"error": "bad"})
    [result] = deliver_job_event([hook(receiver.base_url)], "job.completed", PAYLOAD, env=ENV)
    assert not result.ok and result.attempts == 1 and result.status_code == 400
    assert len(receiver.requests) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_dead_receiver_neither_raises_nor_holds_past_the_timeout():
    started = time.monotonic()
    [result] = deliver_job_event(
        [hook(f"http://127.0.0.1:{free_port()}/hook", timeout_seconds=1, max_attempts=5)],
        "job.failed",
        PAYLOAD,
        env=ENV,
    )
    elapsed = time.monotonic() - started
    assert not result.ok and result.status_code is None
    assert "ConnectError" in result.error
    assert result.attempts >= 2  # retried while time was left
    assert elapsed < 1.3


def test_a_slow_receiver_is_cut_off_at_the_timeout(receiver):
    receiver.faults.slow(3)
    started = time.monotonic()
    [result] = deliver_job_event(
        [hook(receiver.base_url, timeout_seconds=0.5)], "job.completed", PAYLOAD, env=ENV
    )
    assert time.monotonic() - started < 0.9
    assert not result.ok and result.attempts == 1 and "Timeout" in result.error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",  # loopback
        "http://localhost:{port}/hook",  # resolves to loopback
        "http://169.254.169.254/latest/meta-data/",  # link-local: AWS/GCP/Azure metadata
        "http://169.254.10.10/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IMDS over IPv6
        "http://[::ffff:169.254.169.254]/",  # the same, IPv4-mapped
        "http://[fe80::1]/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud
        "file:///etc/passwd",
    ],
)
def test_metadata_link_local_and_loopback_are_refused_by_default(receiver, url):
    spec = WebhookSpec(
        name="evil", url=url.format(port=receiver.port), secret="{{ env.HOOK_SECRET }}"
    )
    [result] = deliver_job_event([spec], "job.completed", PAYLOAD, env=ENV)
    assert result.refused and not result.ok and result.attempts == 0
    assert receiver.requests == []


def test_allow_hosts_permits_a_refused_host(receiver):
    url = f"http://localhost:{receiver.port}/hook"
    refused = deliver_job_event([hook(url, allow_hosts=())], "job.completed", PAYLOAD, env=ENV)
    allowed = deliver_job_event(
        [hook(url, allow_hosts=("localhost",))], "job.completed", PAYLOAD, env=ENV
    )
    assert refused[0].refused and allowed[0].ok
    assert len(receiver.requests) == 1


def test_refusal_checks_what_a_name_resolves_to():
    def resolve(host):
        return {"hooks.example": ["203.0.113.7"], "sneaky.example": ["169.254.169.254"]}[host]

    assert refusal_reason("https://hooks.example/x", (), resolve) is None
    assert "169.254.169.254" in refusal_reason("https://sneaky.example/x", (), resolve)
    assert refusal_reason("https://sneaky.example/x", ("sneaky.example",), resolve) is None
    assert refusal_reason("https://10.0.0.5/x") is None  # private cluster addresses are fine


def test_an_unresolved_secret_fails_the_delivery_not_the_caller(receiver):
    [result] = deliver_job_event([hook(receiver.base_url)], "job.completed", PAYLOAD, env={})
    assert not result.ok and "secret" in result.error and "HOOK_SECRET" in result.error
    assert receiver.requests == []


def test_the_url_may_be_a_template(receiver):
    spec = hook("{{ env.HOOK_URL }}")
    [result] = deliver_job_event(
        [spec], "job.completed", PAYLOAD, env={**ENV, "HOOK_URL": receiver.base_url + "/t"}
    )
    assert result.ok and receiver.requests[0].path == "/t"


def test_failures_are_logged_without_secrets(receiver):
    stream = io.StringIO()
    setup_logging("json", "info", stream)
    try:
        receiver.faults.add("status", status=500, body={}, times=5)
        url = f"{receiver.base_url}/hook?token=tok_secret_123456"
        [result] = deliver_job_event([hook(url, max_attempts=1)], "job.completed", PAYLOAD, env=ENV)
    finally:
        setup_logging("human", "info", io.StringIO())
        SECRETS.clear()
    assert not result.ok and "token=***" in result.error
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "webhook.failed" and record["level"] == "warning"
    assert record["webhook"] == "ops" and record["status_code"] == 500
    assert record["job_id"] == PAYLOAD["id"]
    assert "tok_secret_123456" not in line and SECRET not in line
