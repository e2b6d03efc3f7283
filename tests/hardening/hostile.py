"""A catalogue server for the hardening tests: big, faulty, or hostile on purpose.

`CatalogServer(products=N)` serves `GET /products?page=&size=` (pages from 1) as
`{"products": [...], "total": N}` with an `X-Total-Pages` header, and demands the header
`X-Api-Key: <api_key>`. Product n is `product(n)` unless `overrides[n]` replaces fields
(hostile ids and names). Knobs:

- `flaky_pages={page: k}`: the first k requests of that page fail, cycling through a 503, a
  dropped connection, truncated JSON and an HTML error page (each a transient fault);
- `fail_all=True`: every request answers 503 with `error_body` (a supplier down longer than
  any retry budget);
- `slow=seconds`: every page waits that long first (a job that lasts);
- hostile routes, chosen by the first path segment of the account's base_url:
  `/endless/...` streams a chunked body forever (until the client hangs up), `/declared/...`
  announces a 10 GiB Content-Length, `/deep/...` is JSON nested 100,000 levels,
  `/deep-record/...` one record nested 900 levels and missing its id, `/html/...` an HTML
  page with status 200, `/binary/...` random bytes, `/bigint/...` a 5,000-digit number,
  `/nan/...` a NaN literal, `/scalar/...` a JSON string where records belong,
  `/trailing/...` valid JSON followed by garbage.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.base import FakeServer, Reply, Request, _Handler

HOSTILE_ROUTES = (
    "endless",
    "declared",
    "deep",
    "deep-record",
    "html",
    "binary",
    "bigint",
    "nan",
    "scalar",
    "trailing",
)


class _StreamingHandler(_Handler):
    """The fake's handler, plus the two routes that must stream: endless and declared."""

    CHUNK = b'{"products": [' + b'{"id": "AC-000001", "name": "' + b"x" * 65_000 + b'"},'

    def _dispatch(self) -> None:
        route = urlsplit(self.path).path.strip("/").split("/")[0]
        key = {k.lower(): v for k, v in self.headers.items()}.get("x-api-key")
        if route not in ("endless", "declared") or key != self.fake.api_key:
            super()._dispatch()
            return
        self.fake._record(
            Request(
                self.command,
                urlsplit(self.path).path,
                dict(parse_qsl(urlsplit(self.path).query)),
                {k.lower(): v for k, v in self.headers.items()},
                b"",
                0.0,
            )
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if route == "declared":
            self.send_header("Content-Length", str(10 * 1024**3))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        limit = 2 * 1024**3  # never more than 2 GiB, whatever the client does
        try:
            while self.fake.streamed < limit:
                if route == "declared":
                    self.wfile.write(self.CHUNK)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(self.CHUNK), self.CHUNK))
                self.fake.streamed += len(self.CHUNK)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            pass
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class CatalogServer(FakeServer):
    name = "catalog"
    handler_class = _StreamingHandler

    def __init__(
        self,
        *,
        products: int = 50,
        api_key: str = "catalog-test-key",
        overrides: dict[int, dict[str, Any]] | None = None,
        flaky_pages: dict[int, int] | None = None,
        fail_all: bool = False,
        slow: float = 0.0,
        price_shift: int = 0,
        error_body: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.products = products
        self.api_key = api_key
        self.overrides = overrides or {}
        self.flaky = dict(flaky_pages or {})
        self.fail_all = fail_all
        self.slow = slow
        self.price_shift = price_shift
        self.error_body = {"error": "maintenance"} if error_body is None else error_body
        self.failures: list[tuple[int, str]] = []  # (page, fault) served
        self.streamed = 0  # bytes written by /endless before the client hung up
        self._flaky_lock = threading.Lock()

    def product(self, n: int) -> dict[str, Any]:
        cents = 500 + (n * 7919) % 49500 + self.price_shift
        record = {
            "id": f"AC-{n:06d}",
            "sku": f"AC{n:06d}",
            "name": f"Acme product {n}",
            "description": f"Acme product {n}, sold by the unit.",
            "price": f"{cents // 100}.{cents % 100:02d}",
            "cost": f"{cents * 100 // 185 // 100}.{cents * 100 // 185 % 100:02d}",
            "brand": "Acme",
            "stock": (n * 31) % 97,
        }
        record.update(self.overrides.get(n, {}))
        return record

    def page(self, page: int, size: int) -> list[dict[str, Any]]:
        first = (page - 1) * size + 1
        return [self.product(n) for n in range(first, min(first + size, self.products + 1))]

    def handle(self, request: Request) -> Reply | None:
        if request.headers.get("x-api-key") != self.api_key:
            return Reply(401, {"error": "invalid api key"})
        route = request.path.strip("/").split("/")[0]
        if route in HOSTILE_ROUTES:
            return hostile_reply(route)
        if self.fail_all:
            return Reply(503, self.error_body, content_type="text/plain")
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("size", "500"))
        fault = self._fault_for(page)
        if fault is not None:
            return fault
        if self.slow:
            threading.Event().wait(self.slow)
        pages = max(1, -(-self.products // size))
        body = {"products": self.page(page, size), "total": self.products}
        try:  # raw UTF-8 (emoji as bytes); a lone surrogate can only travel escaped
            data = json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            data = json.dumps(body).encode()
        return Reply(200, data, {"X-Total-Pages": str(pages)}, "application/json")

    def _fault_for(self, page: int) -> Reply | None:
        with self._flaky_lock:
            left = self.flaky.get(page, 0)
            if left <= 0:
                return None
            self.flaky[page] = left - 1
            kind = ("503", "drop", "truncated", "html")[len(self.failures) % 4]
            self.failures.append((page, kind))
        if kind == "503":
            return Reply(503, {"error": "try again"})
        if kind == "drop":
            return None
        if kind == "truncated":
            return Reply(200, b'{"products": [{"id": "AC-0', content_type="application/json")
        return Reply(502, "<html><title>502 Bad Gateway</title></html>", content_type="text/html")


def hostile_reply(route: str) -> Reply:
    reply = _hostile_body(route)
    reply.headers.setdefault("X-Total-Pages", "1")
    return reply


def _hostile_body(route: str) -> Reply:
    if route == "deep":
        depth = 100_000
        return Reply(200, ("[" * depth + "]" * depth).encode(), content_type="application/json")
    if route == "deep-record":
        nested: Any = "bottom"
        for _ in range(900):
            nested = [nested]
        body = json.dumps({"products": [{"name": "no id", "price": "1.00", "extra": nested}]})
        return Reply(200, body.encode(), {"X-Total-Pages": "1"}, "application/json")
    if route == "html":
        return Reply(
            200, "<!DOCTYPE html><html><title>Login</title></html>", content_type="text/html"
        )
    if route == "binary":
        return Reply(200, random.Random(9).randbytes(4096), content_type="application/json")
    if route == "bigint":
        return Reply(200, b'{"products": [{"id": ' + b"9" * 5000 + b"}]}")
    if route == "nan":
        return Reply(200, b'{"products": [{"id": "AC-1", "price": NaN, "name": "x"}]}')
    if route == "scalar":
        return Reply(200, {"products": "not a list"}, {"X-Total-Pages": "1"})
    if route == "trailing":
        return Reply(200, b'{"products": []} <script>', content_type="application/json")
    raise ValueError(route)  # endless and declared are streamed by the handler
