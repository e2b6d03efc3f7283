"""Profile one cold `supplier_api` job of the sync benchmark with py-spy (every thread).

The same set-up as `benchmarks/sync_bench.py` (a fresh Postgres database, the generic fake
serving N products, the `bench` supplier), then `py-spy record` of one cold job run through
`python -m runner run-job`. py-spy is not a dependency: `.venv/bin/pip install py-spy`.

    .venv/bin/python benchmarks/profile_sync.py -n 100000 --out /tmp/cold.txt

The output is py-spy's `raw` format (collapsed stacks, one line per stack and its count);
`--top` prints the functions with the most samples, by self and by total time.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.sync_bench import (
    PG_ADMIN_URL,
    ROOT,
    SPECS,
    SUPPLIER,
    USER,
    Databases,
    FakeSupplier,
    _env,
    empty_products,
    point_supplier,
)


def top(raw: Path, count: int) -> str:
    """The `count` functions with the most samples: (self, total) per function."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        samples += int(n)
        own[frames[-1]] += int(n)
        for frame in set(frames):
            total[frame] += int(n)
    lines = [f"{samples} samples", "self:"]
    lines += [f"  {n / samples:6.1%}  {name}" for name, n in own.most_common(count)]
    lines.append("total:")
    lines += [f"  {n / samples:6.1%}  {name}" for name, n in total.most_common(count)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--products", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=Path("cold-profile.txt"))
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    from runner.db.engine import make_engine
    from runner.queue import Queue

    with contextlib.ExitStack() as stack:
        dbs = Databases(PG_ADMIN_URL, stack)
        url = dbs.create("postgres", "profile")
        engine = make_engine(url)
        stack.callback(engine.dispose)
        fake = stack.enter_context(FakeSupplier(args.products, args.page_size))
        point_supplier(engine, fake.url, args.page_size)
        empty_products(engine)
        job_id = Queue(engine).enqueue(USER, "supplier_api", account_id=SUPPLIER).job_id
        command = [spy, "record", "--format", "raw", "--threads", "--nonblocking"]
        command += ["--rate", str(args.rate), "-o", str(args.out), "--", sys.executable]
        command += ["-m", "runner", "run-job", job_id, "--specs", str(SPECS)]
        command += ["--database-url", url, "--json", "--log-level", "warning"]
        subprocess.run(command, cwd=ROOT, env=_env(), check=True)
    print(top(args.out, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
