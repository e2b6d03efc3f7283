"""A WooCommerce-REST-v3-like fake (orders only), faithful to reference/supplier-apis.md §4.

- Auth: HTTP Basic (consumer key : consumer secret) or, as WooCommerce allows, the pair in the
  query (`consumer_key`, `consumer_secret`). With `drops_authorization=True` the server behaves
  like hosts that strip the `Authorization` header, so only the query form works. Errors:
  none sent -> 401 `woocommerce_rest_cannot_view`; a wrong key or secret -> 401
  `woocommerce_rest_authentication_error` ("Consumer key is invalid." / "Consumer secret is
  invalid.").
- `GET /wp-json/wc/v3/orders`: bare array, newest first; `page` (1-based), `per_page`
  (default 10; outside 1..100 -> 400 `rest_invalid_param` with the exact WordPress body),
  `status` (comma list, default any), `include` (comma ids), `modified_after` (modified
  strictly after), `dates_are_gmt`. `set_order` adds or replaces an order.
  Headers `X-WP-Total`, `X-WP-TotalPages` and `Link` (next, prev, first, last); a page
  past the end is `[]` with the same totals.
- `pretty_permalinks=False`: WordPress with plain permalinks has no `/wp-json/` route; every
  such URL answers the theme's HTML 404 page (the API lives at `/?rest_route=/wc/v3/...`).
- `GET /wp-json/wc/v3/orders/{id}` or 404 `woocommerce_rest_shop_order_invalid_id`.
- Products (pushes): `add_products` stocks the store; `GET /wp-json/wc/v3/products` pages
  them like orders (oldest id first; `_fields` keeps only the named fields, `sku` and
  `include` (comma ids) filter);
  `POST /wp-json/wc/v3/products/batch` takes `update: [{id, ...}]`, at most 100 items (more:
  413 `rest_request_entity_too_large`, as WordPress answers),
  answers `{"update": [...]}` with one entry per item, in order: the updated product, or
  `{"id": <id>, "error": {code, message, data: {status}}}` for an id the store does not have
  (`woocommerce_rest_product_invalid_id`, id 0 as WooCommerce answers) or a value it refuses
  (`rest_invalid_param`: a stock_quantity that is not an integer, a regular_price that is not a
  decimal string, or any product in `refuses`). `batches` counts the batch requests,
  `updates` lists every item applied, in arrival order.
- Variable products (`type: variable`, `variations`: their ids):
  `GET /wp-json/wc/v3/products/{id}/variations` pages a product's variations like products;
  `POST /wp-json/wc/v3/products/{id}/variations/batch` takes `update: [{id, ...}]` (at most
  100) and answers like the products batch, an id that is not one of the product's
  variations failing with `woocommerce_rest_product_variation_invalid_id`.
  `variation_batches` and `variation_reads` count those requests.

Standalone: `python -m tests.fakes.woocommerce --port 8753 --orders 300`.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakes import catalog
from tests.fakes.base import FakeServer, Reply, Request

ROOT = "/wp-json/wc/v3"
BATCH_LIMIT = 100
_PRICE = re.compile(r"^\d+(\.\d{1,2})?$")
_ONE = re.compile(rf"^{ROOT}/orders/(\d+)$")
_VARIATIONS = re.compile(rf"^{ROOT}/products/(\d+)/variations(/batch)?$")
PER_PAGE_ERROR = {
    "code": "rest_invalid_param",
    "message": "Invalid parameter(s): per_page",
    "data": {
        "status": 400,
        "params": {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
    },
}


NOT_FOUND_PAGE = (
    '<!DOCTYPE html><html lang="es"><head><title>Página no encontrada</title></head>'
    '<body class="error404"><h1>Vaya, no se ha podido encontrar esa página.</h1></body></html>'
)


def _naive(text: str) -> datetime:
    """A WordPress date as a naive datetime (an offset, if any, is converted to UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _updates(request: Request) -> list[dict] | Reply:
    """A batch request's `update` items, or the error WordPress answers: 400 for a body that
    is not JSON, 413 for more than 100 items."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
    items = body.get("update") or []
    if len(items) > BATCH_LIMIT:
        return _error(
            413,
            "rest_request_entity_too_large",
            f"Unable to accept more than {BATCH_LIMIT} items for this request.",
        )
    return items


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status}})


class WooCommerceServer(FakeServer):
    name = "woocommerce"

    def __init__(
        self,
        *,
        orders: int = 30,
        seed: int = 0,
        consumer_key: str = "ck_test_key",
        consumer_secret: str = "cs_test_secret",
        drops_authorization: bool = False,
        pretty_permalinks: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.orders = orders
        self.seed = seed
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.drops_authorization = drops_authorization
        self.pretty_permalinks = pretty_permalinks
        self.changed: dict[int, dict] = {}  # orders added or edited since the start
        self.products: dict[int, dict] = {}  # the store's products by id (pushes)
        self.refuses: set[int] = set()  # product ids whose updates fail validation
        self.batches = 0  # product batch requests served
        self.updates: list[dict] = []  # every item a batch applied, in arrival order
        self.product_reads = 0  # GET products requests served
        self.variations: dict[int, dict[int, dict]] = {}  # variable product -> variations
        self.variation_batches = 0  # variation batch requests served
        self.variation_reads = 0  # GET variations requests served
        # Called with the batch number (1, 2, ...) as a batch arrives (`before_batch`; a
        # Reply it returns is the answer, nothing applied) and once it is applied, before
        # the answer leaves (`after_batch`): tests block there.
        self.before_batch: Any = None
        self.after_batch: Any = None

    @property
    def base_url(self) -> str:
        """The shop URL (`integration.shop_url`); the spec appends /wp-json/wc/v3."""
        return super().base_url

    def _all(self) -> list[dict]:
        generated = {
            o["id"]: o
            for o in (catalog.woocommerce_order(self.seed, i) for i in range(self.orders))
        }
        return list({**generated, **self.changed}.values())

    def set_order(self, order: dict) -> None:
        """Add or replace an order (the shop changed it; set its `date_modified_gmt`)."""
        self.changed[order["id"]] = order

    def add_products(self, products: list[dict]) -> None:
        """Stock the store: `{id, sku, stock_quantity, regular_price}` each (`type`
        `simple`), or a variable product `{id, sku, type: variable, variations: [{id, sku,
        stock_quantity, regular_price}]}` whose `variations` become a list of ids, as the
        API shows them, the variations themselves served under the product."""
        for product in products:
            product = {"manage_stock": True, "type": "simple", **product}
            if product["type"] == "variable":
                variations = product.pop("variations", [])
                self.variations[int(product["id"])] = {
                    int(v["id"]): {"manage_stock": True, **v} for v in variations
                }
                product["variations"] = [int(v["id"]) for v in variations]
            self.products[int(product["id"])] = product

    def _credentials(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic ") and not self.drops_authorization:
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            return user, password
        if "consumer_key" in request.query:
            return request.query["consumer_key"], request.query.get("consumer_secret", "")
        return None

    # -- API -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if not self.pretty_permalinks and request.path.startswith("/wp-json/"):
            return Reply(404, NOT_FOUND_PAGE, content_type="text/html; charset=UTF-8")
        pair = self._credentials(request)
        if pair is None:
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if pair[0] != self.consumer_key:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if pair[1] != self.consumer_secret:
            return _error(
                401, "woocommerce_rest_authentication_error", "Consumer secret is invalid."
            )
        variations = _VARIATIONS.match(request.path)
        if variations and request.method == "GET":
            return self._variations(int(variations.group(1)), request)
        if variations and variations.group(2) and request.method == "POST":
            return self._variation_batch(int(variations.group(1)), request)
        if request.path == f"{ROOT}/products/batch" and request.method == "POST":
            return self._batch(request)
        if request.path == f"{ROOT}/products" and request.method == "GET":
            return self._products(request)
        match = _ONE.match(request.path)
        if match:
            wanted = int(match.group(1))
            for order in self._all():
                if order["id"] == wanted:
                    return Reply(200, order)
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        if request.path != f"{ROOT}/orders":
            return _error(
                404, "rest_no_route", "No route was found matching the URL and request method."
            )
        return self._list(request)

    def _list(self, request: Request) -> Reply:
        query = request.query
        try:
            per_page = int(query.get("per_page", "10"))
            page = int(query.get("page", "1"))
        except ValueError:
            return Reply(400, PER_PAGE_ERROR)
        if not 1 <= per_page <= 100:
            return Reply(400, PER_PAGE_ERROR)
        orders = self._all()
        statuses = query.get("status", "any")
        if statuses != "any":
            wanted = set(statuses.split(","))
            orders = [o for o in orders if o["status"] in wanted]
        if query.get("include"):
            ids = {int(i) for i in query["include"].split(",") if i.strip().isdigit()}
            orders = [o for o in orders if o["id"] in ids]
        if query.get("modified_after"):
            key = "date_modified_gmt" if query.get("dates_are_gmt") == "true" else "date_modified"
            try:
                after = _naive(query["modified_after"])
            except ValueError:
                return _error(400, "rest_invalid_param", "Invalid parameter(s): modified_after")
            orders = [o for o in orders if _naive(o[key]) > after]
        orders.sort(key=lambda o: o["id"], reverse=True)
        total = len(orders)
        pages = (total + per_page - 1) // per_page
        chosen = orders[(page - 1) * per_page : page * per_page] if page >= 1 else []
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        visible = dict(query)  # like WordPress, links repeat every query param, keys included

        def link(number: int, rel: str) -> None:
            url = f"{self.base_url}{ROOT}/orders?" + urlencode({**visible, "page": number})
            links.append(f'<{url}>; rel="{rel}"')

        if page > 1:
            link(page - 1, "prev")
        if page < pages:
            link(page + 1, "next")
        if pages:
            link(1, "first")
            link(pages, "last")
        if links:
            headers["Link"] = ", ".join(links)
        return Reply(200, chosen, headers)

    def _products(self, request: Request) -> Reply:
        query = request.query
        per_page, page = int(query.get("per_page", "10")), int(query.get("page", "1"))
        if not 1 <= per_page <= 100:
            return Reply(400, PER_PAGE_ERROR)
        products = sorted(self.products.values(), key=lambda p: p["id"])
        if query.get("sku"):
            products = [p for p in products if p.get("sku") == query["sku"]]
        if query.get("include"):
            wanted = {int(i) for i in query["include"].split(",") if i.strip().isdigit()}
            products = [p for p in products if p["id"] in wanted]
        self.product_reads += 1
        total = len(products)
        pages = (total + per_page - 1) // per_page
        chosen = products[(page - 1) * per_page : page * per_page]
        if query.get("_fields"):
            keep = query["_fields"].split(",")
            chosen = [{k: p[k] for k in keep if k in p} for p in chosen]
        return Reply(200, chosen, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})

    def _variations(self, product_id: int, request: Request) -> Reply:
        """`GET /products/{id}/variations`: paged like products (`per_page` 1..100,
        default 10), `include` and `_fields` honoured; an unknown product answers 404."""
        self.variation_reads += 1
        if product_id not in self.products:
            return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        query = request.query
        per_page, page = int(query.get("per_page", "10")), int(query.get("page", "1"))
        if not 1 <= per_page <= 100:
            return Reply(400, PER_PAGE_ERROR)
        rows = [v for _, v in sorted(self.variations.get(product_id, {}).items())]
        if query.get("include"):
            wanted = {int(i) for i in query["include"].split(",") if i.strip().isdigit()}
            rows = [v for v in rows if v["id"] in wanted]
        total = len(rows)
        chosen = rows[(page - 1) * per_page : page * per_page]
        if query.get("_fields"):
            keep = query["_fields"].split(",")
            chosen = [{k: v[k] for k in keep if k in v} for v in chosen]
        pages = (total + per_page - 1) // per_page
        return Reply(200, chosen, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})

    def _variation_batch(self, product_id: int, request: Request) -> Reply:
        """`POST /products/{id}/variations/batch` `{update: [{id, ...}]}`: at most 100; an
        id that is not a variation of this product is that item's
        `woocommerce_rest_product_variation_invalid_id` error."""
        items = _updates(request)
        if isinstance(items, Reply):
            return items
        self.variation_batches += 1
        mine = self.variations.get(product_id, {})
        answers = []
        for item in items:
            variation = mine.get(int(item.get("id") or 0))
            bad = "id" if variation is None else self._invalid(item, 0)
            if bad:
                code = (
                    "woocommerce_rest_product_variation_invalid_id"
                    if bad == "id"
                    else "rest_invalid_param"
                )
                message = "Invalid ID." if bad == "id" else f"Invalid parameter(s): {bad}"
                answers.append(
                    {"id": 0, "error": {"code": code, "message": message, "data": {"status": 400}}}
                )
                continue
            variation.update({k: v for k, v in item.items() if k != "id"})
            self.updates.append({"product_id": product_id, **item})
            answers.append(dict(variation))
        return Reply(200, {"update": answers})

    def _batch(self, request: Request) -> Reply:
        items = _updates(request)
        if isinstance(items, Reply):
            return items
        self.batches += 1
        number = self.batches
        if self.before_batch is not None:
            reply = self.before_batch(number)
            if reply is not None:  # the request ends there, nothing applied
                return reply
        answers = []
        for item in items:
            product = self.products.get(int(item.get("id") or 0))
            if product is None:
                answers.append(
                    {
                        "id": 0,
                        "error": {
                            "code": "woocommerce_rest_product_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 400},
                        },
                    }
                )
                continue
            bad = self._invalid(item, product["id"])
            if bad:
                answers.append(
                    {
                        "id": product["id"],
                        "error": {
                            "code": "rest_invalid_param",
                            "message": f"Invalid parameter(s): {bad}",
                            "data": {"status": 400, "params": {bad: f"{bad} is not valid."}},
                        },
                    }
                )
                continue
            product.update({k: v for k, v in item.items() if k != "id"})
            self.updates.append(dict(item))
            answers.append(dict(product))
        if self.after_batch is not None:
            self.after_batch(number)
        return Reply(200, {"update": answers})

    def _invalid(self, item: dict, product_id: int) -> str | None:
        """The first parameter of `item` WooCommerce would refuse, if any."""
        if "stock_quantity" in item and type(item["stock_quantity"]) is not int:
            return "stock_quantity"
        if "regular_price" in item and not (
            isinstance(item["regular_price"], str) and _PRICE.match(item["regular_price"])
        ):
            return "regular_price"
        if product_id in self.refuses:
            return "stock_quantity" if "stock_quantity" in item else "regular_price"
        return None

    def server_error_reply(self, request: Request, status: int) -> Reply:
        return _error(
            status, "internal_server_error", "There has been a critical error on this website."
        )

    def envelope_reply(self, request: Request, **options: Any) -> Reply:
        return Reply(200, {"code": "rest_error", "message": "error inside a 200", "data": None})


if __name__ == "__main__":
    WooCommerceServer.main("orders", 300)
