"""The shared machinery of the local fake API servers.

A `FakeServer` listens on 127.0.0.1 (port 0 = any free port) in a background thread, speaks
HTTP/1.1 with keep-alive, records every request in `.requests`, and answers through its
subclass's `handle(request) -> Reply`. Before that, `.faults` may take the request over:

    server.faults.rate_limit(retry_after=1)          # the API's own 429 shape, once
    server.faults.server_errors(3, status=503)       # a 5xx burst of 3
    server.faults.slow(0.5)                          # answer after 0.5 s
    server.faults.drop()                             # close the connection, no answer
    server.faults.truncate()                         # the real body cut in half
    server.faults.html(status=502)                   # an HTML error page
    server.faults.envelope()                         # the API's error envelope inside a 200
    server.faults.empty()                            # 200 with an empty body
    server.faults.add("status", status=418, body={...}, times=2, path="/orders")

Every fault fires `times` times (default 1) on requests whose path contains `path` (default:
any), in the order they were added.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    time: float  # time.monotonic() at arrival
    raw_query: str = ""
    connection: int = 0  # the client's port: requests on one keep-alive connection share it

    @property
    def form(self) -> dict[str, str]:
        if "application/x-www-form-urlencoded" in self.headers.get("content-type", ""):
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        return {}

    @property
    def params(self) -> dict[str, str]:
        """Query and form parameters together (AliExpress accepts either)."""
        return {**self.query, **self.form}


@dataclass
class Reply:
    status: int = 200
    body: Any = b""  # bytes, str, or anything JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=UTF-8"
        text = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))
        return text.encode(), self.content_type or "application/json; charset=utf-8"


@dataclass
class Fault:
    kind: str
    times: int = 1
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Faults:
    """A thread-safe, ordered list of faults to inject."""

    KINDS = ("rate_limit", "status", "slow", "drop", "truncate", "html", "envelope", "empty")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: str, *, times: int = 1, path: str | None = None, **options: Any) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(self.KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, times, path, options))

    def rate_limit(self, retry_after: float = 1, *, times: int = 1, path: str | None = None):
        self.add("rate_limit", times=times, path=path, retry_after=retry_after)

    def server_errors(self, n: int, *, status: int = 503, path: str | None = None):
        self.add("status", times=n, path=path, status=status)

    def slow(self, seconds: float, *, times: int = 1, path: str | None = None):
        self.add("slow", times=times, path=path, seconds=seconds)

    def drop(self, *, times: int = 1, path: str | None = None):
        self.add("drop", times=times, path=path)

    def truncate(self, *, times: int = 1, path: str | None = None):
        self.add("truncate", times=times, path=path)

    def html(self, *, status: int = 502, times: int = 1, path: str | None = None):
        self.add("html", times=times, path=path, status=status)

    def envelope(self, *, times: int = 1, path: str | None = None, **options: Any):
        self.add("envelope", times=times, path=path, **options)

    def empty(self, *, times: int = 1, path: str | None = None):
        self.add("empty", times=times, path=path)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)

    def take(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path in request.path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Bad Gateway</title></head><body>"
    "<center><h1>{status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class FakeServer:
    """Base class: subclasses implement `handle` and the API-specific fault shapes."""

    name = "fake"
    # The request handler class; None means the plain `_Handler` (a subclass may stream).
    handler_class: type[BaseHTTPRequestHandler] | None = None

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.faults = Faults()
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most requests handled at the same time
        self._lock = threading.Lock()
        self._host = host
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what subclasses provide ---------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def rate_limit_reply(self, request: Request, retry_after: float) -> Reply:
        return Reply(429, {"error": "rate limited"}, {"Retry-After": f"{retry_after:g}"})

    def server_error_reply(self, request: Request, status: int) -> Reply:
        return Reply(status, {"error": "server error"})

    def envelope_reply(self, request: Request, **options: Any) -> Reply:
        return Reply(200, {"error": {"message": "error inside a 200"}})

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Scheme, host and port; subclasses append their API root."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        server = self

        class Handler(self.handler_class or _Handler):
            fake = server

        self._httpd = _Server((self._host, self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @classmethod
    def main(cls, size_option: str, default: int, argv: list[str] | None = None) -> None:
        """Standalone entry point: `python -m tests.fakes.<name> --port N --<size> N --seed S`."""
        parser = argparse.ArgumentParser(description=f"Run the {cls.name}-like fake API server.")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument(f"--{size_option}", type=int, default=default)
        parser.add_argument("--seed", type=int, default=0)
        args = parser.parse_args(argv)
        options = {size_option: getattr(args, size_option), "seed": args.seed, "port": args.port}
        cls(**options).serve_forever()

    def serve_forever(self) -> None:
        """Run in the foreground until Ctrl-C (standalone use)."""
        self.start()
        print(f"{self.name} fake listening on {self.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        self.faults.clear()
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # -- dispatch ------------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def respond(self, request: Request) -> tuple[Reply | None, Fault | None]:
        """The reply to send (None: drop the connection) and the fault applied, if any."""
        self._record(request)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._respond(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, request: Request) -> tuple[Reply | None, Fault | None]:
        fault = self.faults.take(request)
        if fault is None:
            return self.handle(request), None
        options = fault.options
        if fault.kind == "rate_limit":
            return self.rate_limit_reply(request, options["retry_after"]), fault
        if fault.kind == "status":
            status = options["status"]
            if "body" in options:
                return Reply(status, options["body"], dict(options.get("headers", {}))), fault
            return self.server_error_reply(request, status), fault
        if fault.kind == "slow":
            time.sleep(options["seconds"])
            return self.handle(request), fault
        if fault.kind == "drop":
            return None, fault
        if fault.kind == "html":
            page = HTML_PAGE.format(status=options["status"])
            return Reply(options["status"], page, content_type="text/html"), fault
        if fault.kind == "envelope":
            return self.envelope_reply(request, **options), fault
        if fault.kind == "empty":
            return Reply(200, b"", content_type="application/json"), fault
        return self.handle(request), fault  # truncate: cut when sending


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a read timeout test) leaves a broken pipe: not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeServer
    timeout = 30
    # Buffered: headers and body leave in one send when the handler flushes. Two small sends
    # (headers, then body) on a keep-alive connection wait for the client's delayed ACK
    # (Nagle), ~40 ms per response.
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            time=time.monotonic(),
            raw_query=parts.query,
            connection=self.client_address[1],
        )
        try:
            reply, fault = self.fake.respond(request)
        except Exception as exc:  # a bug in a fake must show, not hang the client
            reply, fault = Reply(500, {"fake_server_bug": repr(exc)}), None
        if reply is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data, content_type = reply.encoded()
        if fault is not None and fault.kind == "truncate":
            data = data[: max(1, len(data) // 2)]
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
