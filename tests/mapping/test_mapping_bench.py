"""The mapping benchmark script runs (small N; no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mapping_benchmark_runs_on_a_small_n():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mapping_bench.py"), "-n", "300", "--runs", "2",
         "--page-size", "100", "--json"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    by_name = {r["mapping"]: r for r in results}
    assert {"bigbuy_product", "aliexpress_product", "aliexpress_product (paths only)"} <= set(
        by_name
    )
    for r in results:
        assert r["records"] == 300
        assert r["rejects"] == 0
        assert len(r["runs"]) == 2
        assert r["records_per_second"] > 0
    assert by_name["bigbuy_product"]["kind"] == "paths"
    assert by_name["aliexpress_product"]["kind"] == "expressions"
