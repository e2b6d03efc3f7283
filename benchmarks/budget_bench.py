"""What one budget slot costs: `SharedBudget.acquire()` against a database, many times.

    .venv/bin/python benchmarks/budget_bench.py [DATABASE_URL] [--takes N]

Creates the schema in the given database if needed (default: a scratch Postgres database
on 127.0.0.1, dropped afterwards), takes N slots of budgets of 10, 100 and 1000 requests
(a window so short that none waits), from one thread and then from four, and prints the
time per slot.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

from sqlalchemy import create_engine

from runner.budgets import SharedBudget
from runner.clock import SystemClock
from runner.db.engine import make_engine
from runner.db.migrations import upgrade
from runner.spec.model import RateLimitSpec

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _take(engine, count: int, threads: int, slots: int) -> float:
    # A window so short that a slot is always free: what is measured is the taking alone.
    spec = RateLimitSpec(requests=slots, seconds=1e-6)

    def run() -> None:
        budget = SharedBudget(engine, "bench", f"bench/{slots}", spec, clock=SystemClock())
        budget.acquire()  # creates the slots (first time) outside the measure
        for _ in range(count // threads):
            budget.acquire()

    SharedBudget(engine, "bench", f"bench/{slots}", spec, clock=SystemClock()).acquire()
    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--takes", type=int, default=2000)
    args = parser.parse_args()
    scratch = None
    url = args.url
    if url is None:
        scratch = f"budget_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
        url = ADMIN.rsplit("/", 1)[0] + "/" + scratch
    engine = make_engine(url)
    try:
        upgrade(engine)
        for slots in (10, 100, 1000):
            for threads in (1, 4):
                per_slot = _take(engine, args.takes, threads, slots)
                print(
                    f"{engine.dialect.name}: budget of {slots} slots, {threads} thread(s): "
                    f"{per_slot * 1000:.3f} ms per slot"
                )
    finally:
        engine.dispose()
        if scratch is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{scratch}" WITH (FORCE)')


if __name__ == "__main__":
    main()
