"""Mapping benchmark: how fast do compiled mappings turn source records into rows?

For each bundled mapping, N source records come from the mapping's own `mock:` section
(generated before timing; with more than `--distinct` records the distinct ones repeat),
then `CompiledMapping.map_page` maps them in pages of `--page-size`, as the sync pipeline
does. Each measurement is repeated `--runs` times and the median is reported.

`aliexpress_product (paths only)` is the AliExpress detail mapping narrowed to its path-only
columns, to separate the cost of the jinja2 expressions from the rest.

    .venv/bin/python benchmarks/mapping_bench.py                  # N = 100,000, 5 runs
    .venv/bin/python benchmarks/mapping_bench.py -n 1000 --runs 1 --json
    .venv/bin/python benchmarks/mapping_bench.py --mapping bigbuy_product
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.mapping import compile_mapping
from runner.mock import mock_records
from runner.spec.load import load_specs
from runner.spec.model import MappingSpec


@dataclass
class Result:
    mapping: str
    kind: str  # "paths" when every written column is a path or a constant
    records: int
    median_seconds: float  # wall clock
    records_per_second: float
    median_cpu_seconds: float  # this process's CPU time: steadier on a busy machine
    runs: list[float]
    rejects: int


def path_only(spec: MappingSpec) -> list[str]:
    return [f.name for f in spec.fields if f.expr is None]


def source_records(spec: MappingSpec, n: int, distinct: int) -> list[dict]:
    base = list(mock_records(spec, count=min(n, distinct)))
    return [base[i % len(base)] for i in range(n)]


def bench(
    label: str,
    spec: MappingSpec,
    records: list[dict],
    *,
    fields: list[str] | None,
    runs: int,
    page_size: int,
) -> Result:
    mapping = compile_mapping(spec, fields)
    pages = [records[i : i + page_size] for i in range(0, len(records), page_size)]
    times: list[float] = []
    cpu_times: list[float] = []
    rejects = 0
    for _ in range(runs):
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        rejects = 0
        for page in pages:
            _, bad = mapping.map_page(page)
            rejects += len(bad)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    median = statistics.median(times)
    by_name = {f.name: f for f in spec.fields}
    written = mapping.columns
    kind = "paths" if all(by_name[c].expr is None for c in written) else "expressions"
    return Result(
        mapping=label,
        kind=kind,
        records=len(records),
        median_seconds=round(median, 4),
        records_per_second=round(len(records) / median) if median else 0,
        median_cpu_seconds=round(statistics.median(cpu_times), 4),
        runs=[round(t, 4) for t in times],
        rejects=rejects,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--records", type=int, default=100_000, help="records per mapping")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=20_000, help="distinct source records")
    parser.add_argument("--mapping", action="append", help="only these mappings (repeatable)")
    parser.add_argument("--specs", type=Path, default=None, help="specs directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    specs = load_specs(args.specs)
    names = args.mapping or sorted(specs.mappings)
    results: list[Result] = []
    for name in names:
        spec = specs.mappings[name]
        records = source_records(spec, args.records, args.distinct)
        options = {"runs": args.runs, "page_size": args.page_size}
        results.append(bench(name, spec, records, fields=None, **options))
        only_paths = path_only(spec)
        if len(only_paths) < len(spec.fields):
            label = f"{name} (paths only)"
            results.append(bench(label, spec, records, fields=only_paths, **options))

    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(
            f"{'mapping':<34} {'kind':<12} {'records':>9} {'median s':>9} {'records/s':>11}"
            f" {'CPU s':>7}"
        )
        for r in results:
            print(
                f"{r.mapping:<34} {r.kind:<12} {r.records:>9,} {r.median_seconds:>9.3f} "
                f"{r.records_per_second:>11,} {r.median_cpu_seconds:>7.3f}"
                + (f"  ({r.rejects} rejects!)" if r.rejects else "")
            )
    return 1 if any(r.rejects for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
