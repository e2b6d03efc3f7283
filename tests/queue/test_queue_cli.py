"""The queue commands (`enqueue`, `jobs ...`, `stats`, `db upgrade`, `run`, `run-job`),
driven through click on SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import queue_test_handlers  # registers qt_record
from click.testing import CliRunner

from runner.cli import cli
from runner.commands.queue import parse_when
from runner.db.engine import make_engine
from runner.db.migrations import current_revision, head_revision
from runner.queue import Queue

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture
def invoke(db_url):
    runner = CliRunner()

    def call(*args: str, code: int = 0):
        result = runner.invoke(cli, [*args, "--specs", str(SPECS), "--database-url", db_url])
        assert result.exit_code == code, (result.output, result.stderr)
        return result

    return call


def test_enqueue_prints_the_id_and_dedupes(invoke, engine):
    first = invoke(
        "enqueue",
        "--user",
        "u1",
        "--type",
        "inventory_update",
        "--account",
        "s1",
        "--priority",
        "5",
        "--dedupe-key",
        "k1",
        "--max-attempts",
        "2",
        "--metadata",
        '{"lang": "en"}',
    ).stdout.strip()
    again = invoke("enqueue", "--user", "u1", "--type", "inventory_update", "--dedupe-key", "k1")
    assert again.stdout.strip() == first
    assert "already queued" in again.stderr
    job = Queue(engine).get(first)
    assert (job["priority"], job["max_attempts"], job["supplier_id"]) == (5, 2, "s1")
    assert job["metadata"] == {"lang": "en"}
    dry = invoke("enqueue", "--user", "u1", "--type", "price_update", "--dry-run").stdout.strip()
    assert Queue(engine).get(dry)["metadata"] == {"dry_run": True}


def test_enqueue_refuses_bad_input(invoke):
    assert (
        "unknown sync type 'nope'"
        in invoke("enqueue", "--user", "u", "--type", "nope", code=2).output
    )
    assert (
        "not a time"
        in invoke("enqueue", "--user", "u", "--type", "price_update", "--at", "soon", code=2).output
    )
    assert (
        "JSON object"
        in invoke(
            "enqueue", "--user", "u", "--type", "price_update", "--metadata", "[1]", code=2
        ).output
    )


def test_parse_when():
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert parse_when("now", now) == now
    assert parse_when("+15m", now) == now + timedelta(minutes=15)
    assert parse_when("2025-06-02T03:00:00", now) == datetime(2025, 6, 2, 3, 0, tzinfo=UTC)
    assert parse_when("2025-06-02T05:00:00+02:00", now) == datetime(2025, 6, 2, 3, 0, tzinfo=UTC)


def test_jobs_list_show_cancel_retry(invoke, engine):
    queue = Queue(engine)
    a = queue.enqueue("u1", "inventory_update", account_id="s1").job_id
    b = queue.enqueue("u2", "order_sync", run_at=datetime.now(UTC) + timedelta(hours=1)).job_id

    listing = invoke("jobs", "list").stdout
    assert listing.splitlines()[0].split()[:5] == ["ID", "STATUS", "TYPE", "USER", "ACCOUNT"]
    assert a[:8] in listing and b[:8] in listing
    rows = json.loads(invoke("jobs", "list", "--user", "u2", "--json").stdout)
    assert [r["id"] for r in rows] == [b]
    for option in ("--account", "--supplier"):  # --supplier: the option's old name
        rows = json.loads(invoke("jobs", "list", option, "s1", "--json").stdout)
        assert [(r["id"], r["supplier_id"]) for r in rows] == [(a, "s1")]

    shown = json.loads(invoke("jobs", "show", a[:8], "--json").stdout)
    assert (shown["id"], shown["status"]) == (a, "pending")
    assert "errors (0):" in invoke("jobs", "show", a).stdout
    assert "no job with id" in invoke("jobs", "show", "ffffffff", code=2).stderr

    assert "cancelled (was pending)" in invoke("jobs", "cancel", a[:8]).stdout
    again = invoke("jobs", "cancel", a, b, code=2)  # a is done already; b is still cancelled
    assert "already cancelled" in again.stderr and f"{b}: cancelled" in again.stdout
    assert "pending again" in invoke("jobs", "retry", a).stdout
    assert "only failed or cancelled" in invoke("jobs", "retry", a, code=2).stderr
    assert (
        json.loads(invoke("jobs", "list", "--status", "cancelled", "--json").stdout)[0]["id"] == b
    )
    failed = queue.claim("w", job_id=a)
    queue.fail(failed, type_="PermanentError", message="401", transient=False)
    assert invoke("jobs", "retry", "--all-failed", "--type", "inventory_update").stdout == (
        f"{a}: pending again\n"
    )
    assert "give job ids or --all-failed" in invoke("jobs", "retry", code=2).output


def test_stats_text_and_json(invoke, engine):
    queue = Queue(engine)
    queue.enqueue("u1", "qt_record")
    job = queue.claim("w-1")
    text = invoke("stats").stdout
    assert "running jobs (1):" in text and "w-1" in text
    data = json.loads(invoke("stats", "--json", "--days", "1").stdout)
    assert data["statuses"]["running"]["count"] == 1 and data["days"] == 1
    queue.complete(job, {})
    assert json.loads(invoke("stats", "--json").stdout)["statuses"]["completed"]["count"] == 1


def test_run_and_run_job(invoke, engine):
    queue_test_handlers.side.create_all(engine)
    queue = Queue(engine)
    first = queue.enqueue("u1", "qt_record", account_id="s1").job_id
    later = queue.enqueue("u2", "qt_record", run_at=datetime.now(UTC) + timedelta(days=1)).job_id
    report = json.loads(invoke("run", "--no-maintenance", "--no-schedules", "--json").stdout)
    assert [j["job_id"] for j in report["jobs"]] == [first]
    # The account id under its name and under the key scripts read before (`supplier_id`).
    assert [(j["account_id"], j["supplier_id"]) for j in report["jobs"]] == [("s1", "s1")]
    assert report["stopped_by"] == "drained"
    dry = invoke("run-job", later[:8], "--dry-run", "--json")
    assert json.loads(dry.stdout)["outcome"] == "released"
    done = invoke("run-job", later)
    assert "completed" in done.stdout
    assert "already completed" in invoke("run-job", later, code=2).stderr


def test_db_upgrade(blank_db_url):
    runner = CliRunner()
    args = ["db", "upgrade", "--specs", str(SPECS), "--database-url", blank_db_url]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0 and "upgraded from an empty database" in first.stdout
    second = runner.invoke(cli, args)
    assert second.exit_code == 0 and "already at revision" in second.stdout
    engine = make_engine(blank_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
