"""A sync type is data: a fifth one, added in YAML only, runs through `run-job`.

The bundled specs and mappings are copied to tmp_path; `image_refresh` (one step updating
`image_urls` from BigBuy's images list) is added to sync_types.yaml and to bigbuy.yaml's
`syncs`, nothing else. The real CLI, in subprocesses, validates the copy, enqueues the job
and runs it (offline: the mappings' mock records), on SQLite and on Postgres.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select, update

from runner.db.tables import import_jobs, imported_products
from tests.sync.support import add_supplier

ROOT = Path(__file__).resolve().parents[2]
STALE = ["https://example.invalid/stale.jpg"]


def cli(specs: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNC_RUNNER_SPECS": str(specs)}
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_image_refresh(specs: Path) -> None:
    """The fifth sync type, in YAML only."""
    types_file = specs / "sync_types.yaml"
    types = yaml.safe_load(types_file.read_text(encoding="utf-8"))
    types["image_refresh"] = {
        "description": "Images only, for products already imported.",
        "source": "supplier",
        "target": "imported_products",
        "fields": ["image_urls"],
    }
    types_file.write_text(yaml.safe_dump(types, sort_keys=False), encoding="utf-8")
    supplier_file = specs / "suppliers" / "bigbuy.yaml"
    supplier = yaml.safe_load(supplier_file.read_text(encoding="utf-8"))
    supplier["syncs"]["image_refresh"] = [{"operation": "images"}]
    supplier_file.write_text(yaml.safe_dump(supplier, sort_keys=False), encoding="utf-8")


def run_job(specs: Path, db_url: str, sync_type: str) -> str:
    """Enqueue a job of `sync_type` for user-a and run it at once; returns its id."""
    enqueued = cli(
        specs, "enqueue", "--user", "user-a", "--type", sync_type, "--database-url", db_url
    )
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.split()[-1]
    ran = cli(specs, "run-job", job_id, "--offline", "--database-url", db_url)
    assert ran.returncode == 0, ran.stderr
    return job_id


def test_a_sync_type_added_in_yaml_runs_through_run_job(make_specs, db_url, engine):
    specs = make_specs()
    add_image_refresh(specs)
    validated = cli(specs, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    add_supplier(engine, "bb", "bigbuy")
    run_job(specs, db_url, "supplier_api")
    with engine.begin() as conn:
        conn.execute(update(imported_products).values(image_urls=STALE))

    job_id = run_job(specs, db_url, "image_refresh")

    with engine.connect() as conn:
        job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()._mapping
        images = conn.execute(select(imported_products.c.image_urls)).scalars().all()
    assert job["status"] == "completed", job["errors"]
    step = job["result_data"]["accounts"]["bb"]["steps"]["images"]
    assert (step["mode"], step["status"], step["updated"]) == ("update", "ok", 40)
    assert len(images) == 40
    assert all(urls and urls != STALE for urls in images), json.dumps(images[:3])
    assert all(url.startswith("https://cdnbigbuy.com/images/") for urls in images for url in urls)
