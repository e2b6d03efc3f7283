"""Retention: exactly the rows past each configured age go, in bounded batches, on SQLite
and Postgres; two maintenance processes at once both succeed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import event, func, insert, select

from runner.cli import cli
from runner.db.tables import activity_logs, import_jobs, sync_rejects
from runner.maintenance import apply_retention, run_maintenance
from runner.spec.load import load_specs
from runner.spec.model import RetentionSpec, RunnerSpec
from tests.ops.support import NOW, ROOT

HOUR = timedelta(hours=1)


def add_log(conn, age: timedelta, tag: str) -> None:
    conn.execute(
        insert(activity_logs),
        {"level": "info", "event": "test", "message": tag, "created_at": NOW - age},
    )


def add_reject(conn, age: timedelta, tag: str) -> None:
    conn.execute(
        insert(sync_rejects),
        {"user_id": "u1", "step": "products", "reason": tag, "created_at": NOW - age},
    )


def add_job(conn, status: str, age: timedelta | None, tag: str, *, updated_age=None) -> None:
    """A job that finished `age` ago (None: never stamped completed_at)."""
    finished = None if age is None else NOW - age
    conn.execute(
        insert(import_jobs),
        {
            "id": str(uuid.uuid4()),
            "user_id": "u1",
            "source_type": "inventory_update",
            "status": status,
            "scheduled_at": NOW - timedelta(days=400),
            "concurrency_key": f"u1|inventory_update|{tag}",
            "created_at": NOW - timedelta(days=400),
            "updated_at": NOW - (updated_age if updated_age is not None else (age or HOUR)),
            "completed_at": finished,
            "metadata": {"tag": tag},
        },
    )


def remaining(conn) -> dict[str, set[str]]:
    jobs = conn.execute(select(import_jobs.c.metadata)).scalars()
    return {
        "logs": set(conn.execute(select(activity_logs.c.message)).scalars()),
        "rejects": set(conn.execute(select(sync_rejects.c.reason)).scalars()),
        "jobs": {m["tag"] for m in jobs},
    }


def seed_around(conn, retention: RetentionSpec) -> None:
    """For each policy: one row just past its age (tagged `old-*`), one just inside it, and
    one exactly at it (kept: only rows strictly older go)."""
    days = timedelta(days=1)
    for tag, age in (
        ("old-log", retention.activity_logs_days * days + HOUR),
        ("young-log", retention.activity_logs_days * days - HOUR),
        ("edge-log", retention.activity_logs_days * days),
    ):
        add_log(conn, age, tag)
    for tag, age in (
        ("old-reject", retention.rejects_days * days + HOUR),
        ("young-reject", retention.rejects_days * days - HOUR),
        ("edge-reject", retention.rejects_days * days),
    ):
        add_reject(conn, age, tag)
    completed = retention.completed_jobs_days * days
    failed = retention.failed_jobs_days * days
    for status, tag, age in (
        ("completed", "old-completed", completed + HOUR),
        ("completed", "young-completed", completed - HOUR),
        ("completed", "edge-completed", completed),
        ("cancelled", "old-cancelled", completed + HOUR),
        ("cancelled", "young-cancelled", completed - HOUR),
        ("failed", "old-failed", failed + HOUR),
        ("failed", "young-failed", failed - HOUR),
        # a failed job younger than the failed policy but older than the completed one stays
        ("failed", "failed-older-than-completed-policy", completed + HOUR),
    ):
        add_job(conn, status, age, tag)
    # Unfinished jobs are never deleted, however old.
    add_job(conn, "pending", None, "ancient-pending", updated_age=timedelta(days=900))
    add_job(conn, "running", None, "ancient-running", updated_age=timedelta(days=900))
    # A finished job that lacks completed_at falls back to updated_at.
    add_job(conn, "completed", None, "old-unstamped", updated_age=completed + HOUR)


def expected_after(conn_state: dict[str, set[str]]) -> dict[str, set[str]]:
    return {k: {t for t in tags if not t.startswith("old-")} for k, tags in conn_state.items()}


def test_retention_deletes_exactly_the_rows_past_each_age(engine, clock):
    specs = load_specs(ROOT / "specs")
    retention = specs.runner.retention
    assert (retention.activity_logs_days, retention.completed_jobs_days) == (30, 7)
    with engine.begin() as conn:
        seed_around(conn, retention)
        before = remaining(conn)

    summary = run_maintenance(engine, specs, clock)

    with engine.connect() as conn:
        assert remaining(conn) == expected_after(before)
    assert summary["deleted"] == {
        "activity_logs": 1,
        "completed_jobs": 2,  # old-completed, old-unstamped
        "cancelled_jobs": 1,
        "failed_jobs": 1,
        "sync_rejects": 1,
    }
    # Running it again finds nothing more.
    again = run_maintenance(engine, specs, clock)
    assert sum(again["deleted"].values()) == 0


def test_changed_ages_in_runner_yaml_apply(engine, clock, make_specs):
    new_policy = {
        "activity_logs_days": 3,
        "completed_jobs_days": 1,
        "failed_jobs_days": 2,
        "rejects_days": 5,
        "batch_size": 2,
    }
    specs_dir = make_specs({"retention": new_policy})  # a copy whose runner.yaml says so
    assert yaml.safe_load((specs_dir / "runner.yaml").read_text())["retention"] == new_policy
    specs = load_specs(specs_dir)
    assert specs.runner.retention == RetentionSpec(3, 1, 2, 5, 2)
    with engine.begin() as conn:
        seed_around(conn, specs.runner.retention)
        # Rows the default policy (30/7/30/30 days) would keep, the new one deletes.
        add_log(conn, timedelta(days=10), "old-by-new-policy-log")
        add_job(conn, "completed", timedelta(days=3), "old-by-new-policy-job")
        before = remaining(conn)

    run_maintenance(engine, specs, clock)

    with engine.connect() as conn:
        after = remaining(conn)
    assert after == expected_after(before)
    assert "young-log" in after["logs"] and "old-by-new-policy-log" not in after["logs"]


def test_deletes_go_in_bounded_batches(engine, clock):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE"):
            statements.append(statement)

    with engine.begin() as conn:
        conn.execute(
            insert(activity_logs),
            [
                {"level": "info", "event": "e", "message": str(i), "created_at": NOW - HOUR * 800}
                for i in range(25)
            ],
        )
    event.listen(engine, "before_cursor_execute", record)
    try:
        deleted = apply_retention(engine, RetentionSpec(batch_size=10), NOW)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert deleted["activity_logs"] == 25
    # 10 + 10 + 5 for the logs, then one empty batch per other policy.
    log_deletes = [s for s in statements if "activity_logs" in s]
    assert len(log_deletes) == 3
    assert all("LIMIT" in s for s in statements)
    if engine.dialect.name == "postgresql":
        assert all("FOR UPDATE SKIP LOCKED" in s for s in statements)


@pytest.mark.slow
def test_two_maintenance_processes_at_once(engine, make_specs):
    """Two `sync-runner maintain` processes on one database: both exit 0, and together they
    delete every old row exactly once."""
    specs_dir = make_specs({"retention": {"batch_size": 50}})
    # The processes use the wall clock, so ages here are relative to it.
    now = datetime.now(UTC)
    old = now - timedelta(days=100)
    with engine.begin() as conn:
        conn.execute(
            insert(activity_logs),
            [
                {"level": "info", "event": "e", "message": f"m{i}", "created_at": old}
                for i in range(3000)
            ],
        )
        conn.execute(
            insert(sync_rejects),
            [{"user_id": "u", "step": "s", "reason": "r", "created_at": old} for _ in range(1000)],
        )
        conn.execute(
            insert(activity_logs),
            {"level": "info", "event": "e", "message": "young", "created_at": now},
        )
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": url}
    command = [
        sys.executable,
        "-m",
        "runner",
        "maintain",
        "--specs",
        str(specs_dir),
        "--json",
    ]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    summaries = [json.loads(out) for out, _ in outputs]
    assert sum(s["deleted"]["activity_logs"] for s in summaries) == 3000
    assert sum(s["deleted"]["sync_rejects"] for s in summaries) == 1000
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_rejects)).scalar() == 0
        assert set(conn.execute(select(activity_logs.c.message)).scalars()) == {"young"}


def test_four_concurrent_maintenance_threads_share_the_work(engine, clock):
    """Batches of 20 from four threads started together: no error, every old row deleted
    exactly once (the per-thread counts add up), young rows kept."""
    old = NOW - timedelta(days=100)
    with engine.begin() as conn:
        conn.execute(
            insert(activity_logs),
            [
                {"level": "info", "event": "e", "message": f"m{i}", "created_at": old}
                for i in range(2000)
            ],
        )
        add_log(conn, timedelta(days=1), "young")
    retention = RetentionSpec(batch_size=20)
    specs = replace(load_specs(ROOT / "specs"), runner=RunnerSpec(retention=retention))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def work():
        barrier.wait()
        try:
            results.append(run_maintenance(engine, specs, clock))
        except Exception as exc:  # collected, so that the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r["deleted"]["activity_logs"] for r in results) == 2000
    with engine.connect() as conn:
        assert set(conn.execute(select(activity_logs.c.message)).scalars()) == {"young"}


def test_maintain_command(engine, make_specs, tmp_path):
    with engine.begin() as conn:
        add_log(conn, timedelta(days=400), "ancient")  # older than any wall-clock cutoff
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    specs_dir = str(make_specs())
    result = runner.invoke(cli, ["maintain", "--specs", specs_dir, "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "🧹 maintenance done" in result.output
    assert "deleted activity_logs: 1" in result.output
    assert "ai_score: 0 of 0 products changed" in result.output

    missing = f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}"
    unreachable = runner.invoke(cli, ["maintain", "--specs", specs_dir, "--database-url", missing])
    assert unreachable.exit_code == 3

    bad_specs = make_specs({"retention": {"activity_logs_days": 0}}, name="bad")
    invalid = runner.invoke(cli, ["maintain", "--specs", str(bad_specs), "--database-url", url])
    assert invalid.exit_code == 2
    assert "activity_logs_days" in invalid.output


def test_demo_summary_includes_maintenance(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli, ["demo", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "🧹 maintenance done" in result.output
    scored = re.search(r"ai_score: (\d+) of (\d+) products changed", result.output)
    assert scored and scored[1] == scored[2] and int(scored[1]) > 0  # every product, first run
