"""Many small jobs: a CronJob draining hundreds of small accounts, and where a job's time goes.

N accounts (default 500), each its own user's mock `bench` supplier account, added as an
operator does (`runner.accounts.add_account`, the function behind `sync-runner accounts
add`), one `supplier_api` job each (`Queue.new_row`, as `sync-runner enqueue` makes it), every
job syncing the mapping's M mock products (default 200, offline: no network). The queue
is drained by `sync-runner run --no-schedules --no-maintenance` processes:

- Postgres, one worker, then two workers (two processes at once);
- SQLite, one worker.

Before each drain the products are emptied and the jobs put back (a cold sync of every
account, every time). jobs/s is measured from the first claim to the last finish, as the
queue records them; the process's wall time includes its start-up. Each case runs `--runs`
times; the median is reported.

`--profile` runs one more one-worker drain on Postgres under cProfile and splits the job's
time into the parts below (cumulative seconds of the named functions, per job).

    .venv/bin/python benchmarks/jobs_bench.py                     # 500 x 200, 3 runs
    .venv/bin/python benchmarks/jobs_bench.py --runs 1 --profile  # and where the time goes
    .venv/bin/python benchmarks/jobs_bench.py -n 50 -m 20 --runs 1 --json

Exit code 1 when a check fails (a job did not complete, or a product count differs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pstats
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sync_bench import (  # noqa: E402
    PG_ADMIN_URL,
    SPECS,
    Databases,
    _env,
    drained,
    run_workers,
)

SYNC_TYPE = "supplier_api"

# Where a job's time goes: (part, [(file suffix, function name), ...]); a part's time is the
# largest cumulative time among its functions (they nest, so they are not added).
PARTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("whole job (Worker.process)", (("runner/worker.py", "process"),)),
    ("claim", (("runner/queue.py", "claim"),)),
    ("handler (the sync, all of it)", (("runner/sync/jobs.py", "run_job"),)),
    ("  fetch thread (mock records, parse)", (("runner/sync/pipeline.py", "_produce"),)),
    ("  write thread (sink, per batch)", (("runner/sync/pipeline.py", "_run"),)),
    ("  account load", (("runner/sync/accounts.py", "load_accounts"),)),
    ("  spec/mapping compile", (("runner/mapping.py", "compile_mapping"),)),
    ("  connector build", (("runner/mock.py", "__init__"),)),
    ("  batch writes (BatchWriter.upsert)", (("runner/db/write/base.py", "upsert"),)),
    ("  activity rows (insert_activity)", (("runner/db/write/records.py", "insert_activity"),)),
    ("completion (Queue.complete)", (("runner/queue.py", "complete"),)),
    ("logging (Logger.handle)", (("logging/__init__.py", "handle"),)),
    ("job-end hooks (metrics, webhooks)", (("runner/worker.py", "_ended"),)),
    ("SQLAlchemy connect/checkout", (("sqlalchemy/pool/base.py", "connect"),)),
)


@dataclass
class Drain:
    backend: str
    workers: int
    jobs: int
    completed: int
    seconds: float  # first claim to last finish
    wall: float  # the slowest process, start to exit
    products: int

    @property
    def jobs_per_second(self) -> float:
        return round(self.completed / self.seconds, 1) if self.seconds else 0.0


# ---------------------------------------------------------------------------------------------
# Set-up


def make_specs(tmp: Path, products: int) -> Path:
    """benchmarks/specs, with the bench mapping given a `mock:` section of `products`
    records: the offline jobs' catalogue."""
    specs = tmp / "specs"
    shutil.copytree(SPECS, specs)
    path = specs / "mappings" / "bench_product.yaml"
    mapping = yaml.safe_load(path.read_text())
    mapping["mock"] = {
        "count": products,
        "seed": 7,
        "id_field": "id",
        "fields": {  # cheap generators (no templates): the job, not the mock, is measured
            "id": {"sequence": {"start": 1000000}},
            "sku": {"sequence": {"start": 5000000}},
            "name": {"words": [["Small", "Large", "Blue"], ["Lamp", "Kettle", "Cable"]]},
            "price": {"decimal": {"min": 2, "max": 90, "places": 2, "as_string": True}},
            "cost_price": {"decimal": {"min": 1, "max": 40, "places": 2, "as_string": True}},
            "currency": {"value": "EUR"},
            "category": {"choice": ["home", "garden", "tech"]},
            "brand": {"choice": ["Acme", "Globex"]},
            "stock": {"integer": {"min": 0, "max": 500}},
            "images": {"value": ["https://img.example/a.jpg", "https://img.example/b.jpg"]},
            "active": {"choice": [True, True, False]},
        },
    }
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return specs


def add_accounts(url: str, specs_dir: Path, accounts: int) -> list[tuple[str, str]]:
    """One mock `bench` account per user, as `sync-runner accounts add --mode mock` adds it.
    Returns (user, account id) pairs."""
    from runner.accounts import add_account
    from runner.config import load_specs
    from runner.db.engine import make_engine

    specs = load_specs(specs_dir)
    engine = make_engine(url)
    try:
        return [
            (
                user,
                add_account(
                    engine,
                    specs,
                    user_id=user,
                    kind="supplier",
                    spec_name="bench",
                    name=f"shop {i}",
                    credentials={},
                    mode="mock",
                ).id,
            )
            for i in range(accounts)
            for user in [f"tenant-{i:04d}"]
        ]
    finally:
        engine.dispose()


def reset(url: str, accounts: list[tuple[str, str]]) -> None:
    """No products, no sync state, and one pending job per account (a cold sync)."""
    from runner.db.engine import make_engine
    from runner.queue import Queue

    engine = make_engine(url)
    try:
        queue = Queue(engine)
        with engine.begin() as conn:
            for table in ("import_jobs", "imported_products", "activity_logs", "listing_marks"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
            rows = [queue.new_row(user, SYNC_TYPE, account_id=a) for user, a in accounts]
            queue.enqueue_rows(conn, rows)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# Draining


def drain(
    url: str, specs_dir: Path, backend: str, workers: int, jobs: int, profile: Path | None = None
) -> Drain:
    from sqlalchemy import func, select

    from runner.db.engine import make_engine
    from runner.db.tables import imported_products

    runner = [sys.executable, "-m", "runner"]
    if profile is not None:
        runner = [sys.executable, __file__, "--profiled-child", str(profile), "--"]
    command = [*runner, "run", "--specs", str(specs_dir), "--database-url", url]
    command += ["--no-schedules", "--no-maintenance", "--log-level", "warning"]
    started = time.monotonic()
    run_workers(command, workers, _env())
    wall = time.monotonic() - started
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            done, span = drained(conn)
            products = conn.execute(select(func.count()).select_from(imported_products)).scalar()
    finally:
        engine.dispose()
    return Drain(backend, workers, jobs, done, round(span, 3), round(wall, 2), products)


def profiled_child(out: Path, argv: list[str]) -> int:
    """`sync-runner <argv>` in this process with every thread profiled (cProfile sees only
    the thread that enabled it: the sync's fetch and write threads get their own profiler),
    the profiles merged into `out`."""
    import cProfile
    import threading

    from runner.cli import cli

    profilers: list[cProfile.Profile] = []
    thread_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()
        try:
            thread_run(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    main = cProfile.Profile()
    main.enable()
    try:
        code = cli.main(argv, prog_name="sync-runner", standalone_mode=False)
    finally:
        main.disable()
        stats = pstats.Stats(main)
        for profiler in profilers:
            stats.add(profiler)
        stats.dump_stats(str(out))
    return int(code or 0)


def where_time_goes(profile: Path, jobs: int) -> list[dict[str, Any]]:
    """The parts of PARTS, in ms per job, from a cProfile dump of one worker."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    parts = []
    for part, functions in PARTS:
        seconds = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
            if any(filename.endswith(f) and name == n for f, n in functions):
                seconds = max(seconds, cumulative)
        parts.append({"part": part, "ms_per_job": round(seconds * 1000 / jobs, 2)})
    return parts


def top_functions(profile: Path, jobs: int, count: int = 25) -> list[dict[str, Any]]:
    """The functions with the most own time (tottime), in ms per job."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [
        {
            "function": f"{Path(filename).name}:{line} {name}",
            "calls_per_job": round(nc / jobs, 1),
            "own_ms_per_job": round(tt * 1000 / jobs, 3),
            "cumulative_ms_per_job": round(cumulative * 1000 / jobs, 3),
        }
        for (filename, line, name), (_cc, nc, tt, cumulative, _callers) in ranked
    ]


# ---------------------------------------------------------------------------------------------
# Report


def median_of(runs: Sequence[Drain]) -> dict[str, Any]:
    best = sorted(runs, key=lambda d: d.jobs_per_second)[len(runs) // 2]
    return {
        **asdict(best),
        "jobs_per_second": statistics.median(d.jobs_per_second for d in runs),
        "runs": [d.jobs_per_second for d in runs],
        "ms_per_job": round(1000 / statistics.median(d.jobs_per_second for d in runs), 1),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['jobs']} jobs of {report['products']} mock products, each its own account; "
        f"median of {report['runs']}:",
        "",
        "| backend | workers | jobs/s | ms per job | runs (jobs/s) | slowest process wall s |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in report["drains"]:
        lines.append(
            f"| {row['backend']} | {row['workers']} | {row['jobs_per_second']} | "
            f"{row['ms_per_job']} | {', '.join(map(str, row['runs']))} | {row['wall']} |"
        )
    if report.get("profile"):
        lines += [
            "",
            "| part of a job (one worker, Postgres, cProfile) | ms per job |",
            "|---|---:|",
        ]
        lines += [f"| {p['part']} | {p['ms_per_job']} |" for p in report["profile"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--profiled-child"]:
        return profiled_child(Path(argv[1]), argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--jobs", type=int, default=500)
    parser.add_argument("-m", "--products", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one worker")
    parser.add_argument("--top", type=int, default=0, help="with --profile: top N functions")
    parser.add_argument(
        "--profile-out", type=Path, default=None, help="with --profile: keep the cProfile dump"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    cases = (("postgres", 1), ("postgres", 2), ("sqlite", 1))
    report: dict[str, Any] = {
        "jobs": args.jobs,
        "products": args.products,
        "runs": args.runs,
        "drains": [],
    }
    ok = True
    with contextlib.ExitStack() as stack:
        dbs = Databases(PG_ADMIN_URL, stack)
        specs_dir = make_specs(dbs.tmp, args.products)
        urls: dict[str, str] = {}
        accounts: dict[str, list[tuple[str, str]]] = {}
        for backend in {b for b, _ in cases}:
            urls[backend] = dbs.create(backend, "jobs")
            accounts[backend] = add_accounts(urls[backend], specs_dir, args.jobs)
        for backend, workers in cases:
            runs = []
            for _ in range(args.runs):
                reset(urls[backend], accounts[backend])
                run = drain(urls[backend], specs_dir, backend, workers, args.jobs)
                ok &= run.completed == args.jobs and run.products == args.jobs * args.products
                runs.append(run)
                print(
                    f"{backend} x{workers}: {run.completed} jobs in {run.seconds}s "
                    f"({run.jobs_per_second} jobs/s), {run.products} products",
                    file=sys.stderr,
                )
            report["drains"].append(median_of(runs))
        if args.profile:
            profile = args.profile_out or dbs.tmp / "worker.prof"
            reset(urls["postgres"], accounts["postgres"])
            drain(urls["postgres"], specs_dir, "postgres", 1, args.jobs, profile=profile)
            report["profile"] = where_time_goes(profile, args.jobs)
            if args.top:
                report["top"] = top_functions(profile, args.jobs, args.top)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown(report))
        for row in report.get("top", []):
            print(
                f"{row['own_ms_per_job']:8.3f} {row['cumulative_ms_per_job']:8.3f} "
                f"{row['calls_per_job']:8.1f}  {row['function']}"
            )
    if not ok:
        print("CHECK FAILED: a job did not complete or a product count differs", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
