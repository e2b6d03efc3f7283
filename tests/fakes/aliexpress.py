"""An AliExpress IOP-like fake (`/sync`), faithful to reference/supplier-apis.md §2.

- GET or POST; parameters in the query string or a form body, merged.
- Checks the system parameters and VERIFIES the HMAC-SHA256 signature with its own
  implementation of the rule (sorted name+value pairs, API name prefixed iff it contains "/",
  uppercase hex). A bad or missing sign answers, with HTTP 200, the gateway's
  `{"error_response": {"type": "ISV", "code": "IncompleteSignature", ...}}`; an unknown token
  `IllegalAccessToken`; a timestamp more than 7200 s off `InvalidTimestamp`.
- Methods: `aliexpress.ds.feed.itemids.get` (cursor feed: `feed_name`, `page_size` <= 200,
  `search_id`; the last page is `"total": 0, "products": {}`) and `aliexpress.ds.product.get`
  (`product_id`, `ship_to_country`; non-simplified payload with list wrappers; an unknown id
  answers `rsp_code` 605 `ITEM_ID_NOT_FOUND` without `result`).
- Faults: `rate_limit` and `envelope` answer an `error_response` in a 200 (`ApiCallLimit`,
  "... this ban will last N seconds"; `envelope(code=..., msg=...)` picks another error).

Standalone: `python -m tests.fakes.aliexpress --port 8751 --products 5000`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from tests.fakes import catalog
from tests.fakes.base import FakeServer, Reply, Request

FEEDS = ("DS bestseller", "AEB_HomeGarden_ES")


def expected_sign(secret: str, params: dict[str, str], api_name: str) -> str:
    """The server side of the signature (written independently of runner.http.auth)."""
    pieces = [api_name] if "/" in api_name else []
    for name in sorted(params):
        if name != "sign":
            pieces.append(name + params[name])
    mac = hmac.new(secret.encode("utf-8"), "".join(pieces).encode("utf-8"), hashlib.sha256)
    return mac.hexdigest().upper()


class AliExpressServer(FakeServer):
    name = "aliexpress"

    def __init__(
        self,
        *,
        products: int = 12,
        seed: int = 0,
        app_key: str = "500123",
        app_secret: str = "aliexpress-test-secret",
        access_token: str = "aliexpress-test-token",
        wall: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.products = products
        self.seed = seed
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_token = access_token
        self.wall = wall
        self.served = 0

    def _request_id(self) -> str:
        self.served += 1
        return f"2101d1a4{self.seed:04d}{self.served:013d}"

    def _error(self, code: str, msg: str, type_: str = "ISV", **extra: str) -> Reply:
        body = {"type": type_, "code": code, "msg": msg, "request_id": self._request_id(), **extra}
        return Reply(200, {"error_response": body})

    # -- API -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.path != "/sync":
            return self._error("InvalidApiPath", "The specified API path is invalid")
        params = request.params
        problem = self._check(params)
        if problem is not None:
            return problem
        method = params.get("method", "")
        if method == "aliexpress.ds.feed.itemids.get":
            return self._feed(params)
        if method == "aliexpress.ds.product.get":
            return self._product(params)
        return self._error("InvalidMethod", "The specified API method is invalid")

    def _check(self, params: dict[str, str]) -> Reply | None:
        if params.get("app_key") != self.app_key:
            return self._error("InvalidAppKey", "The specified app key is invalid")
        if params.get("sign_method") != "sha256":
            return self._error("InvalidSignMethod", "The sign method is invalid")
        try:
            stamp = int(params["timestamp"])
        except (KeyError, ValueError):
            return self._error("MissingTimestamp", "The timestamp is missing or invalid")
        if abs(stamp / 1000 - self.wall()) > 7200:
            return self._error("InvalidTimestamp", "The timestamp is out of range")
        sign = params.get("sign", "")
        if not hmac.compare_digest(
            sign, expected_sign(self.app_secret, params, params.get("method", ""))
        ):
            return self._error(
                "IncompleteSignature",
                "The request signature does not conform to platform standards",
                _trace_id_=f"2101{self.served:027d}",
            )
        token = params.get("session", params.get("access_token"))
        if token != self.access_token:
            return self._error(
                "IllegalAccessToken", "The specified access token is invalid or expired"
            )
        return None

    def _feed(self, params: dict[str, str]) -> Reply:
        feed = params.get("feed_name")
        try:
            size = int(params.get("page_size", "200"))
        except ValueError:
            size = 0
        if not feed or not 1 <= size <= 200:
            return self._error("MissingParameter", "feed_name is required; page_size is 1..200")
        start = 0
        if params.get("search_id"):
            try:
                state = json.loads(base64.urlsafe_b64decode(params["search_id"] + "=="))
                start = int(state["o"])
            except (ValueError, KeyError):
                return self._error("InvalidParameter", "search_id is invalid or expired")
        total = self.products if feed in FEEDS else 0
        ids = [catalog.aliexpress_id(i) for i in range(start, min(start + size, total))]
        if not ids:
            result: dict[str, Any] = {"total": 0, "products": {}}
        else:
            cursor = json.dumps({"o": start + len(ids), "f": feed}, separators=(",", ":"))
            result = {
                "total": total,
                "products": {"number": ids},
                "search_id": base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("="),
            }
        body = {"result": result, "ret": True, "rsp_msg": "", "request_id": self._request_id()}
        return Reply(200, {"aliexpress_ds_feed_itemids_get_response": body})

    def _product(self, params: dict[str, str]) -> Reply:
        if not params.get("product_id") or not params.get("ship_to_country"):
            return self._error("MissingParameter", "product_id and ship_to_country are required")
        try:
            index = catalog.aliexpress_index(int(params["product_id"]), self.products)
        except ValueError:
            index = None
        envelope: dict[str, Any]
        if index is None:
            envelope = {"rsp_code": "605", "rsp_msg": "ITEM_ID_NOT_FOUND"}
        else:
            result = catalog.aliexpress_product(
                self.seed, index, params.get("target_currency", "USD"), params["ship_to_country"]
            )
            envelope = {"result": result, "rsp_code": "200", "rsp_msg": "Call succeeds"}
        envelope["request_id"] = self._request_id()
        return Reply(200, {"aliexpress_ds_product_get_response": envelope})

    # -- faults --------------------------------------------------------------------------------

    def rate_limit_reply(self, request: Request, retry_after: float) -> Reply:
        return self._error(
            "ApiCallLimit",
            f"Api access frequency exceeds the limit. this ban will last {retry_after:g} seconds",
        )

    def envelope_reply(self, request: Request, **options: Any) -> Reply:
        return self._error(
            options.get("code", "15"),
            options.get("msg", "Remote service error"),
            options.get("type", "ISP"),
            sub_code="isv.insufficient-permission",
            sub_msg="Insufficient permission.",
        )


if __name__ == "__main__":
    AliExpressServer.main("products", 1000)
