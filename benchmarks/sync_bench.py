"""Sync benchmark: one `supplier_api` job through the real CLI, against the floor.

A local fake supplier (`python -m tests.fakes.generic`, another process, every page rendered
before the clock starts) serves N full products in pages. For each backend (a fresh Postgres
database on 127.0.0.1:5432, created and dropped here, and a fresh SQLite file), one
`supplier_api` job runs through `python -m runner run-job` as a subprocess:

- cold: the products table is emptied first, every product is inserted;
- warm: nothing changed, every product is unchanged;
- nightly: the same, with every timestamp the earlier syncs wrote moved a day back first
  (rows, listing marks, then VACUUM, outside the job's time): the nightly catalogue, whose
  rows were all written or seen more than an hour ago;
- 1% changed: the fake serves every 100th product with a new price; exactly 1% of the rows
  must be updated (checked in the job's counts and in the table).

Each run is repeated `--runs` times; the median is reported: products/s over the job's own
duration (claim to finish, as the job's outcome reports it), the process's wall time, and
the peak RSS of the runner process (its VmHWM, read as it exits).

In the same run, the floor, from the same fake and the same pages:
- fetch: httpx GET of every page and msgspec's JSON decoder on the body, nothing else;
- write: the same rows, already mapped and turned into the tuples the database client takes
  (JSON and decimals as text) before the clock starts, COPY'd into a temporary staging
  table plus one
  `INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE content_hash IS DISTINCT FROM`
  on Postgres (one `executemany` of the same upsert on SQLite), into an empty table (cold)
  and again (warm: nothing changes). Floor time = fetch + write; `x floor` is the job's time
  over it.

And the queue: `--queue-jobs` no-op jobs (`benchmarks/noop_handler.py`) drained by 1, 2 and
4 `sync-runner run` processes on Postgres; jobs/s from the first claim to the last finish.
And startup: `sync-runner --help` wall time, and the modules `validate` imports.

    .venv/bin/python benchmarks/sync_bench.py                          # N = 100,000, 3 runs
    .venv/bin/python benchmarks/sync_bench.py -n 1000000 --runs 1 --backends postgres \\
        --phases cold --no-floor --no-queue                            # the RSS check
    .venv/bin/python benchmarks/sync_bench.py -n 2000 --page-size 500 --runs 1 --json

Exit code 1 when a check fails (a count differs from what the run must do).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "benchmarks" / "specs"
USER, SUPPLIER = "bench-user", "bench-supplier"
PG_ADMIN_URL = os.environ.get(
    "SYNC_RUNNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CHANGED_EVERY = 100  # the 1% run: every 100th product gets a new price
PHASES = ("cold", "warm", "nightly", "changed")
NOOP_MODULE = "benchmarks.noop_handler"
# Imported by `validate` only if something is wrong: a database driver or an HTTP client.
HEAVY_MODULES = ("httpx", "httpcore", "psycopg", "psycopg2", "sqlite3", "sqlalchemy")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class JobRun:
    seconds: float  # the job's duration, claim to finish
    wall: float  # the runner process, start to exit
    rss_mb: float  # peak RSS of the runner process
    totals: dict[str, int]


@dataclass
class SyncRow:
    backend: str
    phase: str
    products: int
    runs: list[JobRun]
    check: str
    ok: bool
    floor_seconds: float | None = None

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def summary(self) -> dict[str, Any]:
        seconds = self.seconds
        return {
            "backend": self.backend,
            "phase": self.phase,
            "products": self.products,
            "job_seconds": round(seconds, 3),
            "products_per_second": round(self.products / seconds) if seconds else 0,
            "wall_seconds": round(statistics.median(r.wall for r in self.runs), 3),
            "peak_rss_mb": round(statistics.median(r.rss_mb for r in self.runs), 1),
            "max_rss_mb": round(max(r.rss_mb for r in self.runs), 1),
            "floor_seconds": None if self.floor_seconds is None else round(self.floor_seconds, 3),
            "x_floor": round(seconds / self.floor_seconds, 2) if self.floor_seconds else None,
            "check": self.check,
            "ok": self.ok,
            "runs": [asdict(r) for r in self.runs],
        }


@dataclass
class Floor:
    backend: str
    fetch: list[float] = field(default_factory=list)
    write_cold: list[float] = field(default_factory=list)
    write_warm: list[float] = field(default_factory=list)

    def seconds(self, phase: str) -> float:
        write = self.write_cold if phase == "cold" else self.write_warm
        return statistics.median(self.fetch) + statistics.median(write)


# ---------------------------------------------------------------------------------------------
# The fake supplier, in its own process


class FakeProcess:
    """A fake server in a child process (`command`), running while the `with` block lasts;
    `url` is what it prints after `listening on`."""

    what = "fake server"

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            self.command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=_env()
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if "listening on" not in line:
            self._process.kill()
            raise RuntimeError(f"the {self.what} did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            if self._process.stdout is not None:
                self._process.stdout.close()


class FakeSupplier(FakeProcess):
    """`python -m tests.fakes.generic` serving N products, every page rendered up front."""

    what = "fake supplier"

    def __init__(self, products: int, page_size: int, *, change: int = 0) -> None:
        command = [
            sys.executable,
            "-m",
            "tests.fakes.generic",
            "--items",
            str(products),
            "--page-size",
            str(page_size),
        ]
        if change:
            command += ["--changed-every", str(CHANGED_EVERY), "--change", str(change)]
        super().__init__(command)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------
# Databases


class Databases:
    """Fresh databases: Postgres ones created (and dropped at exit) on the admin URL's server,
    SQLite files in a temporary directory."""

    def __init__(self, admin_url: str, stack: contextlib.ExitStack) -> None:
        self.admin_url = admin_url
        self.stack = stack
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sync-bench-")))
        self._admin: Any = None

    def create(self, backend: str, label: str) -> str:
        from runner.db.engine import make_engine
        from runner.db.migrations import upgrade

        if backend == "sqlite":
            url = f"sqlite:///{self.tmp / f'{label}.db'}"
        else:
            url = self._create_postgres()
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        return url

    def _create_postgres(self) -> str:
        from sqlalchemy import create_engine

        if self._admin is None:
            self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            self.stack.callback(self._admin.dispose)
        name = f"sr_bench_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.stack.callback(self._drop, name)
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def point_supplier(engine: Any, base_url: str, page_size: int) -> None:
    """The benchmark user's `bench` supplier row, pointed at the fake (created once)."""
    from sqlalchemy import delete, insert

    from runner.db.tables import suppliers

    now = datetime.now(UTC)
    row = {
        "id": SUPPLIER,
        "user_id": USER,
        "name": "Benchmark supplier",
        "supplier_type": "bench",
        "status": "active",
        "mode": "live",
        "api_credentials": {},
        "settings": {"base_url": base_url, "page_size": page_size, "rate_limit": False},
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as conn:
        conn.execute(delete(suppliers).where(suppliers.c.id == SUPPLIER))
        conn.execute(insert(suppliers), row)


def empty_products(engine: Any) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE imported_products")
        else:
            conn.exec_driver_sql("DELETE FROM imported_products")


def age_one_day(engine: Any) -> None:
    """Move every time the earlier syncs stamped a day back: the next job is the nightly one."""
    from sqlalchemy import inspect

    tables = set(inspect(engine).get_table_names())
    shift = "- INTERVAL '1 day'" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        for table, columns in (
            ("imported_products", ("last_synced_at", "last_seen_at", "updated_at")),
            ("listing_marks", ("listed_at",)),  # from migration 0011 on
        ):
            present = (
                {c["name"] for c in inspect(conn).get_columns(table)} if table in tables else set()
            )
            for column in (c for c in columns if c in present):
                if shift:
                    value = f"{column} {shift}"
                else:  # SQLite keeps them as text, in SQLAlchemy's format
                    value = f"strftime('%Y-%m-%d %H:%M:%f000', {column}, '-1 day')"
                conn.exec_driver_sql(f"UPDATE {table} SET {column} = {value}")
    if shift:  # leave no dead rows nor unset hint bits for the job to clean up
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE imported_products")


def rows_updated_since(engine: Any, since: datetime) -> int:
    from sqlalchemy import func, select

    from runner.db.tables import imported_products as t

    with engine.connect() as conn:
        stmt = select(func.count()).where(t.c.user_id == USER, t.c.updated_at >= since)
        return conn.execute(stmt).scalar_one()


# ---------------------------------------------------------------------------------------------
# One job through the CLI


# Runs `python -m runner ...` and, at exit, writes the process's own peak RSS (VmHWM, the
# high-water mark of its memory map) to $SYNC_BENCH_RSS_FILE. The rusage of a child is no
# good here: Linux carries the parent's peak over into a forked child's `ru_maxrss`.
RUNNER_WITH_PEAK_RSS = """
import atexit, os, runpy, sys

def _peak():
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["SYNC_BENCH_RSS_FILE"], "w") as out:
        out.write(str(kb))

atexit.register(_peak)
sys.argv[0] = "sync-runner"
runpy.run_module("runner", run_name="__main__")
"""


def run_child(
    command: Sequence[str], env: dict[str, str] | None = None
) -> tuple[str, float, float]:
    """Run a command to its end; (stdout, wall seconds, peak RSS in MB). A command that
    starts with `python -m runner` is run so that the peak RSS is its own (else 0)."""
    command = list(command)
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        if command[1:3] == ["-m", "runner"]:
            command[1:3] = ["-c", RUNNER_WITH_PEAK_RSS]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=err, env=env or _env(SYNC_BENCH_RSS_FILE=rss.name)
        )
        process.wait()
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        peak_kb = int(rss.read() or 0)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:5])} exited {process.returncode}:\n{stderr}")
    return stdout, wall, peak_kb / 1024


def run_job(engine: Any, url: str) -> JobRun:
    """Enqueue one supplier_api job for the benchmark supplier and run it with `run-job`."""
    from runner.queue import Queue

    job_id = Queue(engine).enqueue(USER, "supplier_api", account_id=SUPPLIER).job_id
    command = [sys.executable, "-m", "runner", "run-job", job_id, "--specs", str(SPECS)]
    command += ["--database-url", url, "--json", "--log-level", "warning"]
    stdout, wall, rss = run_child(command)
    done = json.loads(stdout)
    if done["outcome"] != "completed":
        raise RuntimeError(f"the job ended {done['outcome']}: {done.get('message')}")
    totals = done["result_data"]["totals"]
    return JobRun(round(done["seconds"], 3), round(wall, 3), round(rss, 1), _counts(totals))


def _counts(totals: dict[str, Any]) -> dict[str, int]:
    keys = ("fetched", "inserted", "updated", "unchanged", "rejected", "requests")
    return {k: int(totals.get(k, 0)) for k in keys}


def sync_backend(
    backend: str, dbs: Databases, args: argparse.Namespace, floor: Floor | None
) -> list[SyncRow]:
    from runner.db.engine import make_engine

    n, size = args.products, args.page_size
    url = dbs.create(backend, "sync")
    engine = make_engine(url)
    rows: list[SyncRow] = []
    try:
        with FakeSupplier(n, size) as fake:
            point_supplier(engine, fake.url, size)
            if "cold" in args.phases:
                runs = []
                for _ in range(args.runs):
                    empty_products(engine)
                    runs.append(run_job(engine, url))
                ok = all(r.totals["inserted"] == n and r.totals["rejected"] == 0 for r in runs)
                rows.append(SyncRow(backend, "cold", n, runs, f"{n:,} inserted", ok))
            if "warm" in args.phases:
                if "cold" not in args.phases:
                    run_job(engine, url)
                runs = [run_job(engine, url) for _ in range(args.runs)]
                ok = all(r.totals["unchanged"] == n and r.totals["updated"] == 0 for r in runs)
                rows.append(SyncRow(backend, "warm", n, runs, f"{n:,} unchanged", ok))
            if "nightly" in args.phases:
                if not {"cold", "warm"} & set(args.phases):
                    run_job(engine, url)
                runs = []
                for _ in range(args.runs):
                    age_one_day(engine)
                    runs.append(run_job(engine, url))
                ok = all(r.totals["unchanged"] == n and r.totals["updated"] == 0 for r in runs)
                rows.append(SyncRow(backend, "nightly", n, runs, f"{n:,} unchanged, a day on", ok))
            if floor is not None:
                measure_floor(floor, backend, dbs, fake.url, args)
        if "changed" in args.phases:
            if not {"cold", "warm"} & set(args.phases):
                with FakeSupplier(n, size) as fake:
                    point_supplier(engine, fake.url, size)
                    run_job(engine, url)
            expected = n // CHANGED_EVERY
            runs, ok = [], True
            for rep in range(args.runs):
                # A new price each time, so that every repetition changes the same 1%.
                with FakeSupplier(n, size, change=rep + 1) as fake:
                    point_supplier(engine, fake.url, size)
                    since = datetime.now(UTC)
                    run = run_job(engine, url)
                runs.append(run)
                in_table = rows_updated_since(engine, since)
                ok &= run.totals["updated"] == expected == in_table
                ok &= run.totals["unchanged"] == n - expected
            check = f"{expected:,} updated ({expected / n:.2%}), also in the table"
            rows.append(SyncRow(backend, "changed", n, runs, check, ok))
    finally:
        engine.dispose()
    if floor is not None:
        for row in rows:
            row.floor_seconds = floor.seconds(row.phase)
    return rows


# ---------------------------------------------------------------------------------------------
# The floor


def measure_floor(
    floor: Floor, backend: str, dbs: Databases, base_url: str, args: argparse.Namespace
) -> None:
    """Fetch and parse the same pages; then write the same rows, already mapped, in one
    COPY + one upsert (Postgres) or one executemany (SQLite), cold then warm."""
    import httpx
    import msgspec

    from runner.mapping import compile_mapping
    from runner.spec.load import load_specs

    n, size = args.products, args.page_size
    pages = (n + size - 1) // size
    records: list[dict[str, Any]] = []
    with httpx.Client(base_url=base_url) as client:
        for _ in range(args.runs):
            records = []
            started = time.perf_counter()
            for page in range(1, pages + 1):
                response = client.get("/products", params={"page": page, "size": size})
                response.raise_for_status()
                records += msgspec.json.decode(response.content)["products"]
            floor.fetch.append(time.perf_counter() - started)
    if len(records) != n:
        raise RuntimeError(f"the floor fetched {len(records)} products, not {n}")

    specs = load_specs(SPECS)
    fields = set(specs.sync_types["supplier_api"].fields)
    mapping = compile_mapping(specs.mappings["bench_product"], fields=fields)
    mapped, rejects = mapping.map_page(records)
    del records
    if rejects:
        raise RuntimeError(f"the floor's mapping rejected {len(rejects)} products")
    columns = ["external_id", "content_hash", *(c for c in mapping.columns if c != "external_id")]
    # The rows as the database client takes them, built before any clock starts: the floor
    # times the database's work and the client's sending, nothing of the runner's.
    lines = [tuple(_client_value(row[c]) for c in columns) for row in mapped]
    del mapped
    url = dbs.create(backend, "floor")
    write = _pg_floor_write if backend == "postgres" else _sqlite_floor_write
    for _ in range(args.runs):
        floor.write_cold.append(write(url, lines, columns, empty=True))
        floor.write_warm.append(write(url, lines, columns, empty=False))


def _upsert_sql(columns: Sequence[str], source: str, placeholders: bool) -> str:
    names = ", ".join(columns)
    fixed = "user_id, supplier_id, last_synced_at, created_at, updated_at"
    if placeholders:
        values = f"VALUES ({', '.join('?' for _ in range(len(columns) + 5))})"
        insert_cols = f"{names}, {fixed}"
    else:
        values = f"SELECT {names}, %(user)s, %(supplier)s, %(now)s, %(now)s, %(now)s FROM {source}"
        insert_cols = f"{names}, {fixed}"
    updates = ", ".join(f"{c} = excluded.{c}" for c in (*columns[1:], "last_synced_at"))
    return (
        f"INSERT INTO imported_products AS t ({insert_cols}) {values} "
        "ON CONFLICT (user_id, supplier_id, external_id) DO UPDATE SET "
        f"{updates}, updated_at = excluded.updated_at "
        "WHERE t.content_hash IS DISTINCT FROM excluded.content_hash"
    )


def _pg_floor_write(
    url: str, lines: list[tuple[Any, ...]], columns: list[str], *, empty: bool
) -> float:
    """COPY `lines` (values already as COPY takes them) into a staging table, then one upsert."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        if empty:
            conn.execute("TRUNCATE imported_products")
            conn.commit()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE floor_stage ON COMMIT DROP AS "
                f"SELECT {', '.join(columns)} FROM imported_products WITH NO DATA"
            )
            with cursor.copy(f"COPY floor_stage ({', '.join(columns)}) FROM STDIN") as copy:
                write = copy.write_row
                for line in lines:
                    write(line)
            now = datetime.now(UTC)
            sql = _upsert_sql(columns, "floor_stage", placeholders=False)
            cursor.execute(sql, {"user": USER, "supplier": SUPPLIER, "now": now})
        return time.perf_counter() - started


def _sqlite_floor_write(
    url: str, lines: list[tuple[Any, ...]], columns: list[str], *, empty: bool
) -> float:
    """One `executemany` of the upsert over `lines` (values already as sqlite3 takes them)."""
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if empty:
            conn.execute("DELETE FROM imported_products")
        started = time.perf_counter()
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        fixed = (USER, SUPPLIER, now, now, now)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            _upsert_sql(columns, "", placeholders=True), (line + fixed for line in lines)
        )
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def _client_value(value: Any) -> Any:
    """A mapped value as the database client takes it: decimals and JSON as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


# ---------------------------------------------------------------------------------------------
# The queue


def run_workers(command: Sequence[str], count: int, env: dict[str, str]) -> None:
    """`count` processes of `command` at once, waited for; RuntimeError with the output of
    the first that failed."""
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(count)]
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log) for log in logs
        ]
        codes = [p.wait() for p in processes]
        if any(codes):
            log = logs[codes.index(next(c for c in codes if c))]
            log.seek(0)
            raise RuntimeError(f"a worker failed:\n{log.read().decode()[-3000:]}")


def drained(conn: Any) -> tuple[int, float]:
    """(completed jobs, seconds from the first claim to the last finish), as the queue
    recorded them."""
    from sqlalchemy import func, select

    from runner.db.tables import import_jobs as j

    done, first, last = conn.execute(
        select(
            func.count().filter(j.c.status == "completed"),
            func.min(j.c.started_at),
            func.max(j.c.completed_at),
        )
    ).one()
    return done, (last - first).total_seconds() if done else 0.0


def queue_bench(dbs: Databases, workers: Sequence[int], jobs: int) -> list[dict[str, Any]]:
    """No-op jobs drained by 1, 2, 4... `sync-runner run` processes on Postgres."""
    from runner.db.engine import make_engine
    from runner.queue import Queue

    url = dbs.create("postgres", "queue")
    engine = make_engine(url)
    results = []
    try:
        queue = Queue(engine)
        for count in workers:
            with engine.begin() as conn:
                # TRUNCATE, not DELETE: each count starts on a table without dead rows.
                conn.exec_driver_sql("TRUNCATE import_jobs")
                # A user per job: no two jobs share a concurrency key.
                rows = [queue.new_row(f"noop-{i}", "bench_noop") for i in range(jobs)]
                queue.enqueue_rows(conn, rows)
            start_at = time.time() + 1.5 + 0.5 * count  # every worker is up by then
            env = _env(
                SYNC_RUNNER_HANDLER_MODULES=NOOP_MODULE, SYNC_BENCH_START_AT=f"{start_at:.3f}"
            )
            command = [sys.executable, "-m", "runner", "run", "--specs", str(SPECS)]
            command += ["--database-url", url, "--no-schedules", "--no-maintenance"]
            command += ["--log-level", "warning"]
            run_workers(command, count, env)
            with engine.connect() as conn:
                done, span = drained(conn)
            results.append(
                {
                    "workers": count,
                    "jobs": jobs,
                    "completed": done,
                    "seconds": round(span, 3),
                    "jobs_per_second": round(done / span, 1) if span else 0.0,
                    "ok": done == jobs,
                }
            )
    finally:
        engine.dispose()
    one = next((r["jobs_per_second"] for r in results if r["workers"] == 1), None)
    for r in results:
        r["x_one_worker"] = round(r["jobs_per_second"] / one, 2) if one else None
    return results


# ---------------------------------------------------------------------------------------------
# Startup


def startup(runs: int) -> dict[str, Any]:
    script = Path(sys.executable).parent / "sync-runner"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "runner"]
    times = []
    for _ in range(max(runs, 3)):
        _, wall, _ = run_child([*command, "--help"])
        times.append(wall)
    probe = (
        "import json, sys\n"
        "from runner.cli import cli\n"
        "try:\n"
        f"    code = cli.main(['validate', '--specs', {str(SPECS)!r}], standalone_mode=False)\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"heavy = sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)\n"
        "print(json.dumps({'exit': code or 0, 'heavy': heavy}))\n"
    )
    stdout, _, _ = run_child([sys.executable, "-c", probe])
    validate = json.loads(stdout.strip().splitlines()[-1])
    return {
        "help_seconds": round(statistics.median(times), 3),
        "help_command": " ".join(Path(c).name for c in command) + " --help",
        "validate_exit": validate["exit"],
        "validate_imports": validate["heavy"],
        "ok": validate["exit"] == 0 and not validate["heavy"],
    }


# ---------------------------------------------------------------------------------------------
# Report


def markdown(report: dict[str, Any]) -> str:
    args = report["options"]
    lines = [
        f"## Sync: {args['products']:,} products, page size {args['page_size']:,}, "
        f"median of {args['runs']} run(s)",
        "",
        "| backend | run | products/s | job s | process s | floor s | x floor "
        "| peak RSS MB | check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["sync"]:
        floor = "" if row["floor_seconds"] is None else f"{row['floor_seconds']:.2f}"
        ratio = "" if row["x_floor"] is None else f"{row['x_floor']:.2f}"
        mark = "" if row["ok"] else " **FAILED**"
        lines.append(
            f"| {row['backend']} | {row['phase']} | {row['products_per_second']:,} "
            f"| {row['job_seconds']:.2f} | {row['wall_seconds']:.2f} | {floor} | {ratio} "
            f"| {row['peak_rss_mb']:.0f} | {row['check']}{mark} |"
        )
    if report["floor"]:
        lines += [
            "",
            "## Floor (same pages, same rows already mapped)",
            "",
            "| backend | part | seconds | products/s |",
            "|---|---|---:|---:|",
        ]
        n = args["products"]
        for item in report["floor"]:
            for part in ("fetch", "write_cold", "write_warm", "cold", "warm"):
                seconds = item[part]
                label = {
                    "fetch": "fetch + parse",
                    "write_cold": "write, empty table",
                    "write_warm": "write, nothing changed",
                    "cold": "floor, cold",
                    "warm": "floor, warm",
                }[part]
                lines.append(
                    f"| {item['backend']} | {label} | {seconds:.3f} | {round(n / seconds):,} |"
                )
    if report["queue"]:
        lines += [
            "",
            "## Queue (no-op jobs, Postgres)",
            "",
            "| workers | jobs | seconds | jobs/s | x one worker |",
            "|---:|---:|---:|---:|---:|",
        ]
        for q in report["queue"]:
            mark = "" if q["ok"] else f" **{q['completed']} completed**"
            lines.append(
                f"| {q['workers']} | {q['jobs']:,} | {q['seconds']:.2f} "
                f"| {q['jobs_per_second']:,.0f}{mark} | {q['x_one_worker']} |"
            )
    if report["startup"]:
        s = report["startup"]
        imports = ", ".join(s["validate_imports"]) or "none of " + ", ".join(HEAVY_MODULES)
        lines += [
            "",
            "## Startup",
            "",
            f"- `{s['help_command']}`: {s['help_seconds']:.3f} s (median)",
            f"- `sync-runner validate` (exit {s['validate_exit']}) imports: {imports}",
        ]
    return "\n".join(lines)


def _floor_summary(floor: Floor) -> dict[str, Any]:
    return {
        "backend": floor.backend,
        "fetch": round(statistics.median(floor.fetch), 3),
        "write_cold": round(statistics.median(floor.write_cold), 3),
        "write_warm": round(statistics.median(floor.write_warm), 3),
        "cold": round(floor.seconds("cold"), 3),
        "warm": round(floor.seconds("warm"), 3),
    }


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--products", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--backends", type=_csv(str), default=["postgres", "sqlite"])
    parser.add_argument("--phases", type=_csv(str), default=list(PHASES))
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    parser.add_argument("--no-queue", action="store_true", help="skip the queue benchmark")
    parser.add_argument("--no-startup", action="store_true", help="skip the startup timings")
    parser.add_argument("--queue-jobs", type=int, default=1000, help="no-op jobs per count")
    parser.add_argument("--workers", type=_csv(int), default=[1, 2, 4])
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL, help="an admin database URL")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    unknown = set(args.phases) - set(PHASES) or set(args.backends) - {"postgres", "sqlite"}
    if unknown:
        parser.error(f"unknown phase or backend: {', '.join(sorted(unknown))}")

    report: dict[str, Any] = {
        "options": {
            "products": args.products,
            "page_size": args.page_size,
            "runs": args.runs,
            "backends": args.backends,
            "phases": args.phases,
        },
        "sync": [],
        "floor": [],
        "queue": [],
        "startup": None,
    }
    with contextlib.ExitStack() as stack:
        dbs = Databases(args.postgres_url, stack)
        for backend in args.backends:
            floor = None if args.no_floor else Floor(backend)
            rows = sync_backend(backend, dbs, args, floor)
            report["sync"] += [row.summary() for row in rows]
            if floor is not None:
                report["floor"].append(_floor_summary(floor))
        if not args.no_queue:
            report["queue"] = queue_bench(dbs, args.workers, args.queue_jobs)
    if not args.no_startup:
        report["startup"] = startup(args.runs)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    checks = [r["ok"] for r in report["sync"]] + [q["ok"] for q in report["queue"]]
    if report["startup"] is not None:
        checks.append(report["startup"]["ok"])
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
