"""A BigBuy-like fake (`/rest/catalog/*.json`), faithful to reference/supplier-apis.md §1.

- `Authorization: Bearer <api_key>` on every call; otherwise 401 JSON `{"code", "message"}`.
- Bulk lists sharing the product `id`: `products`, `productsinformation` (`isoCode`),
  `productsimages`, `productprices`, `productsstockbyhandlingdays`; bare JSON arrays, pages
  from 0 (`page`, `pageSize`, both required: 400 without them), optional `parentTaxonomy`.
  A page past the end is `[]`, or an empty 200 body with `empty_past_end=True` (BigBuy's
  "200 with an empty body instead of 404").
- One product: `catalog/product/{id}.json`; unknown id -> 404 `{"code":404,"message":...}`.
- `rate_limit=(N, seconds)`: the N+1st call in a window gets BigBuy's real 429: text/html body
  `You exceeded the rate limit` and `X-Ratelimit-Reset` (epoch seconds of the window's end).
- `endpoint_limit=(N, seconds)`: BigBuy's real budgets, counted per endpoint (path) across
  all clients, in sliding windows of `wall` time; `refused` counts the calls refused, and
  `per_window(path)` the most calls of a path that any window held.
- Faults (see `tests.fakes.base`): `rate_limit` uses that 429 shape, `envelope` is the soft
  `{"code":409,"message":"Something went wrong <hash>"}` inside a 200, 5xx bodies are
  `{"code":500,"message":"An error has occurred ... case id: <hex>"}`.

Standalone (for benchmarks): `python -m tests.fakes.bigbuy --port 8750 --products 100000`.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes import catalog
from tests.fakes.base import FakeServer, Reply, Request

LISTS: dict[str, Callable[..., dict]] = {
    "products": catalog.bigbuy_product,
    "productsinformation": catalog.bigbuy_information,
    "productsimages": catalog.bigbuy_images,
    "productprices": catalog.bigbuy_prices,
    "productsstockbyhandlingdays": catalog.bigbuy_stock,
}
_ONE = re.compile(r"^/rest/catalog/product/(\d+)\.json$")
_LIST = re.compile(r"^/rest/catalog/([a-z]+)\.json$")


class BigBuyServer(FakeServer):
    name = "bigbuy"

    def __init__(
        self,
        *,
        products: int = 25,
        seed: int = 0,
        api_key: str = "bigbuy-test-key",
        empty_past_end: bool = False,
        rate_limit: tuple[int, float] | None = None,
        endpoint_limit: tuple[int, float] | None = None,
        wall: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.products = products
        self.seed = seed
        self.api_key = api_key
        self.empty_past_end = empty_past_end
        self.rate_limit = rate_limit
        self.wall = wall
        self._window: tuple[float, int] = (0.0, 0)
        self._window_lock = threading.Lock()
        self.endpoint_limit = endpoint_limit
        self.calls: dict[str, list[float]] = {}  # path -> wall time of every accepted call
        self.refused = 0

    @property
    def base_url(self) -> str:
        return f"{super().base_url}/rest"

    # -- API -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, {"code": 401, "message": "Invalid or missing API key"})
        limited = self._over_limit()
        if limited is None:
            limited = self._over_endpoint_limit(request.path)
        if limited is not None:
            return self._too_many(limited)
        match = _ONE.match(request.path)
        if match:
            return self._one(int(match.group(1)))
        match = _LIST.match(request.path)
        if not match or match.group(1) not in LISTS:
            return Reply(404, {"code": 404, "message": "No route found for " + request.path})
        return self._list(match.group(1), request.query)

    def _indices(self, query: dict[str, str]) -> range | list[int]:
        parent = query.get("parentTaxonomy")
        if not parent:
            return range(self.products)
        return [i for i in range(self.products) if str(catalog.bigbuy_parent_taxonomy(i)) == parent]

    def _list(self, name: str, query: dict[str, str]) -> Reply:
        try:
            page = int(query["page"])
            size = int(query["pageSize"])
        except (KeyError, ValueError):
            return Reply(400, {"code": 400, "message": "Validation Failed: page and pageSize"})
        if page < 0 or size < 1 or size > 10000:
            return Reply(400, {"code": 400, "message": "Validation Failed: pageSize"})
        indices = self._indices(query)
        chosen = indices[page * size : (page + 1) * size]
        if not chosen and self.empty_past_end:
            return Reply(200, b"", content_type="application/json")
        make = LISTS[name]
        if name == "productsinformation":
            iso = query.get("isoCode", "en")
            return Reply(200, [make(self.seed, i, iso) for i in chosen])
        return Reply(200, [make(self.seed, i) for i in chosen])

    def _one(self, product_id: int) -> Reply:
        index = product_id - catalog.bigbuy_id(0)
        if not 0 <= index < self.products:
            return Reply(404, {"code": 404, "message": f"Product {product_id} not found"})
        return Reply(200, catalog.bigbuy_product(self.seed, index))

    # -- rate limit ----------------------------------------------------------------------------

    def _over_limit(self) -> float | None:
        """The epoch second the window reopens if this call is over the limit, else None."""
        if self.rate_limit is None:
            return None
        limit, seconds = self.rate_limit
        now = self.wall()
        with self._window_lock:
            start, count = self._window
            if now >= start + seconds:
                start, count = now, 0
            count += 1
            self._window = (start, count)
        return start + seconds if count > limit else None

    def _over_endpoint_limit(self, path: str) -> float | None:
        """Sliding windows per endpoint: the reset time if this call is one too many."""
        if self.endpoint_limit is None:
            return None
        limit, seconds = self.endpoint_limit
        now = self.wall()
        with self._window_lock:
            calls = self.calls.setdefault(path, [])
            recent = [t for t in calls if t > now - seconds]
            if len(recent) >= limit:
                self.refused += 1
                return recent[0] + seconds
            calls.append(now)
        return None

    def per_window(self, path: str) -> int:
        """The most accepted calls of `path` inside any one window."""
        if self.endpoint_limit is None:
            return 0
        seconds = self.endpoint_limit[1]
        calls = sorted(self.calls.get(path, []))
        return max(
            (sum(1 for t in calls if start <= t < start + seconds) for start in calls), default=0
        )

    def _too_many(self, reset_at: float) -> Reply:
        return Reply(
            429,
            "You exceeded the rate limit",
            {"X-Ratelimit-Reset": str(int(reset_at + 0.999))},
            content_type="text/html; charset=UTF-8",
        )

    def rate_limit_reply(self, request: Request, retry_after: float) -> Reply:
        return self._too_many(self.wall() + retry_after)

    def server_error_reply(self, request: Request, status: int) -> Reply:
        case = hashlib.sha1(f"{request.path}{len(self.requests)}".encode()).hexdigest()[:16]
        return Reply(status, {"code": status, "message": f"An error has occurred. case id: {case}"})

    def envelope_reply(self, request: Request, **options: Any) -> Reply:
        token = hashlib.md5(request.path.encode()).hexdigest()[:13]
        return Reply(200, {"code": 409, "message": f"Something went wrong {token}"})


if __name__ == "__main__":
    BigBuyServer.main("products", 1000)
