"""Exactly once across SIGKILL: a `sync-runner run` process pushing stock to the WooCommerce
fake is killed at three points (after a batch's answer and before its commit; after the store
applied a batch and before its answer left; as a batch arrives, before the store applied
it), then run again. The store's own counters show every change arrived and no product was
written twice. SQLite and Postgres."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from runner.clock import SystemClock
from runner.db.tables import import_jobs, listing_links
from runner.queue import Queue
from tests.fakes.base import Reply
from tests.fakes.woocommerce import WooCommerceServer
from tests.push.support import SHOP, USER, seed
from tests.runner_process import start_runner

ROOT = Path(__file__).resolve().parents[2]
N = 500  # 5 batches of 100
RUN = ("run", "--no-maintenance", "--no-schedules")


class DatabaseLock:
    """Holds the database's write lock from outside the runner, so that its next commit
    waits: SQLite `BEGIN IMMEDIATE`, Postgres `LOCK TABLE listing_links IN SHARE MODE`."""

    def __init__(self, engine, db_url: str) -> None:
        self.engine, self.db_url = engine, db_url
        self._release: Callable[[], None] | None = None

    def take(self) -> None:
        if self.db_url.startswith("sqlite"):
            con = sqlite3.connect(
                self.db_url.removeprefix("sqlite:///"),
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
            )
            con.execute("BEGIN IMMEDIATE")
            self._release = lambda: (con.execute("ROLLBACK"), con.close())
            return
        conn = self.engine.connect()
        trans = conn.begin()
        conn.exec_driver_sql("LOCK TABLE listing_links IN SHARE MODE")
        self._release = lambda: (trans.rollback(), conn.close())

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.communicate()


def _in_doubt(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(listing_links.c.stock_sending.is_not(None))
        ).scalar_one()


def _lease_runs_out(engine, job_id: str) -> None:
    """The killed worker renews its lease no more: as if its lease had run out (the time a
    new worker would otherwise wait for)."""
    past = SystemClock().now() - timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(
            update(import_jobs).where(import_jobs.c.id == job_id).values(lease_expires_at=past)
        )


def test_a_push_killed_at_any_point_sends_every_change_exactly_once(engine, db_url):
    store = WooCommerceServer(orders=0).start()
    lock = DatabaseLock(engine, db_url)
    arrived, hold = threading.Event(), threading.Event()
    processes: list[subprocess.Popen] = []

    def spawn() -> subprocess.Popen:
        process = start_runner(
            *RUN,
            db_url=db_url,
            specs_dir=ROOT / "specs",
            handler_modules="",
            paths=[str(ROOT)],
            log_level="info",
        )
        processes.append(process)
        return process

    try:
        seed(engine, store, N)
        expected = {1000 + i: 10 + i % 7 for i in range(N)}
        job_id = Queue(engine).enqueue(USER, "stock_push", account_id=SHOP).job_id

        # 1. Batch 2 applied and answered; its commit waits for the lock; SIGKILL.
        def after_answer(number: int) -> None:
            if number == 2:
                lock.take()
                arrived.set()

        store.after_batch = after_answer
        process = spawn()
        assert arrived.wait(60), process.communicate()
        time.sleep(1.5)  # the answer is read; the commit waits for the lock
        _kill(process)
        lock.release()
        assert store.batches == 2 and _in_doubt(engine) == 100

        # 2. Resumed: batch 2 is read back (the store has it), batch 3 is applied, its
        # answer never leaves; SIGKILL.
        arrived.clear()

        def applied_unanswered(number: int) -> None:
            if number == 3:
                arrived.set()
                hold.wait(60)

        store.after_batch = applied_unanswered
        reads = store.product_reads  # the first run listed the store to link by SKU
        _lease_runs_out(engine, job_id)
        process = spawn()
        assert arrived.wait(60), process.communicate()
        _kill(process)
        hold.set()
        assert store.batches == 3 and _in_doubt(engine) == 100
        assert store.product_reads == reads + 1  # the read-back of batch 2: one request

        # 3. Resumed: batch 3 read back; batch 4 arrives and is killed before it applies.
        arrived.clear()
        hold.clear()
        store.after_batch = None

        def before_apply(number: int) -> Reply | None:
            if number != 4:
                return None
            arrived.set()
            hold.wait(60)
            return Reply(503, {"code": "gone", "message": "the client was killed"})

        store.before_batch = before_apply
        _lease_runs_out(engine, job_id)
        process = spawn()
        assert arrived.wait(60), process.communicate()
        _kill(process)
        hold.set()
        assert store.batches == 4 and _in_doubt(engine) == 100

        # 4. Resumed to the end.
        store.before_batch = None
        _lease_runs_out(engine, job_id)
        process = spawn()
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        with engine.connect() as conn:
            job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()
        assert job.status == "completed", (job.errors, err)
        account = job.result_data["accounts"][SHOP]
        assert (account["in_doubt"], account["read_back"]) == (100, 100)

        # The store's own counts: every product written once, each with its stock.
        writes = Counter(update_["id"] for update_ in store.updates)
        assert set(writes) == set(expected)
        assert max(writes.values()) == 1, [i for i, n in writes.items() if n > 1][:5]
        assert {i: store.products[i]["stock_quantity"] for i in expected} == expected
        assert store.batches == 6  # 5 batches of 100, the one killed on arrival sent again
        assert _in_doubt(engine) == 0
    finally:
        hold.set()
        lock.release()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        store.stop()
