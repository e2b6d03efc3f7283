"""Never a silent truncation: each malformed answer fails its step, on the job, never `ok`.

One user has one account per case of tests/fakes/malformed.py, all of one supplier spec
(an envelope API: `data.items`, `data.total`, errors as `code != 200`). One queued job
syncs them all through the worker: the healthy account syncs, every other one fails with
its reason recorded in the job's `errors`, and the job is failed, not completed.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from runner.config import load_specs
from runner.db.tables import import_jobs
from runner.queue import Queue
from runner.worker import Worker, WorkerOptions
from tests.fakes.malformed import CASES, MalformedServer
from tests.sync.support import add_supplier, products_of

SUPPLIER = """\
name: shapes
title: Shapes (listing contract tests)
base_url: https://api.shapes.test
auth: {type: none}
retry: {max_attempts: 2, backoff_seconds: 0.01, max_backoff_seconds: 0.02}
response:
  error_when: "body.code != 200"
  error_code: body.code
  error_message: body.message
operations:
  products:
    path: /products
    params: {size: 2}
    records: data.items
    paginate: {type: page_number, page_param: page, start: 1, total_path: data.total}
    mapping: shapes_product
syncs:
  supplier_api: [products]
"""
MAPPING = """\
name: shapes_product
target: imported_products
key: external_id
fields:
  external_id: {from: id, required: true}
  name: {from: name}
"""
EXPECTED = {  # case -> what its recorded error says
    "missing_path": "records path 'data.items' is missing from the answer "
    "('data' is an object with keys: list, total)",
    "data_null": "records path 'data.items' is missing from the answer ('data' is null)",
    "not_a_list": "records path 'data.items' holds a str, not a list or an object",
    "short_total": "the walk ended after 5 of the 9 records announced; the listing is incomplete",
    "envelope": "API error: 1600001 Invalid API key",
    "html": "HTTP 200 but not JSON: HTML page: Login",
    "empty": "HTTP 200 with an empty body",
    "repeats": "page 2 (",
    "lost_page": "the walk stopped after 2 records on 2 pages of the 5 records announced",
}


def _project(make_specs) -> Path:
    specs = make_specs()
    (specs / "suppliers" / "shapes.yaml").write_text(SUPPLIER)
    (specs.parent / "mappings" / "shapes_product.yaml").write_text(MAPPING)
    return specs


def test_every_malformed_answer_fails_its_step_on_the_job(engine, make_specs, start_server):
    assert set(EXPECTED) == set(CASES) - {"healthy"} and len(EXPECTED) >= 8
    server = start_server(MalformedServer())
    specs = load_specs(_project(make_specs))
    for case in CASES:
        add_supplier(engine, case, "shapes", base_url=f"{server.base_url}/{case}")
    queue = Queue(engine, specs.runner.queue)
    job_id = queue.enqueue("user-a", "supplier_api").job_id

    Worker(engine, specs, options=WorkerOptions(schedules=False, maintenance=False)).run()

    with engine.connect() as conn:
        job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()
    assert job.status == "failed"  # never completed with part of the listings
    accounts = job.result_data["accounts"]
    assert accounts["healthy"]["status"] == "ok"
    assert len(products_of(engine, "healthy")) == 5
    errors = {e["supplier_id"]: e["error"] for e in job.errors[-1]["details"]}
    for case, needle in EXPECTED.items():
        assert accounts[case]["status"] == "failed", case
        assert accounts[case]["steps"]["products"]["status"] == "failed", case
        assert needle in errors[case], f"{case}: {errors[case]}"
        assert "\n" not in errors[case]
    assert "repeats the records of page 1" in errors["repeats"]
