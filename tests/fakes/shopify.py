"""A Shopify-Admin-REST-like fake (orders only), faithful to reference/supplier-apis.md §3.

- `X-Shopify-Access-Token` required: otherwise 401
  `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`.
- `GET /admin/api/2024-10/orders.json` -> `{"orders": [...]}`, newest id first; filters
  `status` (open | closed | cancelled | any; default open), `ids`, `since_id`,
  `updated_at_min` (updated at or after, any ISO 8601 offset), `fields`, `limit` (default
  50, max 250). `set_order` adds or replaces an order, as a shop changing it would.
- Cursor pagination in the `Link` header (`rel="next"`, `rel="previous"`) with an opaque
  `page_info`; on a `page_info` request only `limit` and `fields` may be sent, anything else
  answers 400 `{"errors":"<param> cannot be passed when page_info is present"}`.
- `GET /admin/api/2024-10/orders/{id}.json` -> `{"order": {...}}` or 404 `{"errors":"Not Found"}`.
- Products and stock (pushes): `add_products` stocks the shop (variants with `sku`,
  `inventory_item_id`, `price`). `GET /admin/api/2024-10/products.json` pages them oldest id
  first (`limit`, `fields`, `page_info` in the `Link` header, as orders);
  `POST .../inventory_levels/set.json` `{location_id, inventory_item_id, available}` ->
  `{"inventory_level": {...}}`, 404 `{"errors":"Not Found"}` for an unknown item or location,
  422 `{"errors":["Inventory item does not have inventory tracking enabled"]}` for an
  item in `untracked`; `PUT .../variants/{id}.json` `{"variant": {id, price}}` ->
  `{"variant": {...}}`, 404 for an unknown variant, 422 `{"errors":{"price":["must be a
  number"]}}`. `writes` counts the write requests served, `updates` lists each one applied.
- `GET .../inventory_levels.json?inventory_item_ids=` (at most 50) `&location_ids=` ->
  `{"inventory_levels": [{inventory_item_id, location_id, available}]}`; `products.json`
  takes `ids` (comma ids).
- `GET .../locations.json` -> `{"locations": [{id, name, active, legacy, ...}]}`, every
  location, active or not (`locations`: by default the one active `LOCATION`); a stock
  level set at a location that is not active answers 404 as an unknown one.
- Every answer carries `X-Shopify-Shop-Api-Call-Limit: used/40`; `bucket=True` enables the
  leaky bucket (40, leaking 2/s) and its 429 (`Retry-After: 2.0`, JSON `errors`), which is
  also the `rate_limit` fault's shape.

Standalone: `python -m tests.fakes.shopify --port 8752 --orders 600`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakes import catalog
from tests.fakes.base import FakeServer, Reply, Request

VERSION = "2024-10"
_ONE = re.compile(rf"^/admin/api/{VERSION}/orders/(\d+)\.json$")
_VARIANT = re.compile(rf"^/admin/api/{VERSION}/variants/(\d+)\.json$")
LOCATION = 655441491  # the shop's one stock location
_PRICE = re.compile(r"^\d+(\.\d{1,2})?$")
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted "
    "service."
)


def location(location_id: int, name: str, *, active: bool = True) -> dict[str, Any]:
    """A Location as the REST Admin API returns it (the fields a client reads)."""
    return {
        "id": location_id,
        "name": name,
        "active": active,
        "legacy": False,
        "country_code": "US",
        "admin_graphql_api_id": f"gid://shopify/Location/{location_id}",
    }


def _when(text: str) -> datetime:
    """An ISO 8601 time with its offset (a naive one is taken as UTC) as an aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _encode(state: dict) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


class ShopifyServer(FakeServer):
    name = "shopify"

    def __init__(
        self,
        *,
        orders: int = 30,
        seed: int = 0,
        access_token: str = "shpat_test_token",
        bucket: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.orders = orders
        self.seed = seed
        self.access_token = access_token
        self.bucket = bucket
        self.changed: dict[int, dict] = {}  # orders added or edited since the start
        self.products: dict[int, dict] = {}  # pushes: products with their variants
        self.levels: dict[int, int] = {}  # available stock per inventory item (LOCATION)
        self.untracked: set[int] = set()  # inventory items without tracking: 422 on set
        self.locations: list[dict] = [location(LOCATION, "Main warehouse")]
        self.location_reads = 0  # GET locations.json served
        self.writes = 0  # write requests served
        self.updates: list[dict] = []  # every write applied, in arrival order
        self._level = 0.0
        self._leak_at = time.monotonic()
        self._bucket_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The shop URL (`integration.shop_url`); the spec appends /admin/api/2024-10."""
        return super().base_url

    def _all(self) -> list[dict]:
        generated = {
            o["id"]: o for o in (catalog.shopify_order(self.seed, i) for i in range(self.orders))
        }
        return list({**generated, **self.changed}.values())

    def set_order(self, order: dict) -> None:
        """Add or replace an order (the shop changed it): set its `updated_at` to when, as
        Shopify does on every change, so that `updated_at_min` finds it."""
        self.changed[order["id"]] = order

    def add_products(self, products: list[dict]) -> None:
        """Stock the shop: `{id, variants: [{id, sku, inventory_item_id, price}]}` each."""
        for product in products:
            variants = [{**v, "product_id": product["id"]} for v in product["variants"]]
            self.products[product["id"]] = {**product, "variants": variants}
            for variant in variants:
                self.levels.setdefault(variant["inventory_item_id"], 0)

    def _variant(self, variant_id: int) -> dict | None:
        for product in self.products.values():
            for variant in product["variants"]:
                if variant["id"] == variant_id:
                    return variant
        return None

    # -- API -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return Reply(
                401,
                {
                    "errors": "[API] Invalid API key or access token (unrecognized "
                    "login or wrong password)"
                },
            )
        used = self._drip()
        if used is None:
            return self.rate_limit_reply(request, 2.0)
        headers = {"X-Shopify-Shop-Api-Call-Limit": f"{used}/40"}
        root = f"/admin/api/{VERSION}"
        if request.path == f"{root}/products.json" and request.method == "GET":
            return self._products(request, headers)
        if request.path == f"{root}/inventory_levels.json" and request.method == "GET":
            return self._levels(request, headers)
        if request.path == f"{root}/locations.json" and request.method == "GET":
            self.location_reads += 1
            return Reply(200, {"locations": self.locations}, headers)
        if request.path == f"{root}/inventory_levels/set.json" and request.method == "POST":
            return self._set_level(json.loads(request.body or b"{}"), headers)
        variant = _VARIANT.match(request.path)
        if variant and request.method == "PUT":
            return self._put_variant(
                int(variant.group(1)), json.loads(request.body or b"{}"), headers
            )
        match = _ONE.match(request.path)
        if match:
            wanted = int(match.group(1))
            for order in self._all():
                if order["id"] == wanted:
                    return Reply(200, {"order": order}, headers)
            return Reply(404, {"errors": "Not Found"}, headers)
        if request.path != f"/admin/api/{VERSION}/orders.json":
            return Reply(404, {"errors": "Not Found"}, headers)
        return self._list(request, headers)

    def _list(self, request: Request, headers: dict[str, str]) -> Reply:
        query = dict(request.query)
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 250:
            return Reply(400, {"errors": {"limit": ["must be between 1 and 250"]}}, headers)
        fields = query.get("fields")
        after: int | None = None
        if "page_info" in query:
            extra = sorted(set(query) - {"page_info", "limit", "fields"})
            if extra:
                return Reply(
                    400,
                    {"errors": f"{extra[0]} cannot be passed when page_info is present"},
                    headers,
                )
            try:
                state = _decode(query["page_info"])
            except ValueError:
                return Reply(400, {"errors": "Invalid page_info"}, headers)
            filters, after = state["filters"], state["last_id"]
        else:
            filters = {k: v for k, v in query.items() if k not in ("limit", "fields")}
            try:
                _when(filters.get("updated_at_min") or "2000-01-01T00:00:00Z")
            except ValueError:
                return Reply(400, {"errors": {"updated_at_min": ["is invalid"]}}, headers)
        orders = [o for o in self._all() if self._matches(o, filters)]
        orders.sort(key=lambda o: o["id"], reverse=True)
        if after is not None:
            orders = [o for o in orders if o["id"] < after]
        return self._page("orders", orders, limit, fields, filters, headers)

    def _page(
        self,
        name: str,
        items: list[dict],
        limit: int,
        fields: str | None,
        filters: dict[str, str],
        headers: dict[str, str],
    ) -> Reply:
        """One page of `items` under `name`, with the `Link` header to the next one."""
        page, rest = items[:limit], items[limit:]
        if rest:
            keep = {"limit": str(limit), **({"fields": fields} if fields else {})}
            token = _encode({"last_id": page[-1]["id"], "direction": "next", "filters": filters})
            url = f"{self.base_url}/admin/api/{VERSION}/{name}.json?" + urlencode(
                {**keep, "page_info": token}
            )
            headers = {**headers, "Link": f'<{url}>; rel="next"'}
        if fields:
            wanted = fields.split(",")
            page = [{k: o[k] for k in wanted if k in o} for o in page]
        return Reply(200, {name: page}, headers)

    def _products(self, request: Request, headers: dict[str, str]) -> Reply:
        query = dict(request.query)
        limit = int(query.get("limit", "50"))
        if not 1 <= limit <= 250:
            return Reply(400, {"errors": {"limit": ["must be between 1 and 250"]}}, headers)
        after = _decode(query["page_info"])["last_id"] if "page_info" in query else 0
        products = sorted(
            (p for p in self.products.values() if p["id"] > after), key=lambda p: p["id"]
        )
        if query.get("ids"):
            wanted = {int(i) for i in query["ids"].split(",") if i.strip().isdigit()}
            products = [p for p in products if p["id"] in wanted]
        return self._page("products", products, limit, query.get("fields"), {}, headers)

    def _levels(self, request: Request, headers: dict[str, str]) -> Reply:
        """`inventory_item_ids` (at most 50) and/or `location_ids`, one of them required."""
        query = dict(request.query)
        items = [int(i) for i in query.get("inventory_item_ids", "").split(",") if i.isdigit()]
        places = [int(i) for i in query.get("location_ids", "").split(",") if i.isdigit()]
        if not items and not places:
            return Reply(
                422,
                {"errors": {"base": ["inventory_item_ids or location_ids is required"]}},
                headers,
            )
        if len(items) > 50:
            return Reply(422, {"errors": {"inventory_item_ids": ["is too long"]}}, headers)
        levels = [
            {"inventory_item_id": item, "location_id": LOCATION, "available": available}
            for item, available in sorted(self.levels.items())
            if (not items or item in items) and (not places or LOCATION in places)
        ]
        return Reply(200, {"inventory_levels": levels}, headers)

    def _set_level(self, body: dict, headers: dict[str, str]) -> Reply:
        self.writes += 1
        item, location = body.get("inventory_item_id"), body.get("location_id")
        if type(body.get("available")) is not int:
            return Reply(422, {"errors": {"available": ["must be an integer"]}}, headers)
        active = {entry["id"] for entry in self.locations if entry["active"]}
        if item not in self.levels or location not in active:
            return Reply(404, {"errors": "Not Found"}, headers)
        if item in self.untracked:
            return Reply(
                422,
                {"errors": ["Inventory item does not have inventory tracking enabled"]},
                headers,
            )
        self.levels[item] = body["available"]
        self.updates.append(dict(body))
        level = {"inventory_item_id": item, "location_id": location, "available": body["available"]}
        return Reply(200, {"inventory_level": level}, headers)

    def _put_variant(self, variant_id: int, body: dict, headers: dict[str, str]) -> Reply:
        self.writes += 1
        variant = self._variant(variant_id)
        if variant is None:
            return Reply(404, {"errors": "Not Found"}, headers)
        changes = body.get("variant") or {}
        price = changes.get("price")
        if price is not None and not (isinstance(price, str) and _PRICE.match(price)):
            return Reply(422, {"errors": {"price": ["must be a number"]}}, headers)
        variant.update({k: v for k, v in changes.items() if k != "id"})
        self.updates.append({"id": variant_id, **changes})
        return Reply(200, {"variant": variant}, headers)

    @staticmethod
    def _matches(order: dict, filters: dict[str, str]) -> bool:
        status = filters.get("status", "open")
        if status == "open" and (order["cancelled_at"] or order["closed_at"]):
            return False
        if status == "closed" and not order["closed_at"]:
            return False
        if status == "cancelled" and not order["cancelled_at"]:
            return False
        if "ids" in filters and str(order["id"]) not in filters["ids"].split(","):
            return False
        if "since_id" in filters and order["id"] <= int(filters["since_id"]):
            return False
        if "updated_at_min" in filters:
            return _when(order["updated_at"]) >= _when(filters["updated_at_min"])
        return True

    # -- rate limit ----------------------------------------------------------------------------

    def _drip(self) -> int | None:
        """Bucket level after this call, or None when it overflows (only with `bucket`)."""
        if not self.bucket:
            return 1
        with self._bucket_lock:
            now = time.monotonic()
            self._level = max(0.0, self._level - (now - self._leak_at) * 2.0)
            self._leak_at = now
            if self._level + 1 > 40:
                return None
            self._level += 1
            return int(self._level + 0.999)

    def rate_limit_reply(self, request: Request, retry_after: float) -> Reply:
        return Reply(
            429,
            {"errors": THROTTLED},
            {"Retry-After": f"{float(retry_after):.1f}", "X-Shopify-Shop-Api-Call-Limit": "40/40"},
        )

    def server_error_reply(self, request: Request, status: int) -> Reply:
        return Reply(status, {"errors": "Internal Server Error"})


if __name__ == "__main__":
    ShopifyServer.main("orders", 600)
