"""Handlers for the queue tests, also loaded by worker subprocesses through
`SYNC_RUNNER_HANDLER_MODULES=queue_test_handlers` (with this folder on PYTHONPATH).

`qt_record` does what a sync does, observably:
- `metadata.mark`: first insert a row into `qt_marks` (so a test knows the job started);
- `metadata.wait_for_pids`: then wait (at most 20 s) until marks from that many worker
  processes exist, so that jobs of several workers surely overlap in time;
- `metadata.upsert`: upsert one product row (user, supplier "qt", external id = the job id);
- then work for `metadata.sleep` seconds, calling `ctx.checkpoint()` every 20 ms, unless
  `metadata.ignore_stop` (a handler that never checks, for the forced-exit test);
- `metadata.hang_on_attempt`: on that attempt, work "forever" (a test kills the process);
- finally insert (job id, attempt, worker, key, start, end) into `qt_runs`, whose primary key
  is the job id: a job that ran twice fails there, loudly (a dry run writes nothing).

`QT_OVERRIDE_SYNC_TYPES=inventory_update,order_sync` also registers `qt_record` for real sync
types (replacing the sync engine's handlers), for the schedule tests.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    distinct,
    func,
    insert,
    select,
)

from runner.db.tables import imported_products
from runner.handlers import JobContext, register

side = MetaData()
qt_runs = Table(
    "qt_runs",
    side,
    Column("job_id", String(36), primary_key=True),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("started", Float, nullable=False),
    Column("ended", Float, nullable=False),
)
qt_marks = Table(
    "qt_marks",
    side,
    Column("job_id", String(36), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("pid", Integer, nullable=False),
)


def _upsert_product(ctx: JobContext) -> None:
    if ctx.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    now = ctx.clock.now()
    stmt = dialect_insert(imported_products).values(
        user_id=ctx.job.user_id,
        supplier_id="qt",
        external_id=ctx.job.id,
        name=f"attempt {ctx.job.attempts}",
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "supplier_id", "external_id"],
        set_={"name": stmt.excluded.name, "updated_at": now},
    )
    with ctx.engine.begin() as conn:
        conn.execute(stmt)


def _wait_for_pids(ctx: JobContext, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with ctx.engine.connect() as conn:
            if conn.scalar(select(func.count(distinct(qt_marks.c.pid)))) >= count:
                return
        time.sleep(0.02)


def record(ctx: JobContext) -> dict:
    job, meta = ctx.job, ctx.job.metadata
    started = time.time()
    if meta.get("mark"):
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(qt_marks).values(job_id=job.id, attempt=job.attempts, pid=os.getpid())
            )
    if meta.get("wait_for_pids"):
        _wait_for_pids(ctx, int(meta["wait_for_pids"]))
    if meta.get("upsert"):
        _upsert_product(ctx)
    seconds = float(meta.get("sleep", 0))
    if meta.get("hang_on_attempt") == job.attempts:
        seconds = 600.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not meta.get("ignore_stop"):
            ctx.checkpoint()
        time.sleep(0.02)
    if ctx.dry_run:
        return {"dry_run": True, "would_record": job.id}
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(qt_runs).values(
                job_id=job.id,
                attempt=job.attempts,
                worker=job.locked_by,
                key=job.concurrency_key,
                started=started,
                ended=time.time(),
            )
        )
    return {"totals": {"updated": 1}, "attempt": job.attempts}


register("qt_record", replace=True)(record)
for _sync_type in filter(None, os.environ.get("QT_OVERRIDE_SYNC_TYPES", "").split(",")):
    register(_sync_type, replace=True)(record)
