"""Servers that trickle or bomb, through the real client and the real CLI.

- A gzip bomb (200 MB of zeros in 200 KB) is refused at the size cap as it streams: the
  decoded bytes never exceed the cap, so the process's peak memory barely moves (httpx alone
  decoded each 64 KB chunk whole, 64 MB at a time).
- A server that trickles one byte every 2 s stays under any read timeout; the request's total
  deadline (`timeouts.request`, connect to last byte) ends it, and a page's (`timeouts.page`)
  ends its retries.
- `sync-runner run --max-runtime 10` is a real bound: the worker stuck in such a request
  hands the job back within `--grace-seconds`, uncharged and behind the other due jobs, so
  the next run runs another user's job first instead of the same stuck one again.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import zlib
from typing import Any

import pytest
from sqlalchemy import select

from runner.db.tables import import_jobs
from runner.errors import TransientError
from runner.http.auth import Call
from runner.http.client import HttpClient
from runner.queue import Queue
from runner.spec.model import RetrySpec, TimeoutSpec
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import acme_project, add_acme, cli, cli_peak_rss, products

BOMB_MB = 200


def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"products": [], "pad": "')]
    zeros = b"0" * 1024 * 1024
    parts += [packer.compress(zeros) for _ in range(BOMB_MB)]
    parts += [packer.compress(b'"}'), packer.flush()]
    return b"".join(parts)


class SlowServer:
    """`/trickle/...` answers 200 and then one byte every `every` seconds (at most `limit`
    seconds); `/bomb/...` answers a gzip bomb. Any other path: 404."""

    def __init__(self, every: float = 2.0, limit: float = 60.0) -> None:
        self.every, self.limit = every, limit
        self.bomb = _gzip_bomb()
        self.requests: list[str] = []
        self.stopped = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                route = self.path.strip("/").split("/")[0]
                if route == "bomb":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(owner.bomb)))
                    self.send_header("X-Total-Pages", "1")
                    self.end_headers()
                    self.wfile.write(owner.bomb)
                    return
                if route != "trickle":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.send_header("X-Total-Pages", "1")
                self.end_headers()
                ends = time.monotonic() + owner.limit
                try:
                    self.wfile.write(b'{"products": [], "pad": "')
                    self.wfile.flush()
                    while time.monotonic() < ends and not owner.stopped.wait(owner.every):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_key = "slow-server-key"

    def start(self) -> SlowServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def db_backend():
    return "sqlite"


def test_a_gzip_bomb_is_refused_as_it_streams_with_bounded_memory(db_url, engine, make_specs):
    cap = 2_000_000
    healthy = CatalogServer(products=20).start()
    slow = SlowServer().start()
    try:
        specs = acme_project(make_specs)
        add_acme(engine, "healthy", healthy)
        args = ["sync", "--user", "user-a", "--type", "supplier_api", "--json"]
        args += ["--specs", str(specs), "--database-url", db_url]
        baseline, baseline_peak = cli_peak_rss(*args)
        assert baseline.returncode == 0, baseline.stderr
        add_acme(engine, "bomb", slow, route="bomb", max_response_bytes=cap)
        done, peak = cli_peak_rss(*args)
    finally:
        healthy.stop()
        slow.stop()
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    accounts = json.loads(done.stdout)["accounts"]
    assert accounts["healthy"]["status"] == "ok" and len(products(engine)) == 20
    assert f"response body over the {cap} byte limit" in accounts["bomb"]["error"]
    growth_mb = (peak - baseline_peak) / 1024
    assert growth_mb < 16, f"peak memory grew by {growth_mb:.0f} MB for a {cap:,}-byte cap"


def _trickled(attempts: int, request: float, page: float) -> tuple[str, float, int]:
    """One call to a server trickling a byte every 0.5 s: the error, seconds, requests."""
    server = SlowServer(every=0.5).start()
    client = HttpClient(
        name="slow",
        retry=RetrySpec(max_attempts=attempts, backoff_seconds=0.01, max_backoff_seconds=0.01),
        timeouts=TimeoutSpec(connect=5, read=5, request=request, page=page),
    )
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as raised:
            client.request(Call("GET", server.base_url + "/trickle/products"))
    finally:
        client.close()
        server.stop()
    return str(raised.value), time.monotonic() - started, len(server.requests)


def test_a_trickling_server_is_cut_at_the_request_deadline():
    error, elapsed, _ = _trickled(attempts=2, request=2, page=30)
    assert "over the 2 s request deadline" in error and "gave up after 2 attempts" in error
    assert elapsed < 2 * 2 + 2 * 0.5 + 1.5, elapsed  # two attempts, each cut at its deadline


def test_the_page_deadline_ends_the_retries():
    error, elapsed, requests = _trickled(attempts=50, request=1, page=3)
    assert "over the 3 s page deadline" in error
    assert elapsed < 3 + 1 + 1.5 and requests <= 4, (elapsed, requests)


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_max_runtime_bounds_a_run_stuck_in_a_trickling_request(db_url, engine, make_specs):
    slow = SlowServer(every=2.0, limit=60).start()
    healthy = CatalogServer(products=30).start()
    try:
        specs = acme_project(make_specs)
        add_acme(engine, "slow-1", slow, user_id="user-a", route="trickle")
        add_acme(engine, "fast-1", healthy, user_id="user-b")
        queue = Queue(engine)
        stuck = queue.enqueue("user-a", "supplier_api", account_id="slow-1").job_id
        time.sleep(0.01)
        other = queue.enqueue("user-b", "supplier_api", account_id="fast-1").job_id
        common = ["--no-maintenance", "--no-schedules", "--max-runtime", "10"]
        common += ["--grace-seconds", "5", "--specs", str(specs), "--database-url", db_url]

        started = time.monotonic()
        first = cli("run", *common, timeout=120)
        first_took = time.monotonic() - started
        assert first_took < 10 + 5 + 10, first_took  # deadline + grace + start-up on a busy box
        assert "Traceback" not in first.stderr, first.stderr[-2000:]
        jobs = {row.id: row for row in _jobs(engine)}
        assert jobs[stuck].status == "pending" and jobs[stuck].attempts == 0  # uncharged
        assert jobs[other].status == "pending"  # never claimed: the run was stuck
        assert jobs[stuck].scheduled_at > jobs[other].scheduled_at  # behind it now

        second = cli("run", *common, timeout=120)
        assert "Traceback" not in second.stderr, second.stderr[-2000:]
        jobs = {row.id: row for row in _jobs(engine)}
        assert jobs[other].status == "completed", (second.stderr[-2000:], jobs[other])
        assert len(products(engine, "user-b")) == 30
        assert jobs[stuck].status == "pending" and jobs[stuck].attempts == 0
    finally:
        slow.stop()
        healthy.stop()


def _jobs(engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(import_jobs)))
