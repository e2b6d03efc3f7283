"""Supplier faults at scale, through the CLI and the queue.

- A 100,000-product catalogue (the generic single-list `acme` supplier, 500-product pages)
  whose server fails 1% of its pages transiently (a 503, a dropped connection, truncated
  JSON, an HTML error page, in turn, several times each): the sync completes with every row.
- A supplier down for longer than the retry budget: the job fails with a clear error in
  `import_jobs.errors`, the run exits 1 with --fail-on-job-error; when the supplier is back,
  `jobs retry` and a later run complete it with every row.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from runner.queue import Queue
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import acme_project, add_acme, cli, products

QUICK_QUEUE = {
    "lease_seconds": 10,
    "heartbeat_seconds": 1,
    "max_attempts": 2,
    "poll_seconds": 1,
    "backoff": {"base_seconds": 0.01, "max_seconds": 0.05, "jitter": 0},
}


@pytest.mark.slow
def test_a_big_catalogue_with_flaky_pages_syncs_every_row(db_url, engine, make_specs):
    total, size = 100_000, 500
    pages = total // size
    flaky = sorted(random.Random(20250115).sample(range(1, pages + 1), pages // 100))
    server = CatalogServer(products=total, flaky_pages=dict.fromkeys(flaky, 3)).start()
    try:
        specs = acme_project(make_specs)
        add_acme(engine, "acme-1", server, page_size=size)
        args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
        done = cli(*args, "--specs", str(specs), "--database-url", db_url, timeout=600)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    step = json.loads(done.stdout)["accounts"]["acme-1"]["steps"]["products"]
    assert step["fetched"] == step["inserted"] == total
    assert step["rejected"] == 0
    # 1% of the 200 pages failed, several times each (httpx itself resends a request whose
    # kept-alive connection was dropped, so a drop may not cost the runner a retry)
    assert len(flaky) == 2
    served = [page for page, _ in server.failures]
    assert all(served.count(page) >= 2 for page in flaky), server.failures
    assert {kind for _, kind in server.failures} == {"503", "drop", "truncated", "html"}
    assert pages < step["requests"] <= pages + len(server.failures)
    stored = products(engine)
    assert len(stored) == total
    assert set(stored) == {("user-a", "acme-1", f"AC-{n:06d}") for n in range(1, total + 1)}


RETRY_DELAY = 1.5


def test_a_supplier_down_past_the_retry_budget_fails_then_a_later_run_succeeds(
    db_url, engine, make_specs
):
    server = CatalogServer(products=1200, fail_all=True).start()
    try:
        backoff = {"base_seconds": RETRY_DELAY, "max_seconds": RETRY_DELAY, "jitter": 0}
        queue_spec = {**QUICK_QUEUE, "backoff": backoff}
        specs = acme_project(make_specs, {"queue": queue_spec, "schedules": []})
        add_acme(engine, "acme-1", server)
        queue = Queue(engine)
        job_id = queue.enqueue("user-a", "supplier_api", account_id="acme-1", max_attempts=2).job_id
        common = ["--specs", str(specs), "--database-url", db_url]
        # Each run makes one attempt: the retry is due RETRY_DELAY later, long after the run
        # that failed has found nothing else to claim and exited.
        for attempt in (1, 2):
            if attempt == 2:
                time.sleep(RETRY_DELAY + 0.1)
            down = cli("run", "--no-maintenance", "--fail-on-job-error", *common)
            assert down.returncode == 1, down.stderr  # documented: a job error with the flag
            assert f"attempt {attempt}: {('retry', 'failed')[attempt - 1]}" in down.stdout
        job = Queue(engine).get(job_id)
        assert job["status"] == "failed" and job["attempts"] == 2
        assert len(job["errors"]) == 2
        for error in job["errors"]:
            assert "HTTP 503" in error["message"] and "gave up after 4 attempts" in error["message"]
            assert "products?size=500&page=1" in error["message"]
        assert len(server.requests) == 2 * 4  # two attempts of four requests, then it stopped
        assert products(engine) == {}

        server.fail_all = False
        assert cli("jobs", "retry", job_id[:8], *common).returncode == 0
        back = cli("run", "--no-maintenance", "--fail-on-job-error", *common)
        assert back.returncode == 0, back.stderr
    finally:
        server.stop()
    job = Queue(engine).get(job_id)
    assert job["status"] == "completed"
    assert job["result_data"]["totals"]["inserted"] == 1200
    assert len(products(engine)) == 1200
