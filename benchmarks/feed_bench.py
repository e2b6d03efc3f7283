"""Benchmark of a feed supplier: a gzip'd, `;`-separated Latin-1 CSV with decimal commas
(the Grossmarkt example of docs/specs.md), N rows, synced by `python -m runner run-job`.

The fake (`python -m tests.fakes.feeds --rows N`) runs in its own process and builds the file
before it prints its address. For each N and backend, on a fresh database:

- cold: the first sync, every row inserted;
- warm: the feed state is cleared, so the whole file is fetched and parsed again; every
  row is unchanged (the source hash), nothing is written;
- 304: the feed state is kept: one conditional request, nothing parsed.

Reported: rows/s (N / the job's own seconds), the job's and the process's seconds, and the
runner process's peak RSS (VmHWM, as in sync_bench.py). The check: the peak RSS at the
largest N is within 20 % of the smallest N's.

    .venv/bin/python benchmarks/feed_bench.py                       # 100,000 and 1,000,000
    .venv/bin/python benchmarks/feed_bench.py -n 2000 --backends sqlite --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sync_bench import (  # noqa: E402
    PG_ADMIN_URL,
    Databases,
    FakeProcess,
    run_child,
)

USER = "feed-bench-user"
SUPPLIER = "feed-bench-grossmarkt"
RSS_TOLERANCE = 0.20


def feed_specs(target: Path) -> Path:
    """A specs directory: the bundled runner.yaml and sync types, and the docs' Grossmarkt."""
    doc = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
    files = dict(re.findall(r"\*\*`([^`]+\.yaml)`\*\*\n\n```yaml\n(.*?)```", doc, flags=re.S))
    specs = target / "specs"
    (specs / "suppliers").mkdir(parents=True)
    (specs / "mappings").mkdir()
    for name in ("runner.yaml", "sync_types.yaml"):
        shutil.copyfile(ROOT / "specs" / name, specs / name)
    (specs / "suppliers" / "grossmarkt.yaml").write_text(
        files["specs/suppliers/grossmarkt.yaml"], encoding="utf-8"
    )
    (specs / "mappings" / "grossmarkt_product.yaml").write_text(
        files["mappings/grossmarkt_product.yaml"], encoding="utf-8"
    )
    return specs


class FakeFeed(FakeProcess):
    """`python -m tests.fakes.feeds` serving a CSV feed of `rows` rows."""

    what = "fake feed"

    def __init__(self, rows: int) -> None:
        super().__init__([sys.executable, "-m", "tests.fakes.feeds", "--rows", str(rows)])


def add_account(url: str, base_url: str) -> None:
    from sqlalchemy import insert

    from runner.db.engine import make_engine
    from runner.db.tables import suppliers

    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(suppliers),
                {
                    "id": SUPPLIER,
                    "user_id": USER,
                    "name": "Grossmarkt (benchmark)",
                    "supplier_type": "grossmarkt",
                    "status": "active",
                    "mode": "live",
                    "api_credentials": {"token": "bench"},
                    "settings": {"base_url": base_url, "rate_limit": False},
                    "created_at": now,
                    "updated_at": now,
                },
            )
    finally:
        engine.dispose()


def clear_feed_state(url: str) -> None:
    from sqlalchemy import delete

    from runner.db.engine import make_engine
    from runner.db.tables import feed_state

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(feed_state))
    finally:
        engine.dispose()


def run_job(url: str, specs: Path) -> dict[str, Any]:
    from runner.db.engine import make_engine
    from runner.queue import Queue

    engine = make_engine(url)
    try:
        job_id = Queue(engine).enqueue(USER, "supplier_api", account_id=SUPPLIER).job_id
    finally:
        engine.dispose()
    command = [sys.executable, "-m", "runner", "run-job", job_id, "--specs", str(specs)]
    command += ["--database-url", url, "--json", "--log-level", "warning"]
    stdout, wall, rss = run_child(command)
    done = json.loads(stdout)
    if done["outcome"] != "completed":
        raise RuntimeError(f"the job ended {done['outcome']}: {done.get('message')}")
    steps = done["result_data"]["accounts"][SUPPLIER]["steps"]["catalogue"]
    return {
        "job_s": round(done["seconds"], 3),
        "process_s": round(wall, 3),
        "peak_rss_mb": round(rss, 1),
        "status": steps["status"],
        "fetched": steps["fetched"],
        "inserted": steps["inserted"],
        "unchanged": steps["unchanged"],
        "requests": steps["requests"],
    }


def bench(sizes: list[int], backends: list[str], admin_url: str) -> list[dict[str, Any]]:
    results = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="feed-bench-")))
        specs = feed_specs(tmp)
        dbs = Databases(admin_url, stack)
        for n in sizes:
            with FakeFeed(n) as fake:
                for backend in backends:
                    url = dbs.create(backend, f"feed{n}")
                    add_account(url, fake.url)
                    for phase in ("cold", "warm", "304"):
                        if phase == "warm":
                            clear_feed_state(url)
                        run = run_job(url, specs)
                        expected = {"cold": ("ok", n, 0), "warm": ("ok", 0, n)}.get(phase)
                        got = (run["status"], run["inserted"], run["unchanged"])
                        if expected is not None and got != expected:
                            raise RuntimeError(f"{backend} {phase} N={n}: {got} != {expected}")
                        if phase == "304" and run["status"] != "unchanged":
                            raise RuntimeError(f"{backend} 304 N={n}: {run['status']}")
                        rate = round(n / run["job_s"]) if phase != "304" else None
                        results.append(
                            {"backend": backend, "rows": n, "phase": phase, "rows_s": rate, **run}
                        )
                        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def check(results: list[dict[str, Any]]) -> list[str]:
    """Peak RSS of the largest N within RSS_TOLERANCE of the smallest, per backend/phase."""
    problems = []
    sizes = sorted({r["rows"] for r in results})
    if len(sizes) < 2:
        return problems
    for r in results:
        if r["rows"] != sizes[-1]:
            continue
        small = next(
            s
            for s in results
            if (s["backend"], s["phase"], s["rows"]) == (r["backend"], r["phase"], sizes[0])
        )
        growth = round(r["peak_rss_mb"] / small["peak_rss_mb"] - 1, 3) + 0.0  # no "-0%"
        r["rss_vs_smallest"] = f"{growth:+.0%}"
        if growth > RSS_TOLERANCE:
            problems.append(f"{r['backend']} {r['phase']}: peak RSS {growth:+.0%}")
    return problems


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | rows | run | rows/s | job s | process s | peak RSS MB | vs smallest N |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = f"{r['rows_s']:,}" if r["rows_s"] else "–"
        lines.append(
            f"| {r['backend']} | {r['rows']:,} | {r['phase']} | {rate} | {r['job_s']} | "
            f"{r['process_s']} | {r['peak_rss_mb']} | {r.get('rss_vs_smallest', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", default="100000,1000000", help="row counts, comma-separated")
    parser.add_argument("--backends", default="postgres", help="postgres,sqlite")
    parser.add_argument("--postgres-url", default=PG_ADMIN_URL)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.n.split(",")]
    results = bench(sizes, args.backends.split(","), args.postgres_url)
    problems = check(results)
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
