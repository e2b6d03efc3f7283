"""A fake envelope API whose answers go wrong in one named way each (the listing contract).

`GET /<case>/products?page=N&size=2` answers `{"code": 200, "data": {"items": [...],
"total": T}}` with products `{"id": "P-n", "name": ...}`, except where `case` says:

- `healthy`: 5 products, every answer right
- `missing_path`: `data.list` instead of `data.items`
- `data_null`: `{"code": 200, "data": null}`
- `not_a_list`: `data.items` is a string
- `short_total`: announces 9 products but serves 5 (the last page is short)
- `envelope`: `{"code": 1600001, "result": false, "message": "Invalid API key", "data": null}`
- `html`: an HTML login page with status 200
- `empty`: status 200 and an empty body
- `repeats`: page 2 serves page 1 again
- `lost_page`: page 2 lacks `data.items` (a truncated walk after a good page)
"""

from __future__ import annotations

from tests.fakes.base import FakeServer, Reply, Request

CASES = (
    "healthy",
    "missing_path",
    "data_null",
    "not_a_list",
    "short_total",
    "envelope",
    "html",
    "empty",
    "repeats",
    "lost_page",
)
PRODUCTS = 5


def _product(n: int) -> dict:
    return {"id": f"P-{n}", "name": f"Product {n}"}


class MalformedServer(FakeServer):
    name = "malformed"

    def handle(self, request: Request) -> Reply:
        case = request.path.strip("/").split("/")[0]
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("size", "2"))
        first = (page - 1) * size
        if case == "repeats" and page == 2:
            first = 0
        items = [_product(n) for n in range(first + 1, min(first + size, PRODUCTS) + 1)]
        total = 9 if case == "short_total" else PRODUCTS
        data: object = {"items": items, "total": total}
        if case == "missing_path" or (case == "lost_page" and page == 2):
            data = {"list": items, "total": total}
        elif case == "data_null":
            data = None
        elif case == "not_a_list":
            data = {"items": "no products today", "total": total}
        elif case == "envelope":
            body = {"code": 1600001, "result": False, "message": "Invalid API key", "data": None}
            return Reply(200, body)
        elif case == "html":
            page_text = "<html><head><title>Login</title></head><body>Sign in</body></html>"
            return Reply(200, page_text, content_type="text/html")
        elif case == "empty":
            return Reply(200, b"")
        return Reply(200, {"code": 200, "result": True, "message": "Success", "data": data})
