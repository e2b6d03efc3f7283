"""A CJdropshipping-like fake (API 2.0): session-token login, envelopes inside 200, totals.

Shapes follow the public docs (developers.cjdropshipping.com, API 2.0):

- `POST /api2.0/v1/authentication/getAccessToken` with JSON `{"apiKey": ...}` ->
  `{"code": 200, "result": true, "message": "Success", "data": {"accessToken",
  "accessTokenExpiryDate", "refreshToken", "refreshTokenExpiryDate", ...}, "requestId"}`.
  One login per `login_cooldown` seconds per account: an earlier one gets code 1600200
  ("Too Many Requests"). A wrong key gets 1600001.
- `POST /api2.0/v1/authentication/refreshAccessToken` with `{"refreshToken": ...}` -> a new
  access token (same answer shape); an unknown refresh token gets 1600003.
- `GET /api2.0/v1/product/list?pageNum=&pageSize=` with header `CJ-Access-Token` ->
  `{"code": 200, ..., "data": {"pageNum", "pageSize", "total", "list": [...]}}`. A missing
  or dead token gets HTTP 200 with `{"code": 1600001, "result": false, "message": "Invalid
  API key or access token", "data": null}`.

Every error is inside an HTTP 200, as CJ does. `revoke_after_pages = k` revokes every live
access token (not the refresh tokens) once, right after the k-th product page served.
`logins`, `refreshes` count the successful ones.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.base import FakeServer, Reply, Request

ROOT = "/api2.0/v1"


def cj_product(n: int) -> dict[str, Any]:
    return {
        "pid": f"2409{n:06d}-CJ",
        "productNameEn": f"CJ Product {n}",
        "productSku": f"CJSKU{n:05d}",
        "sellPrice": f"{3 + n % 40}.{n % 100:02d}",
        "categoryName": ("Home Supplies", "Toys", "Garden")[n % 3],
        "productImage": f"https://cf.cjdropshipping.com/{n}.jpg",
        "productWeight": 100 + n,
    }


class CJServer(FakeServer):
    name = "cj"

    def __init__(
        self,
        *,
        products: int = 45,
        api_key: str = "CJ1234567@api@0123456789abcdef0123456789abcdef",
        login_cooldown: float = 300.0,
        revoke_after_pages: int | None = None,
        seed: int = 0,  # the catalogue is fixed; accepted for the standalone entry point
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.products = products
        self.api_key = api_key
        self.login_cooldown = login_cooldown
        self.revoke_after_pages = revoke_after_pages
        self.access: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.logins = 0
        self.refreshes = 0
        self.pages_served = 0
        self._last_login: float | None = None
        self._serial = itertools.count(1)
        self._state = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ROOT}"

    def catalogue(self) -> list[dict[str, Any]]:
        return [cj_product(n) for n in range(1, self.products + 1)]

    # -- answers -----------------------------------------------------------------------------

    @staticmethod
    def _envelope(code: int, message: str, data: Any = None) -> Reply:
        body = {
            "code": code,
            "result": code == 200,
            "message": message,
            "data": data,
            "requestId": str(uuid.uuid4()),
        }
        return Reply(200, body)

    def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

    def _issue(self, refresh: str | None = None) -> Reply:
        serial = next(self._serial)
        token = f"cj-access-{serial:04d}-{uuid.uuid4().hex[:12]}"
        refresh = refresh or f"cj-refresh-{serial:04d}-{uuid.uuid4().hex[:12]}"
        self.access.add(token)
        self.refresh_tokens.add(refresh)
        now = datetime.now(UTC)
        data = {
            "openId": 123456789,
            "accessToken": token,
            "accessTokenExpiryDate": (now + timedelta(days=15)).isoformat(timespec="seconds"),
            "refreshToken": refresh,
            "refreshTokenExpiryDate": (now + timedelta(days=180)).isoformat(timespec="seconds"),
            "createDate": now.isoformat(timespec="seconds"),
        }
        return self._envelope(200, "Success", data)

    def handle(self, request: Request) -> Reply:
        path = request.path.removeprefix(ROOT)
        with self._state:
            if path == "/authentication/getAccessToken" and request.method == "POST":
                return self._login(request)
            if path == "/authentication/refreshAccessToken" and request.method == "POST":
                refresh = self._json(request).get("refreshToken")
                if refresh not in self.refresh_tokens:
                    return self._envelope(1600003, "Invalid Refresh token")
                self.refreshes += 1
                return self._issue(refresh)
            if path == "/product/list" and request.method == "GET":
                return self._list(request)
        return self._envelope(1600101, "Interface not found")

    def _login(self, request: Request) -> Reply:
        if self._json(request).get("apiKey") != self.api_key:
            return self._envelope(1600001, "Invalid API key or access token")
        now = time.monotonic()
        if self._last_login is not None and now - self._last_login < self.login_cooldown:
            wait = self.login_cooldown - (now - self._last_login)
            return self._envelope(
                1600200, f"Too Many Requests, QPS limit is 1 time/{wait:.0f} seconds"
            )
        self._last_login = now
        self.logins += 1
        return self._issue()

    def _list(self, request: Request) -> Reply:
        if request.headers.get("cj-access-token") not in self.access:
            return self._envelope(1600001, "Invalid API key or access token")
        try:
            page = int(request.query.get("pageNum", "1"))
            size = int(request.query.get("pageSize", "20"))
        except ValueError:
            return self._envelope(1600300, "Illegal parameter")
        if page < 1 or not 1 <= size <= 200:
            return self._envelope(1600300, "Illegal parameter")
        first = (page - 1) * size
        items = [cj_product(n) for n in range(first + 1, min(first + size, self.products) + 1)]
        self.pages_served += 1
        if self.revoke_after_pages is not None and self.pages_served == self.revoke_after_pages:
            self.access.clear()  # revoked, e.g. a login elsewhere; the refresh token lives
        data = {"pageNum": page, "pageSize": size, "total": self.products, "list": items}
        return self._envelope(200, "Success", data)


if __name__ == "__main__":
    CJServer.main("products", 1000)
