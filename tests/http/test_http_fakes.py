"""The fake servers answer like the real APIs of reference/supplier-apis.md (shapes, params,
page base, envelopes, error bodies, 429 shapes, headers), and their data is deterministic."""

from __future__ import annotations

import base64
import time

import httpx

from runner.http.auth import iop_sign
from tests.fakes import catalog


def _get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, timeout=5, **kwargs)


# -- BigBuy ------------------------------------------------------------------------------------


def test_bigbuy_lists_share_ids_and_keep_cost_below_retail(bigbuy_server):
    server = bigbuy_server(products=30, seed=1)
    auth = {"Authorization": f"Bearer {server.api_key}"}
    lists = {}
    for name in (
        "products",
        "productsinformation",
        "productsimages",
        "productprices",
        "productsstockbyhandlingdays",
    ):
        response = _get(f"{server.base_url}/catalog/{name}.json?page=0&pageSize=100", headers=auth)
        assert response.status_code == 200
        assert isinstance(response.json(), list)  # bare arrays, no envelope
        lists[name] = response.json()
    ids = [p["id"] for p in lists["products"]]
    assert len(ids) == 30
    for rows in lists.values():
        assert [r["id"] for r in rows] == ids
    for product, price in zip(lists["products"], lists["productprices"], strict=True):
        assert price["sku"] == product["sku"]
        assert 0 < product["wholesalePrice"] < product["retailPrice"]
    assert all(
        img["url"].startswith("https://cdnbigbuy.com/")
        for row in lists["productsimages"]
        for img in row["images"]
    )
    stock = lists["productsstockbyhandlingdays"]
    assert any(len(row["stocks"]) > 1 for row in stock) and any(not row["stocks"] for row in stock)


def test_bigbuy_pages_from_zero_and_requires_page_size(bigbuy_server):
    server = bigbuy_server(products=5)
    auth = {"Authorization": f"Bearer {server.api_key}"}
    first = _get(f"{server.base_url}/catalog/products.json?page=0&pageSize=3", headers=auth)
    second = _get(f"{server.base_url}/catalog/products.json?page=1&pageSize=3", headers=auth)
    assert [len(first.json()), len(second.json())] == [3, 2]
    missing = _get(f"{server.base_url}/catalog/products.json?page=0", headers=auth)
    assert missing.status_code == 400 and missing.json()["code"] == 400
    assert _get(f"{server.base_url}/catalog/products.json?page=0&pageSize=3").status_code == 401


def test_bigbuy_rate_limit_429_is_text_with_an_epoch_reset(bigbuy_server):
    server = bigbuy_server(products=2, rate_limit=(2, 60))
    auth = {"Authorization": f"Bearer {server.api_key}"}
    url = f"{server.base_url}/catalog/products.json?page=0&pageSize=3"
    statuses = [_get(url, headers=auth).status_code for _ in range(2)]
    limited = _get(url, headers=auth)
    assert statuses == [200, 200]
    assert limited.status_code == 429
    assert limited.text == "You exceeded the rate limit"
    assert limited.headers["content-type"].startswith("text/html")
    reset = int(limited.headers["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + 61


def test_bigbuy_soft_error_and_empty_body(bigbuy_server):
    server = bigbuy_server(products=2)
    auth = {"Authorization": f"Bearer {server.api_key}"}
    url = f"{server.base_url}/catalog/products.json?page=0&pageSize=3"
    server.faults.envelope()
    server.faults.empty()
    soft = _get(url, headers=auth)
    assert soft.status_code == 200 and soft.json()["code"] == 409
    assert soft.json()["message"].startswith("Something went wrong ")
    empty = _get(url, headers=auth)
    assert empty.status_code == 200 and empty.content == b""


def test_catalogues_are_deterministic_per_seed():
    assert catalog.bigbuy_product(7, 3) == catalog.bigbuy_product(7, 3)
    assert catalog.bigbuy_product(7, 3) != catalog.bigbuy_product(8, 3)
    assert catalog.aliexpress_product(1, 2) == catalog.aliexpress_product(1, 2)
    assert catalog.shopify_order(1, 2) == catalog.shopify_order(1, 2)
    assert catalog.woocommerce_order(1, 2) != catalog.woocommerce_order(2, 2)


# -- AliExpress --------------------------------------------------------------------------------


def _signed(server, **params) -> dict:
    params = {
        "app_key": server.app_key,
        "sign_method": "sha256",
        "timestamp": str(int(time.time() * 1000)),
        "session": server.access_token,
        "format": "json",
        **params,
    }
    params["sign"] = iop_sign(server.app_secret, params, params.get("method"))
    return params


def test_aliexpress_refuses_a_bad_signature_inside_a_200(aliexpress_server):
    server = aliexpress_server(products=2)
    params = _signed(server, method="aliexpress.ds.feed.itemids.get", feed_name="DS bestseller")
    params["sign"] = params["sign"][:-1] + ("0" if params["sign"][-1] != "0" else "1")
    response = httpx.post(f"{server.base_url}/sync", data=params)
    assert response.status_code == 200
    error = response.json()["error_response"]
    assert error["code"] == "IncompleteSignature" and error["type"] == "ISV"
    assert error["msg"] == "The request signature does not conform to platform standards"


def test_aliexpress_accepts_form_posts_and_walks_its_feed(aliexpress_server):
    server = aliexpress_server(products=3)
    params = _signed(
        server, method="aliexpress.ds.feed.itemids.get", feed_name="DS bestseller", page_size="2"
    )
    first = httpx.post(f"{server.base_url}/sync", data=params).json()
    result = first["aliexpress_ds_feed_itemids_get_response"]["result"]
    assert result["total"] == 3 and len(result["products"]["number"]) == 2
    params = _signed(
        server,
        method="aliexpress.ds.feed.itemids.get",
        feed_name="DS bestseller",
        page_size="2",
        search_id=result["search_id"],
    )
    second = _get(f"{server.base_url}/sync", params=params).json()
    assert (
        len(second["aliexpress_ds_feed_itemids_get_response"]["result"]["products"]["number"]) == 1
    )
    params["search_id"] = second["aliexpress_ds_feed_itemids_get_response"]["result"]["search_id"]
    params = _signed(server, **{k: v for k, v in params.items() if k != "sign"})
    last = _get(f"{server.base_url}/sync", params=params).json()
    assert last["aliexpress_ds_feed_itemids_get_response"]["result"] == {"total": 0, "products": {}}


def test_aliexpress_product_get_envelope(aliexpress_server):
    server = aliexpress_server(products=2)
    product_id = catalog.aliexpress_id(1)
    params = _signed(
        server, method="aliexpress.ds.product.get", product_id=str(product_id), ship_to_country="ES"
    )
    body = _get(f"{server.base_url}/sync", params=params).json()[
        "aliexpress_ds_product_get_response"
    ]
    assert body["rsp_code"] == "200" and body["rsp_msg"] == "Call succeeds"
    result = body["result"]
    assert result["ae_item_base_info_dto"]["product_id"] == product_id
    skus = result["ae_item_sku_info_dtos"]["ae_item_sku_info_d_t_o"]  # non-simplified wrapper
    for sku in skus:
        assert float(sku["offer_sale_price"]) <= float(sku["sku_price"])
    params = _signed(
        server,
        method="aliexpress.ds.product.get",
        product_id="1005000000000001",
        ship_to_country="ES",
    )
    gone = _get(f"{server.base_url}/sync", params=params).json()[
        "aliexpress_ds_product_get_response"
    ]
    assert gone["rsp_code"] == "605" and "result" not in gone


# -- Shopify -----------------------------------------------------------------------------------


def test_shopify_page_info_refuses_other_filters_and_needs_the_token(shopify_server):
    server = shopify_server(orders=5)
    url = f"{server.base_url}/admin/api/2024-10/orders.json"
    token = {"X-Shopify-Access-Token": server.access_token}
    refused = _get(url)
    assert refused.status_code == 401 and refused.json()["errors"].startswith(
        "[API] Invalid API key"
    )
    first = _get(url, params={"limit": 2, "status": "any"}, headers=token)
    assert first.headers["x-shopify-shop-api-call-limit"].endswith("/40")
    next_url = first.links["next"]["url"]
    assert "page_info=" in next_url and "status" not in next_url
    bad = _get(next_url + "&status=any", headers=token)
    assert bad.status_code == 400
    assert bad.json() == {"errors": "status cannot be passed when page_info is present"}
    assert len(_get(next_url, headers=token).json()["orders"]) == 2


def test_shopify_429_shape(shopify_server):
    server = shopify_server(orders=1)
    server.faults.rate_limit(retry_after=2)
    response = _get(
        f"{server.base_url}/admin/api/2024-10/orders.json",
        headers={"X-Shopify-Access-Token": server.access_token},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2.0"
    assert response.json()["errors"].startswith("Exceeded 2 calls per second for api client.")


# -- WooCommerce -------------------------------------------------------------------------------


def test_woocommerce_headers_per_page_limit_and_past_the_end(woocommerce_server):
    server = woocommerce_server(orders=25)
    url = f"{server.base_url}/wp-json/wc/v3/orders"
    auth = (server.consumer_key, server.consumer_secret)
    first = _get(url, params={"per_page": 10, "page": 1}, auth=auth)
    assert first.headers["x-wp-total"] == "25" and first.headers["x-wp-totalpages"] == "3"
    assert set(first.links) == {"next", "first", "last"}
    past = _get(url, params={"per_page": 10, "page": 9}, auth=auth)
    assert past.json() == [] and past.headers["x-wp-total"] == "25"
    too_many = _get(url, params={"per_page": 101}, auth=auth)
    assert too_many.status_code == 400
    assert too_many.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): per_page",
        "data": {
            "status": 400,
            "params": {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
        },
    }
    ids = [o["id"] for o in first.json()[:3]]
    included = _get(url, params={"include": ",".join(map(str, ids))}, auth=auth).json()
    assert sorted(o["id"] for o in included) == sorted(ids)


def test_woocommerce_auth_errors_and_query_credentials(woocommerce_server):
    server = woocommerce_server(orders=2, drops_authorization=True)
    url = f"{server.base_url}/wp-json/wc/v3/orders"
    header_only = _get(url, auth=(server.consumer_key, server.consumer_secret))
    assert header_only.status_code == 401
    assert header_only.json()["code"] == "woocommerce_rest_cannot_view"
    query = {"consumer_key": server.consumer_key, "consumer_secret": server.consumer_secret}
    assert len(_get(url, params=query).json()) == 2
    wrong = _get(url, params={**query, "consumer_secret": "cs_wrong"})
    assert wrong.json()["message"] == "Consumer secret is invalid."
    encoded = base64.b64encode(b"x:y").decode()
    assert _get(url, headers={"Authorization": f"Basic {encoded}"}).status_code == 401
