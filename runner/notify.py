"""Webhooks: when a job ends, POST its result as signed JSON to the URLs in runner.yaml.

    webhooks:
      - name: ops
        url: https://hooks.example.com/sync-runner
        secret: "{{ env.SYNC_RUNNER_WEBHOOK_SECRET }}"
        events: [job.completed, job.failed]
        timeout_seconds: 5
        max_attempts: 3

Each delivery is one POST of a compact JSON body `{"event", "delivery_id", "timestamp",
"data"}` with these headers:

- `X-SyncRunner-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body with the secret;
- `X-SyncRunner-Event`: e.g. `job.completed`;
- `X-SyncRunner-Delivery`: a unique id, the same on every retry of one delivery;
- `X-SyncRunner-Timestamp`: Unix seconds, also in the body (reject old ones against replay).

`timeout_seconds` bounds the whole delivery, retries included: a dead or slow receiver costs
the run at most that long per webhook. Transport errors, 408, 429 and 5xx are retried with
exponential backoff while time is left; other answers are final. Redirects are not followed.
A failed delivery is logged and returned, never raised: it never fails the job.

Loopback, link-local and cloud metadata destinations (127.0.0.0/8, ::1, 169.254.0.0/16,
fe80::/10, fd00:ec2::254, 100.100.100.200, metadata.google.internal, ...) are refused unless
the webhook lists the host in `allow_hosts`: a spec must not be able to read instance
credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from runner.redact import SECRETS, redact, redact_url
from runner.spec.model import WebhookSpec
from runner.templating import compile_template

log = logging.getLogger("sync_runner.notify")

SIGNATURE_HEADER = "X-SyncRunner-Signature"
EVENT_HEADER = "X-SyncRunner-Event"
DELIVERY_HEADER = "X-SyncRunner-Delivery"
TIMESTAMP_HEADER = "X-SyncRunner-Timestamp"
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
BACKOFF_SECONDS = 0.5

REFUSED_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",  # loopback
        "::1/128",
        "0.0.0.0/8",  # "this host"
        "::/128",
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 (AWS, GCP, Azure, OCI, ...)
        "fe80::/10",
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "168.63.129.16/32",  # Azure wire server
    )
)

Resolver = Callable[[str], list[str]]


@dataclass(frozen=True)
class DeliveryResult:
    webhook: str
    event: str
    delivery_id: str
    ok: bool
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None  # redacted
    refused: bool = False
    duration_seconds: float = 0.0


def sign(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: compare the header with its own HMAC in constant time."""
    return hmac.compare_digest(sign(secret, body), signature)


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # unresolvable: the request itself will fail and be reported
    return [str(info[4][0]) for info in infos]


def _is_refused_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in REFUSED_NETWORKS if net.version == ip.version)


def refusal_reason(
    url: str, allow_hosts: Iterable[str] = (), resolve: Resolver = _resolve
) -> str | None:
    """Why a webhook URL may not be called, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not http or https"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "the URL has no host"
    if host in {h.lower() for h in allow_hosts}:
        return None
    if host in REFUSED_HOSTNAMES:
        return f"{host} is a cloud metadata host (add it to allow_hosts to permit it)"
    addresses = [host] if _is_ip(host) else resolve(host)
    for address in addresses:
        if _is_refused_address(address):
            return (
                f"{host} resolves to {address}, a loopback, link-local or metadata address "
                "(add the host to allow_hosts to permit it)"
            )
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def encode_body(event: str, delivery_id: str, timestamp: int, payload: Mapping[str, Any]) -> bytes:
    document = {"event": event, "delivery_id": delivery_id, "timestamp": timestamp, "data": payload}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def deliver_job_event(
    webhooks: Iterable[WebhookSpec],
    event: str,
    payload: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
) -> list[DeliveryResult]:
    """POST `payload` to every webhook subscribed to `event`; one result per webhook.

    Never raises. `env` (default `os.environ`) resolves the secret templates.
    """
    env = os.environ if env is None else env
    results = []
    for webhook in webhooks:
        if event in webhook.events:
            results.append(_deliver(webhook, event, payload, env))
    return results


def _deliver(
    webhook: WebhookSpec,
    event: str,
    payload: Mapping[str, Any],
    env: Mapping[str, str],
) -> DeliveryResult:
    started = time.monotonic()
    deadline = started + webhook.timeout_seconds
    delivery_id = str(uuid.uuid4())
    fields = {
        "webhook": webhook.name,
        "delivery_id": delivery_id,
        "webhook_event": event,
        "job_id": payload.get("job_id") or payload.get("id"),
        "user_id": payload.get("user_id"),
    }

    def result(ok: bool, **kwargs: Any) -> DeliveryResult:
        outcome = DeliveryResult(
            webhook.name,
            event,
            delivery_id,
            ok,
            duration_seconds=round(time.monotonic() - started, 3),
            **kwargs,
        )
        extra = {**fields, "attempts": outcome.attempts, "status_code": outcome.status_code}
        if ok:
            extra["event"] = "webhook.delivered"
            log.info("webhook %s: %s delivered", webhook.name, event, extra=extra)
        else:
            extra.update(event="webhook.failed", refused=outcome.refused)
            log.warning(
                "webhook %s: %s not delivered: %s", webhook.name, event, outcome.error, extra=extra
            )
        return outcome

    try:
        url = compile_template(webhook.url)({"env": env})
    except Exception as exc:
        return result(False, error=f"cannot resolve the webhook URL: {exc}")
    reason = refusal_reason(url, webhook.allow_hosts)
    if reason:
        return result(False, refused=True, error=reason)
    try:
        secret = compile_template(webhook.secret)({"env": env})
    except Exception as exc:
        return result(False, error=f"cannot resolve the webhook secret: {exc}")
    if not secret:
        return result(False, error="the webhook secret is empty")
    SECRETS.add(secret)

    timestamp = int(time.time())
    body = encode_body(event, delivery_id, timestamp, payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "sync-runner",
        SIGNATURE_HEADER: sign(secret, body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
    }
    attempts, status, error = 0, None, None
    with httpx.Client(follow_redirects=False) as client:
        while attempts < webhook.max_attempts:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            try:
                response = client.post(url, content=body, headers=headers, timeout=remaining)
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {redact(str(exc))}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return result(True, attempts=attempts, status_code=status)
                error = f"HTTP {status} from {redact_url(url)}"
                if status not in RETRY_STATUSES:
                    break
            pause = BACKOFF_SECONDS * 2 ** (attempts - 1)
            if attempts >= webhook.max_attempts or time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
    if error is None:
        error = "no attempt fitted in the timeout"
    return result(False, attempts=attempts, status_code=status, error=error)


# Queue outcomes that end a job, and the event each one sends.
JOB_END_EVENTS = {"completed": "job.completed", "failed": "job.failed"}


def job_outcome_payload(outcome: Any) -> dict[str, Any]:
    """The `data` of a job event, from the worker's `JobOutcome` of a job that ended."""
    return {
        "job_id": outcome.job_id,
        "sync_type": outcome.sync_type,
        "user_id": outcome.user_id,
        "supplier_id": outcome.account_id,  # the payload key is kept for webhook receivers
        "account_id": outcome.account_id,
        "status": outcome.outcome,
        "attempt": outcome.attempt,
        "duration_seconds": outcome.seconds,
        "error": outcome.message,
        "result_data": outcome.result_data,
    }


def job_end_notifier(
    webhooks: Iterable[WebhookSpec], *, env: Mapping[str, str] | None = None
) -> Callable[[Any], list[DeliveryResult]]:
    """A `Worker(on_job_end=[...])` hook: deliver `job.completed` / `job.failed` for jobs
    that ended (a retry, a deferral or a hand-back is not an end and sends nothing)."""
    webhooks = tuple(webhooks)

    def notify(outcome: Any) -> list[DeliveryResult]:
        event = JOB_END_EVENTS.get(outcome.outcome)
        if event is None or not webhooks:
            return []
        return deliver_job_event(webhooks, event, job_outcome_payload(outcome), env=env)

    return notify
