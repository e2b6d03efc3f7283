"""Secrets registered for redaction belong to the job that registered them (runner.redact).

Two jobs run one after the other in one worker process. Each registers its tenant's
credential as a connector does (`SECRETS.add_all(account.credentials)`) and logs it from
its own thread (as the sync's fetch and write threads do) and from the thread it runs in.
The first job's secret is not held once it ended; the second's log lines redact its own.
"""

from __future__ import annotations

import io
import random
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from runner.clock import FakeClock
from runner.config import load_specs
from runner.handlers import JobContext, register
from runner.logs import setup_logging
from runner.queue import Queue
from runner.redact import SECRETS, in_current_scope, redact, secret_scope
from runner.spec.model import BackoffSpec, QueueSpec
from runner.worker import Worker, WorkerOptions

ROOT = Path(__file__).resolve().parents[2]
SECRET_OF = {"tenant-a": "alpha-secret-123456", "tenant-b": "bravo-secret-654321"}
HELD_AT_START: dict[str, bool] = {}  # per user: was the other tenant's secret still held?


def _other(user_id: str) -> str:
    return next(secret for user, secret in SECRET_OF.items() if user != user_id)


@register("scope_probe", replace=True)
def _probe(ctx: JobContext) -> dict:
    user = ctx.job.user_id
    HELD_AT_START[user] = _other(user) in SECRETS
    secret = SECRET_OF[user]
    SECRETS.add_all({"api_key": secret, "shop": "x"})

    def in_thread() -> None:
        ctx.log.warning("fetch thread saw key %s", secret)

    for target in (in_current_scope(in_thread), in_thread):  # with and without its context
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    ctx.log.warning("job thread saw key %s", secret)
    return {"redacted": redact(f"answer {secret}")}


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    setup_logging("json", "info", stream)
    yield stream
    setup_logging("human", "warning", io.StringIO())


def test_two_jobs_keep_their_secrets_to_themselves(engine, log_stream):
    specs = load_specs(ROOT / "specs")
    queue_spec = QueueSpec(
        lease_seconds=10,
        heartbeat_seconds=1,
        max_attempts=1,
        backoff=BackoffSpec(base_seconds=30, max_seconds=300, jitter=0.0),
    )
    specs = replace(specs, runner=replace(specs.runner, queue=queue_spec))
    clock = FakeClock()
    queue = Queue(engine, specs.runner.queue, clock)
    for user in SECRET_OF:
        queue.enqueue(user, "scope_probe")
        clock.advance(1)  # tenant-a first
    worker = Worker(
        engine,
        specs,
        clock=clock,
        rng=random.Random(1),
        options=WorkerOptions(schedules=False, maintenance=False),
    )

    report = worker.run()

    assert [(o.user_id, o.outcome) for o in report.outcomes] == [
        ("tenant-a", "completed"),
        ("tenant-b", "completed"),
    ]
    # The first job's secret was gone when the second started, and is gone now.
    assert HELD_AT_START == {"tenant-a": False, "tenant-b": False}
    assert all(secret not in SECRETS for secret in SECRET_OF.values())
    assert redact(f"later {SECRET_OF['tenant-a']}") == f"later {SECRET_OF['tenant-a']}"
    for outcome in report.outcomes:
        assert outcome.result_data == {"redacted": "answer ***"}
    text = log_stream.getvalue()
    lines = [line for line in text.splitlines() if "saw key" in line]
    assert len(lines) == 6, text
    assert all("saw key ***" in line for line in lines), text
    assert not any(secret in text for secret in SECRET_OF.values())


def test_a_nested_scope_sees_the_outer_secrets_and_keeps_its_own():
    with secret_scope():
        SECRETS.add("outer-secret-value")
        with secret_scope():
            SECRETS.add("inner-secret-value")
            assert redact("outer-secret-value inner-secret-value") == "*** ***"
        assert redact("inner-secret-value") == "inner-secret-value"
        assert "outer-secret-value" in SECRETS
    assert "outer-secret-value" not in SECRETS


def test_a_thread_started_without_the_scope_sees_every_open_scope():
    seen: list[str] = []
    with secret_scope():
        SECRETS.add("tenant-secret-value")
        thread = threading.Thread(target=lambda: seen.append(redact("tenant-secret-value")))
        thread.start()
        thread.join()
    assert seen == ["***"]


def test_a_bare_thread_registers_in_the_job_not_in_the_command_around_it():
    """A job's scope inside a command's (`sync-runner run`): what a thread started without
    the job's context registers is gone when the job ends, not kept by the command."""
    seen: list[str] = []

    def fetch() -> None:
        SECRETS.add("session-token-value")
        seen.append(redact("session-token-value"))

    with secret_scope():  # the command
        with secret_scope():  # the job
            thread = threading.Thread(target=fetch)
            thread.start()
            thread.join()
            assert redact("session-token-value") == "***"
        assert "session-token-value" not in SECRETS
        assert redact("session-token-value") == "session-token-value"
    assert seen == ["***"]
