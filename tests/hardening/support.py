"""Helpers shared by the hardening tests: the CLI in a subprocess, table snapshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from runner.db.tables import imported_products, metadata
from tests.sync.support import T0 as T0  # re-exported: one reference time for all tests
from tests.sync.support import add_supplier

ROOT = Path(__file__).resolve().parents[2]


def cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess:
    """`python -m runner ARGS` in a subprocess; `env` adds to (or, with None values, removes
    from) the current environment."""
    environment = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd or ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(engine: Engine, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, by table name (compare two to prove nothing moved)."""
    result = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = conn.execute(select(table)).all()
            result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result


HERE = Path(__file__).resolve().parent


def acme_project(make_specs, runner_overrides: dict[str, Any] | None = None) -> Path:
    """A copy of the bundled specs plus the hardening supplier `acme` (tests/hardening/specs);
    returns the specs directory."""
    specs = make_specs(runner_overrides)
    shutil.copy(HERE / "specs" / "acme.yaml", specs / "suppliers" / "acme.yaml")
    shutil.copy(HERE / "specs" / "acme_product.yaml", specs.parent / "mappings")
    return specs


def add_acme(
    engine: Engine,
    supplier_id: str,
    server: Any,
    *,
    user_id: str = "user-a",
    route: str | None = None,
    credentials: dict[str, Any] | None = None,
    **settings: Any,
) -> str:
    """A supplier row of type `acme` pointing at a CatalogServer (or one of its routes)."""
    return add_supplier(
        engine,
        supplier_id,
        "acme",
        user_id=user_id,
        base_url=server.base_url + (f"/{route}" if route else ""),
        credentials=credentials or {"api_key": server.api_key},
        settings=settings,
    )


def products(engine: Engine, user_id: str | None = None) -> dict[tuple[str, str, str], tuple]:
    """(user, supplier, external id) -> the synced content of each product row (no times)."""
    columns = [
        imported_products.c[name]
        for name in ("sku", "name", "description", "price", "cost_price", "currency", "brand")
    ] + [imported_products.c.stock_quantity, imported_products.c.content_hash]
    stmt = select(
        imported_products.c.user_id,
        imported_products.c.supplier_id,
        imported_products.c.external_id,
        *columns,
    )
    if user_id is not None:
        stmt = stmt.where(imported_products.c.user_id == user_id)
    with engine.connect() as conn:
        return {tuple(row[:3]): tuple(row[3:]) for row in conn.execute(stmt)}


_PEAK_DRIVER = """
import atexit, resource, sys
from runner.cli import main
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
atexit.register(lambda: sys.stderr.write("PEAK_RSS_KB=%d\\n" % peak()))
sys.argv[0] = "sync-runner"
main()
"""


def cli_peak_rss(*args: str, timeout: float = 180) -> tuple[subprocess.CompletedProcess, int]:
    """The CLI in a subprocess, and its peak resident memory in KiB (printed at exit)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_DRIVER, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = done.stderr.splitlines()
    peak = int(lines[-1].removeprefix("PEAK_RSS_KB=")) if lines else 0
    return done, peak
