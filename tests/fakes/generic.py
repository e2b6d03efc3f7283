"""A generic fake API for the auth and pagination kinds no bundled supplier uses as-is.

Items are `{"id": n, "name": "Item n"}` for n = 1..items. Endpoints (all GET unless noted):

- `/pages?page=&size=` (page_number from 1): `{"results": [...], "total_count": N}` and
  an `X-Total-Pages` header
- `/offset?offset=&limit=`: `{"items": [...], "total": N}`
- `/cursor?cursor=&size=`: `{"data": [...], "meta": {"next_cursor": "..." or null}}`
- `/next?after=&size=`: `{"data": [...], "links": {"next": "/next?..." (relative) or null}}`
- `/link?page=&size=`: a bare array and `Link: <...>; rel="next"`
- `/all` (no pagination): `{"data": [...every item]}`
- `/products?page=&size=` (page_number from 1): `{"products": [...], "total_count": N}` and
  an `X-Total-Pages` header; each record is a full product (see `product`), and every
  `changed_every`-th product's price is `change` cents higher (0 = none). A page's bytes are
  rendered once and kept (`prerender` renders them all up front), so that a benchmark
  measures the client, not this server
- `/items/{id}` (lookup by path): one item, 404 when unknown
- `/items?ids=1,2` (lookup in batches): `{"data": [...]}`
- `/broken/stuck-cursor`: a cursor that never advances
- `/broken/ignores-page?page=`: the same first page whatever the page
- `/broken/link-loop`: a Link next pointing at itself
- `/broken/foreign-link`: a Link next on another origin
- `POST /oauth/token`: OAuth2 client credentials (HTTP Basic client auth) ->
  `{"access_token", "token_type", "expires_in"}`

`auth` picks what the server demands: "none", "api_key_header" (`X-Api-Key`),
"api_key_query" (`api_key`), "bearer" (the static `token`), "basic" (`username`/`password`),
"oauth2" (a token this server issued and that has not expired).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.base import FakeServer, Reply, Request


class GenericServer(FakeServer):
    name = "generic"

    def __init__(
        self,
        *,
        items: int = 23,
        auth: str = "none",
        api_key: str = "generic-api-key",
        token: str = "generic-static-token",
        username: str = "generic-user",
        password: str = "generic-password",
        client_id: str = "generic-client",
        client_secret: str = "generic-client-secret",
        token_lifetime: float = 3600,
        changed_every: int = 0,
        change: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.items = items
        self.auth = auth
        self.api_key = api_key
        self.token = token
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.issued: dict[str, float] = {}  # token -> monotonic expiry
        self._serial = itertools.count(1)
        self.changed_every = changed_every
        self.change = change
        self._product_pages: dict[tuple[int, int], bytes] = {}

    CATEGORIES = ("Home > Kitchen", "Home > Dining", "Garden > Tools", "Toys > Outdoor")

    def product(self, n: int) -> dict:
        """Product n (1-based), the same on every call; prices are strings, as many APIs send."""
        cents = 500 + (n * 7919) % 49500
        if self.changed_every and n % self.changed_every == 0:
            cents += self.change
        cost = cents * 100 // 185
        return {
            "id": n,
            "sku": f"GEN-{n:07d}",
            "name": f"Generic product {n}",
            "description": f"Generic product {n}, a well-made item of the fake catalogue, "
            "sold by the unit and shipped within two days.",
            "price": f"{cents // 100}.{cents % 100:02d}",
            "cost_price": f"{cost // 100}.{cost % 100:02d}",
            "currency": "EUR",
            "category": self.CATEGORIES[n % len(self.CATEGORIES)],
            "brand": f"Brand {n % 97}",
            "stock": (n * 31) % 200,
            "images": [f"https://cdn.example.com/products/{n}/{i}.jpg" for i in (1, 2)],
            "active": n % 10 != 0,
        }

    def _products_page(self, page: int, size: int) -> bytes:
        key = (page, size)
        body = self._product_pages.get(key)
        if body is None:
            start = (page - 1) * size
            last = min(start + size, self.items)
            products = [self.product(n) for n in range(start + 1, last + 1)]
            payload = {"products": products, "total_count": self.items}
            body = json.dumps(payload, separators=(",", ":")).encode()
            self._product_pages[key] = body
        return body

    def prerender(self, size: int) -> None:
        """Render every page of `/products` at this page size now, before any client asks."""
        for page in range(1, (self.items + size - 1) // size + 1):
            self._products_page(page, size)

    def item(self, n: int) -> dict:
        return {"id": n, "name": f"Item {n}"}

    def _slice(self, start: int, size: int) -> list[dict]:
        return [self.item(n) for n in range(start + 1, min(start + size, self.items) + 1)]

    # -- auth ----------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if self.auth == "none":
            return True
        if self.auth == "api_key_header":
            return request.headers.get("x-api-key") == self.api_key
        if self.auth == "api_key_query":
            return request.query.get("api_key") == self.api_key
        if self.auth == "bearer":
            return header == f"Bearer {self.token}"
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        if self.auth == "oauth2":
            token = header.removeprefix("Bearer ")
            return self.issued.get(token, 0) > time.monotonic()
        raise ValueError(f"unknown auth mode {self.auth!r}")

    def _token(self, request: Request) -> Reply:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.method != "POST" or request.headers.get("authorization") != f"Basic {expected}":
            return Reply(401, {"error": "invalid_client"})
        if request.form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        token = f"issued-token-{next(self._serial)}"
        self.issued[token] = time.monotonic() + self.token_lifetime
        return Reply(
            200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
        )

    # -- API -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.path == "/oauth/token":
            return self._token(request)
        if not self._authorized(request):
            return Reply(401, {"error": "unauthorized"})
        q = request.query
        size = int(q.get("size", q.get("limit", "5")))
        path = request.path
        if path == "/pages":
            page = int(q.get("page", "1"))
            pages = (self.items + size - 1) // size
            return Reply(
                200,
                {"results": self._slice((page - 1) * size, size), "total_count": self.items},
                {"X-Total-Pages": str(pages)},
            )
        if path == "/products":
            page = max(int(q.get("page", "1")), 1)
            pages = (self.items + size - 1) // size
            return Reply(200, self._products_page(page, size), {"X-Total-Pages": str(pages)})
        if path == "/offset":
            offset = int(q.get("offset", "0"))
            return Reply(200, {"items": self._slice(offset, size), "total": self.items})
        if path == "/cursor":
            start = int(q["cursor"].removeprefix("c")) if q.get("cursor") else 0
            data = self._slice(start, size)
            more = start + size < self.items
            return Reply(
                200, {"data": data, "meta": {"next_cursor": f"c{start + size}" if more else None}}
            )
        if path == "/next":
            start = int(q.get("after", "0"))
            data = self._slice(start, size)
            more = start + size < self.items
            nxt = "/next?" + urlencode({"after": start + size, "size": size}) if more else None
            return Reply(200, {"data": data, "links": {"next": nxt}})
        if path == "/link":
            page = int(q.get("page", "1"))
            data = self._slice((page - 1) * size, size)
            headers = {}
            if page * size < self.items:
                url = f"{self.base_url}/link?" + urlencode({"page": page + 1, "size": size})
                headers["Link"] = f'<{url}>; rel="next"'
            return Reply(200, data, headers)
        if path == "/all":
            return Reply(200, {"data": self._slice(0, self.items)})
        if path.startswith("/items/"):
            n = int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else 0
            if not 1 <= n <= self.items:
                return Reply(404, {"error": "not found"})
            return Reply(200, self.item(n))
        if path == "/items":
            ids = [int(i) for i in q.get("ids", "").split(",") if i.isdigit()]
            return Reply(200, {"data": [self.item(n) for n in ids if 1 <= n <= self.items]})
        if path == "/broken/stuck-cursor":
            n = len(self.requests)  # fresh records each time: only the token repeats
            return Reply(200, {"data": [self.item(n)], "meta": {"next_cursor": "always-the-same"}})
        if path == "/broken/ignores-page":
            return Reply(200, {"results": self._slice(0, size), "total_count": self.items})
        if path == "/broken/link-loop":
            n = len(self.requests)
            return Reply(
                200, [self.item(n)], {"Link": f'<{self.base_url}/broken/link-loop>; rel="next"'}
            )
        if path == "/broken/foreign-link":
            return Reply(
                200, [self.item(1)], {"Link": '<http://198.51.100.7/steal?page=2>; rel="next"'}
            )
        return Reply(404, {"error": "no such route"})


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.fakes.generic --port 8080 --items 100000 --page-size 1000`"""
    parser = argparse.ArgumentParser(description="Run the generic fake API server.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--items", type=int, default=23, help="items and products served")
    parser.add_argument(
        "--page-size", type=int, default=0, help="render /products pages of this size up front"
    )
    parser.add_argument(
        "--changed-every", type=int, default=0, help="every Nth product's price is changed"
    )
    parser.add_argument("--change", type=int, default=1, help="by this many cents")
    args = parser.parse_args(argv)
    server = GenericServer(
        items=args.items, changed_every=args.changed_every, change=args.change, port=args.port
    )
    if args.page_size:
        server.prerender(args.page_size)
    server.serve_forever()


if __name__ == "__main__":
    main()
