"""A feed server that trickles cannot hold the worker: the HTTP client's deadlines
(`timeouts.request`, connect to last byte; `timeouts.page`, every attempt until the body
starts) bound a feed's request too (runner.feeds.fetch), through real HTTP."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runner.errors import TransientError
from runner.feeds.fetch import FeedRead
from runner.http.auth import Call
from runner.http.client import HttpClient
from runner.spec.model import FormatSpec, RetrySpec, TimeoutSpec


class TricklingFeed:
    """`/body.csv`: 200 at once, then a CSV row every `every` seconds (a day's worth);
    `/busy.csv`: 503 at once, then its error message a byte every `every` seconds."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.requests = 0
        self.stopped = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                try:
                    busy = self.path == "/busy.csv"
                    self.send_response(503 if busy else 200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", "100000000")
                    self.end_headers()
                    self.wfile.write(b"busy: " if busy else b"id,name\n")
                    for n in range(86_400):
                        if owner.stopped.wait(owner.every):
                            return
                        self.wfile.write(b"." if busy else f"{n},product {n}\n".encode())
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up
                finally:
                    self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trickling() -> Iterator[TricklingFeed]:
    server = TricklingFeed(every=0.2)
    yield server
    server.stop()


def read_feed(server: TricklingFeed, path: str, *, attempts: int, request: float, page: float):
    """Read the feed to its end: (records read, the error, seconds taken)."""
    client = HttpClient(
        name="slow-feed",
        retry=RetrySpec(max_attempts=attempts, backoff_seconds=0.01, max_backoff_seconds=0.01),
        timeouts=TimeoutSpec(connect=5, read=5, request=request, page=page),
    )
    read = FeedRead(
        client=client,
        call=Call("GET", server.base_url + path, {}, {}),
        auth=None,
        fmt=FormatSpec(type="csv"),
        previous=None,
        label="slow.catalogue",
        max_download=10**9,
    )
    records = 0
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as raised:
            for chunk in read.chunks():
                records += len(chunk.records)
    finally:
        client.close()
    return records, str(raised.value), time.monotonic() - started


def test_a_trickling_feed_body_ends_at_the_request_deadline(trickling):
    # every row arrives well within the read timeout (5 s): only the total deadline ends it
    records, error, elapsed = read_feed(trickling, "/body.csv", attempts=3, request=2, page=30)
    assert "over the 2 s request deadline" in error and "after" in error
    assert "timeouts.request" in error  # names the fix for a feed that is merely large
    assert elapsed < 2 + 1.5, elapsed
    assert trickling.requests == 1  # the body had started: the job, not the read, retries
    assert records < 20  # records were handed on while it streamed, then it stopped


def test_a_trickled_error_ends_at_the_request_deadline_and_the_page_deadline_ends_retries(
    trickling,
):
    _, error, elapsed = read_feed(trickling, "/busy.csv", attempts=50, request=1, page=3)
    assert "over the 3 s page deadline" in error, error
    assert elapsed < 3 + 1 + 1.5 and trickling.requests <= 4, (elapsed, trickling.requests)
