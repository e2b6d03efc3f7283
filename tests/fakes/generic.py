"""A generic fake API for the auth and pagination kinds no bundled supplier uses as-is.

Items are `{"id": n, "name": "Item n"}` for n = 1..items. Endpoints (all GET unless noted):

- `/pages?page=&size=` (page_number from 1): `{"results": [...], "total_count": N}` and
  an `X-Total-Pages` header
- `/offset?offset=&limit=`: `{"items": [...], "total": N}`
- `/cursor?cursor=&size=`: `{"data": [...], "meta": {"next_cursor": "..." or null}}`
- `/next?after=&size=`: `{"data": [...], "links": {"next": "/next?..." (relative) or null}}`
- `/link?page=&size=`: a bare array and `Link: <...>; rel="next"`
- `/all` (no pagination): `{"data": [...every item]}`
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

import base64
import itertools
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
