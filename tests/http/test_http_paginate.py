"""Every pagination kind against a live fake, each stop condition, the cap and the guards."""

from __future__ import annotations

import pytest

from runner.connector import Account, Connector
from runner.http.paginate import PaginationError
from tests.fakes.fixtures import fake_account
from tests.http.http_support import generic_spec


def _walk(server, operation: dict) -> tuple[list[list[int]], Connector]:
    spec = generic_spec(server.base_url, op=operation)
    with Connector(spec, Account("a", {}, {})) as connector:
        pages = [
            [r["id"] if isinstance(r, dict) else r for r in p.records] for p in connector.list("op")
        ]
    return pages, connector


def _sizes(pages: list[list]) -> list[int]:
    return [len(p) for p in pages]


PAGE_NUMBER = {"type": "page_number", "page_param": "page", "size_param": "size", "size": 5}


def test_page_number_stops_on_a_short_page(generic_server):
    server = generic_server(items=23)
    pages, connector = _walk(
        server, {"path": "/pages", "records": "results", "paginate": PAGE_NUMBER}
    )
    assert _sizes(pages) == [5, 5, 5, 5, 3]
    assert [p for page in pages for p in page] == list(range(1, 24))
    assert [r.query["page"] for r in server.requests] == ["1", "2", "3", "4", "5"]
    assert connector.requests == 5


def test_page_number_stops_on_an_empty_page(generic_server):
    server = generic_server(items=20)
    pages, _ = _walk(server, {"path": "/pages", "records": "results", "paginate": PAGE_NUMBER})
    assert _sizes(pages) == [5, 5, 5, 5, 0]  # the exact multiple needs one empty page


def test_page_number_without_short_page_rule_reads_until_empty(generic_server):
    server = generic_server(items=12)
    paginate = {**PAGE_NUMBER, "size": 5, "stop_on_short_page": False}
    pages, _ = _walk(server, {"path": "/pages", "records": "results", "paginate": paginate})
    assert _sizes(pages) == [5, 5, 2, 0]


def test_page_number_stops_on_a_declared_total_header(generic_server):
    server = generic_server(items=20)
    paginate = {**PAGE_NUMBER, "total_pages_header": "X-Total-Pages"}
    pages, _ = _walk(server, {"path": "/pages", "records": "results", "paginate": paginate})
    assert _sizes(pages) == [5, 5, 5, 5]  # no empty page fetched


def test_page_number_stops_on_a_declared_total_in_the_body(generic_server):
    server = generic_server(items=20)
    paginate = {**PAGE_NUMBER, "total_path": "total_count"}
    pages, _ = _walk(server, {"path": "/pages", "records": "results", "paginate": paginate})
    assert _sizes(pages) == [5, 5, 5, 5]


def test_page_number_from_zero_against_bigbuy(bigbuy_server, bundled):
    server = bigbuy_server(products=25000)
    with Connector(bundled.connector("bigbuy"), fake_account(server, rate_limit=False)) as c:
        pages = list(c.list("stock"))
    assert _sizes([p.records for p in pages]) == [10000, 10000, 5000]
    assert [r.query["page"] for r in server.requests] == ["0", "1", "2"]
    assert all(r.query["pageSize"] == "10000" for r in server.requests)


def test_bigbuy_empty_body_past_the_end_means_no_data(bigbuy_server, bundled):
    server = bigbuy_server(products=20000, empty_past_end=True)
    with Connector(bundled.connector("bigbuy"), fake_account(server, rate_limit=False)) as c:
        pages = list(c.list("products"))
    assert _sizes([p.records for p in pages]) == [10000, 10000, 0]


def test_woocommerce_total_pages_header(woocommerce_server, bundled):
    server = woocommerce_server(orders=200)
    with Connector(bundled.connector("woocommerce"), fake_account(server)) as c:
        pages = list(c.list("orders"))
    assert _sizes([p.records for p in pages]) == [100, 100]
    assert len(server.requests) == 2  # X-WP-TotalPages: 2, so no third request


def test_offset(generic_server):
    server = generic_server(items=12)
    paginate = {"type": "offset", "offset_param": "offset", "limit_param": "limit", "size": 5}
    pages, _ = _walk(server, {"path": "/offset", "records": "items", "paginate": paginate})
    assert _sizes(pages) == [5, 5, 2]
    assert [r.query["offset"] for r in server.requests] == ["0", "5", "10"]


def test_offset_stops_on_total(generic_server):
    server = generic_server(items=10)
    paginate = {
        "type": "offset",
        "offset_param": "offset",
        "limit_param": "limit",
        "size": 5,
        "total_path": "total",
    }
    pages, _ = _walk(server, {"path": "/offset", "records": "items", "paginate": paginate})
    assert _sizes(pages) == [5, 5]


def test_cursor_from_the_body(generic_server):
    server = generic_server(items=12)
    paginate = {"type": "cursor", "cursor_param": "cursor", "cursor_path": "meta.next_cursor"}
    op = {"path": "/cursor", "params": {"size": 5}, "records": "data", "paginate": paginate}
    pages, _ = _walk(server, op)
    assert _sizes(pages) == [5, 5, 2]
    assert [r.query.get("cursor") for r in server.requests] == [None, "c5", "c10"]
    assert all(r.query["size"] == "5" for r in server.requests)  # op params on every page


def test_cursor_against_the_aliexpress_feed(aliexpress_server, bundled):
    server = aliexpress_server(products=450)
    with Connector(bundled.connector("aliexpress"), fake_account(server)) as c:
        pages = list(c.list("feed_items"))
    # 200 + 200 + 50, then the feed's last page: "total": 0, "products": {}
    assert _sizes([p.records for p in pages]) == [200, 200, 50, 0]
    assert len({i for p in pages for i in p.records}) == 450


def test_next_url_in_the_body(generic_server):
    server = generic_server(items=11)
    op = {
        "path": "/next",
        "params": {"size": 4},
        "records": "data",
        "paginate": {"type": "next_url", "next_path": "links.next"},
    }
    pages, _ = _walk(server, op)
    assert _sizes(pages) == [4, 4, 3]
    assert [r.query.get("after") for r in server.requests] == [None, "4", "8"]


def test_link_header(generic_server):
    server = generic_server(items=7)
    op = {"path": "/link", "params": {"size": 3}, "paginate": {"type": "link_header"}}
    pages, _ = _walk(server, op)
    assert _sizes(pages) == [3, 3, 1]


def test_link_header_is_followed_unchanged_on_shopify(shopify_server, bundled):
    server = shopify_server(orders=600)
    with Connector(bundled.connector("shopify"), fake_account(server)) as c:
        pages = list(c.list("orders"))
    assert _sizes([p.records for p in pages]) == [250, 250, 100]
    first, *rest = server.requests
    assert first.query["status"] == "any" and "page_info" not in first.query
    for request in rest:  # the fake answers 400 if any filter came with page_info
        assert set(request.query) == {"limit", "fields", "page_info"}
    assert len({o["id"] for p in pages for o in p.records}) == 600


def test_none_is_one_request(generic_server):
    server = generic_server(items=9)
    pages, _ = _walk(server, {"path": "/all", "records": "data"})
    assert _sizes(pages) == [9]
    assert len(server.requests) == 1


def test_max_pages_is_a_hard_cap(generic_server):
    server = generic_server(items=23)
    paginate = {**PAGE_NUMBER, "max_pages": 2}
    with pytest.raises(PaginationError, match="more than max_pages=2 pages"):
        _walk(server, {"path": "/pages", "records": "results", "paginate": paginate})
    assert len(server.requests) == 2


def test_repeated_page_content_stops_with_an_error(generic_server):
    """A server that ignores the page number (or a wrong first page) returns page 1 again."""
    server = generic_server(items=23)
    op = {"path": "/broken/ignores-page", "records": "results", "paginate": PAGE_NUMBER}
    with pytest.raises(PaginationError, match="repeats the records of page 1"):
        _walk(server, op)
    assert len(server.requests) == 2


def test_repeated_cursor_stops_with_an_error(generic_server):
    server = generic_server()
    paginate = {"type": "cursor", "cursor_param": "cursor", "cursor_path": "meta.next_cursor"}
    op = {"path": "/broken/stuck-cursor", "records": "data", "paginate": paginate}
    with pytest.raises(PaginationError, match="page request repeats"):
        _walk(server, op)
    assert len(server.requests) == 2


def test_link_loop_stops_with_an_error(generic_server):
    server = generic_server()
    op = {"path": "/broken/link-loop", "paginate": {"type": "link_header"}}
    with pytest.raises(PaginationError, match="page request repeats"):
        _walk(server, op)
    assert len(server.requests) == 2


def test_a_next_link_to_another_origin_is_refused(generic_server):
    server = generic_server()
    op = {"path": "/broken/foreign-link", "paginate": {"type": "link_header"}}
    with pytest.raises(PaginationError, match="another origin"):
        _walk(server, op)
    assert len(server.requests) == 1


def test_list_streams_page_by_page(generic_server):
    server = generic_server(items=23)
    spec = generic_spec(
        server.base_url, op={"path": "/pages", "records": "results", "paginate": PAGE_NUMBER}
    )
    with Connector(spec, Account("a", {}, {})) as connector:
        pages = connector.list("op")
        first = next(pages)
        assert len(first.records) == 5
        assert len(server.requests) == 1  # nothing fetched ahead
        pages.close()
    assert len(server.requests) == 1
