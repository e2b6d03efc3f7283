"""The KEDA trigger's query, run against a migrated Postgres queue, counts exactly the jobs a
drainer may claim. (KEDA's postgresql scaler runs it on Postgres only.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from deploy_support import find
from sqlalchemy import text, update

from runner.db.tables import import_jobs
from runner.queue import Queue


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_trigger_query_counts_due_unclaimed_jobs(engine, rendered):
    query = find(rendered("scale-out"), "ScaledJob")["spec"]["triggers"][0]["metadata"]["query"]
    queue = Queue(engine)
    now = datetime.now(UTC)
    ids = {
        name: queue.enqueue("shop-1", "inventory_update", account_id=name, run_at=run_at).job_id
        for name, run_at in [
            ("due", now - timedelta(minutes=1)),
            ("later", now + timedelta(hours=1)),
            ("claimed", now - timedelta(minutes=1)),
            ("lost", now - timedelta(minutes=1)),
            ("done", now - timedelta(minutes=1)),
        ]
    }
    with engine.begin() as conn:

        def set_row(name: str, **values) -> None:
            conn.execute(update(import_jobs).where(import_jobs.c.id == ids[name]).values(**values))

        set_row("claimed", status="running", lease_expires_at=now + timedelta(minutes=5))
        set_row("lost", status="running", lease_expires_at=now - timedelta(minutes=5))
        set_row("done", status="completed", completed_at=now)
    with engine.connect() as conn:
        assert conn.execute(text(query)).scalar_one() == 2  # "due" and "lost"
