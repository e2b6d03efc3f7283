"""The bundled mappings on the example payloads of `reference/supplier-apis.md`, and a fuzz
proving that no JSON input can make a compiled mapping raise."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.mapping import HASH_COLUMN, CompiledMapping, Reject, compile_mapping, parse_path
from runner.spec.load import load_specs
from runner.spec.model import SpecSet


@cache
def specs() -> SpecSet:
    return load_specs()


@cache
def compiled(name: str) -> CompiledMapping:
    return compile_mapping(specs().mappings[name])


BIGBUY_PRODUCT = {
    "id": 401234, "sku": "S7101234", "active": 1, "attributes": False, "categories": True,
    "images": True, "tags": False, "category": 2609, "taxonomy": 2411, "condition": "NEW",
    "dateAdd": "2023-05-11 09:12:40", "dateUpd": "2025-01-14 06:02:11",
    "dateUpdCategories": None, "width": 12.0, "height": 30.5, "depth": 12.0, "weight": 1.35,
    "ean13": "8412345678905", "partNumber": "KB-330", "manufacturer": 1187,
    "intrastat": "85165000", "logisticClass": "A", "wholesalePrice": 24.17,
    "retailPrice": 49.99, "inShopsPrice": 44.95, "canon": None, "taxId": 1, "taxRate": 21,
    "priceLargeQuantities": [], "video": "0",
}  # fmt: skip

AE_PRODUCT = {
    "ae_item_base_info_dto": {
        "product_id": 1005006123456789, "subject": "Stainless Steel Electric Kettle 1.7L",
        "category_id": 100000308, "currency_code": "EUR", "product_status_type": "onSelling",
        "gmt_modified": "2025-01-10 19:40:00", "detail": "<div><p>1.7L kettle</p></div>",
    },
    "ae_multimedia_info_dto": {
        "image_urls": "https://ae01.alicdn.com/kf/Sa1b2c3.jpg;https://ae01.alicdn.com/kf/Sd4e5f6.jpg"
    },
    "ae_item_sku_info_dtos": {"ae_item_sku_info_d_t_o": [
        {"sku_id": "12000036123450001", "sku_attr": "14:175#Black", "sku_price": "31.20",
         "offer_sale_price": "22.46", "sku_available_stock": 148, "currency_code": "EUR"},
        {"sku_id": "12000036123450002", "sku_attr": "14:193#Silver", "sku_price": "31.20",
         "offer_sale_price": "23.10", "sku_available_stock": "0", "currency_code": "EUR"},
    ]},
    "ae_store_info": {"store_id": 1102345678, "store_name": "HomeKit Official Store"},
}  # fmt: skip

SHOPIFY_ORDERS = [
    {"id": 5601234567890, "name": "#1042", "financial_status": "paid",
     "fulfillment_status": "fulfilled", "cancelled_at": None,
     "fulfillments": [{"id": 4801234567001, "status": "success", "shipment_status": "in_transit",
                       "tracking_company": "Correos Express", "tracking_number": "CX123456789ES",
                       "tracking_url": "https://s.correosexpress.com/c?n=CX123456789ES"}]},
    {"id": 5601234567891, "name": "#1043", "financial_status": "paid",
     "fulfillment_status": None, "cancelled_at": None, "fulfillments": []},
    {"id": 5601234567892, "name": "#1044", "financial_status": "refunded",
     "fulfillment_status": None, "cancelled_at": "2025-01-08T12:39:58+01:00", "fulfillments": []},
]  # fmt: skip

WOO_ORDERS = [
    {"id": 727, "number": "727", "status": "completed", "meta_data": [
        {"id": 13106, "key": "_wc_shipment_tracking_items", "value": [
            {"tracking_provider": "correos-express", "custom_tracking_provider": "",
             "custom_tracking_link": "", "tracking_number": "CX123456789ES",
             "date_shipped": 1736380800, "tracking_id": "a1b2c3d4e5"}]}]},
    {"id": 728, "number": "728", "status": "processing", "meta_data": []},
]  # fmt: skip


def test_bigbuy_product_example():
    row = compiled("bigbuy_product").map(BIGBUY_PRODUCT)
    assert {k: v for k, v in row.items() if k != HASH_COLUMN} == {
        "external_id": "401234",
        "sku": "S7101234",
        "cost_price": Decimal("24.17"),
        "price": Decimal("49.99"),
        "currency": "EUR",
        "category": "2411",
        "brand": "1187",
        "status": "active",
    }
    assert compiled("bigbuy_product").map({**BIGBUY_PRODUCT, "active": 0})["status"] == "inactive"


def test_bigbuy_stock_and_images_examples():
    stock = compiled("bigbuy_stock")
    record = {"id": 401234, "sku": "S7101234", "stocks": [
        {"quantity": 37, "minHandlingDays": 0, "maxHandlingDays": 1, "warehouse": 1},
        {"quantity": 120, "minHandlingDays": 2, "maxHandlingDays": 4, "warehouse": 3}]}  # fmt: skip
    assert stock.map(record)["stock_quantity"] == 157
    assert stock.map({"id": 401235, "sku": "V0300456", "stocks": []})["stock_quantity"] == 0
    record = {"id": 401234, "images": [
        {"id": 9001002, "isCover": False, "url": "https://cdnbigbuy.com/images/S7101234_2.jpg",
         "position": 2},
        {"id": 9001001, "isCover": True, "url": "https://cdnbigbuy.com/images/S7101234_1.jpg",
         "position": 1}]}  # fmt: skip
    images = compiled("bigbuy_images").map(record)
    assert images["image_urls"] == [
        "https://cdnbigbuy.com/images/S7101234_1.jpg",
        "https://cdnbigbuy.com/images/S7101234_2.jpg",
    ]


def test_aliexpress_product_example():
    row = compiled("aliexpress_product").map(AE_PRODUCT)
    assert {k: v for k, v in row.items() if k != HASH_COLUMN} == {
        "external_id": "1005006123456789",
        "sku": "12000036123450001",
        "name": "Stainless Steel Electric Kettle 1.7L",
        "description": "<div><p>1.7L kettle</p></div>",
        "category": "100000308",
        "brand": "HomeKit Official Store",
        "currency": "EUR",
        "cost_price": Decimal("22.46"),
        "price": Decimal("31.20"),
        "stock_quantity": 148,
        "image_urls": [
            "https://ae01.alicdn.com/kf/Sa1b2c3.jpg",
            "https://ae01.alicdn.com/kf/Sd4e5f6.jpg",
        ],
        "status": "active",
    }


def test_aliexpress_product_with_a_garbage_price_is_rejected():
    record = {
        **AE_PRODUCT,
        "ae_item_sku_info_dtos": {
            "ae_item_sku_info_d_t_o": [{"sku_price": "31.20", "offer_sale_price": "n/a"}]
        },
    }
    result = compiled("aliexpress_product").map(record)
    assert isinstance(result, Reject)
    assert (result.field, result.external_id) == ("cost_price", "1005006123456789")
    assert "not a number" in result.reason


def test_shopify_order_examples():
    rows = [compiled("shopify_order").map(order) for order in SHOPIFY_ORDERS]
    assert [(r["platform_order_id"], r["order_number"], r["status"]) for r in rows] == [
        ("5601234567890", "#1042", "shipped"),
        ("5601234567891", "#1043", "processing"),
        ("5601234567892", "#1044", "cancelled"),
    ]
    assert (rows[0]["tracking_number"], rows[0]["carrier"]) == ("CX123456789ES", "Correos Express")
    assert rows[0]["tracking_url"] == "https://s.correosexpress.com/c?n=CX123456789ES"
    assert rows[1]["tracking_number"] is None  # fulfillments[-1] of an empty list


def test_woocommerce_order_examples():
    rows = [compiled("woocommerce_order").map(order) for order in WOO_ORDERS]
    first, second = rows
    assert (first["platform_order_id"], first["status"], first["tracking_number"]) == (
        "727",
        "shipped",  # completed: handed to the carrier, not yet with the buyer
        "CX123456789ES",
    )
    assert (first["carrier"], first["tracking_url"]) == ("correos-express", None)
    assert (second["status"], second["tracking_number"], second["carrier"]) == (
        "processing",
        None,
        None,
    )
    mapping = compiled("woocommerce_order")
    custom = mapping.map({"id": 9, "status": "awaiting-pickup", "meta_data": []})
    assert custom["status"] == "processing"  # a custom status: the declared default, no reject
    assert mapping.defaulted == {"status": {"awaiting-pickup": 1}}
    assert mapping.defaulted_count == 1


# ---------------------------------------------------------------------------------------------
# Fuzz: whatever JSON comes in, map() returns a row or a Reject.


def _path_names() -> list[str]:
    names = set()
    for spec in specs().mappings.values():
        for field in spec.fields:
            if field.source:
                names.update(s for s in parse_path(field.source) if isinstance(s, str))
        if field.expr:
            names.update(w for w in field.expr.replace("'", " ").split(".") if w.isidentifier())
    names.update(
        ["id", "stocks", "quantity", "images", "position", "url", "meta_data", "key", "value"]
    )
    names.update(["ae_item_sku_info_d_t_o", "offer_sale_price", "sku_price", "image_urls"])
    names.update(["sku_available_stock", "fulfillments", "cancelled_at", "fulfillment_status"])
    return sorted(names)


KEYS = st.sampled_from(_path_names()) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", " ", "1", "0", "12.50", "1e999", "NaN", "-0", "2025-01-10 19:40:00"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)
RECORDS = st.dictionaries(KEYS, JSON, max_size=10) | JSON


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=RECORDS)
def test_map_never_raises(record):
    for name in sorted(specs().mappings):  # every mapping on each record: one generation
        mapping = compiled(name)
        result = mapping.map(record)
        if isinstance(result, Reject):
            assert result.payload is record
            assert result.reason
        else:
            assert isinstance(result, dict)
            assert list(result) == [*mapping.columns, HASH_COLUMN]
            assert result[mapping.key]  # the key is required in every bundled mapping
        rows, rejects = mapping.map_page([record, record])
        assert len(rows) + len(rejects) == 2
