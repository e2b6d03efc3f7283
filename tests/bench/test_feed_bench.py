"""The feed benchmark runs end to end on small files (no timing is asserted): the fake feed
and the runner are real processes; the benchmark's own checks (every row inserted cold,
none changed warm, a 304 the third time) must hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "feed_bench.py"


def test_feed_bench_on_sqlite():
    command = [sys.executable, str(SCRIPT), "-n", "500,1500", "--backends", "sqlite", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr + done.stdout
    runs = {(r["rows"], r["phase"]): r for r in json.loads(done.stdout)}
    assert set(runs) == {(n, p) for n in (500, 1500) for p in ("cold", "warm", "304")}
    assert runs[(1500, "cold")]["inserted"] == 1500
    assert runs[(1500, "warm")]["unchanged"] == 1500
    assert runs[(1500, "304")]["status"] == "unchanged"
    assert runs[(1500, "304")]["requests"] == 1
    assert all(r["peak_rss_mb"] > 10 for r in runs.values())
    assert "rss_vs_smallest" in runs[(1500, "cold")]
