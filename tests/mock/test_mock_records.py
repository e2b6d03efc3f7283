"""Seeded mock records: determinism, realism, zero rejects, id lookups, generators."""

from __future__ import annotations

import random
from decimal import Decimal
from functools import cache
from urllib.parse import urlparse

import pytest

from runner.mapping import Reject, compile_mapping
from runner.mock import mock_ids, mock_record_for_id, mock_records
from runner.spec.build import build_mock
from runner.spec.load import load_specs
from runner.spec.model import FieldSpec, MappingSpec, SpecSet


@cache
def specs() -> SpecSet:
    return load_specs()


MAPPINGS = sorted(
    [
        "aliexpress_product",
        "bigbuy_images",
        "bigbuy_information",
        "bigbuy_prices",
        "bigbuy_product",
        "bigbuy_stock",
        "shopify_order",
        "woocommerce_order",
    ]
)
PRODUCT_MAPPINGS = [m for m in MAPPINGS if not m.endswith("_order")]


def test_every_bundled_mapping_has_a_mock_section():
    assert sorted(specs().mappings) == MAPPINGS
    assert all(specs().mappings[m].mock is not None for m in MAPPINGS)


# ---------------------------------------------------------------------------------------------
# Determinism


@pytest.mark.parametrize("name", MAPPINGS)
def test_same_seed_same_records_other_seed_other_records(name):
    spec = specs().mappings[name]
    first = list(mock_records(spec, seed=1, count=25))
    assert first == list(mock_records(spec, seed=1, count=25))
    assert first != list(mock_records(spec, seed=2, count=25))
    assert list(mock_records(spec, count=25)) == list(mock_records(spec, seed=0, count=25))


@pytest.mark.parametrize("name", MAPPINGS)
def test_record_n_does_not_depend_on_count_or_start(name):
    spec = specs().mappings[name]
    many = list(mock_records(spec, seed=4, count=30))
    assert list(mock_records(spec, seed=4, count=10)) == many[:10]
    assert list(mock_records(spec, seed=4, start=12, count=5)) == many[12:17]


def test_default_count_is_the_spec_count():
    spec = specs().mappings["bigbuy_product"]
    assert len(list(mock_records(spec))) == spec.mock.count == 40


def test_the_global_random_is_never_used():
    random.seed(12345)
    state = random.getstate()
    for name in MAPPINGS:
        list(mock_records(specs().mappings[name], count=20))
    assert random.getstate() == state


# ---------------------------------------------------------------------------------------------
# Realism and a full offline pass


@cache
def mapped(name: str, seed: int, count: int = 200) -> tuple[list[dict], list[Reject]]:
    spec = specs().mappings[name]
    return compile_mapping(spec).map_page(mock_records(spec, seed=seed, count=count))


@pytest.mark.parametrize("seed", [0, 1, 99])
@pytest.mark.parametrize("name", MAPPINGS)
def test_full_offline_pass_has_zero_rejects(name, seed):
    rows, rejects = mapped(name, seed)
    assert rejects == []
    assert len(rows) == 200
    assert len({row[specs().mappings[name].key] for row in rows}) == 200  # ids are unique


@pytest.mark.parametrize("seed", [0, 1, 99])
@pytest.mark.parametrize("name", PRODUCT_MAPPINGS)
def test_products_look_real(name, seed):
    rows, _ = mapped(name, seed)
    for row in rows:
        if "price" in row:
            assert isinstance(row["price"], Decimal) and isinstance(row["cost_price"], Decimal)
            assert Decimal("0") < row["cost_price"] < row["price"], row
        if "name" in row:
            assert row["name"] and row["name"].strip() == row["name"]
            assert len(row["name"].split()) >= 2
        if "image_urls" in row:
            assert row["image_urls"]
            for url in row["image_urls"]:
                parts = urlparse(url)
                assert parts.scheme == "https" and parts.netloc and parts.path.endswith(".jpg")
        if "stock_quantity" in row:
            assert 0 <= row["stock_quantity"] < 2000
    if name in ("bigbuy_stock", "aliexpress_product"):
        stocks = [row["stock_quantity"] for row in rows]
        assert len(set(stocks)) > 20 and max(stocks) > 0  # varied, some in stock
    if "price" in rows[0]:
        assert len({row["price"] for row in rows}) > 100  # not one price for all


@pytest.mark.parametrize("name", ["shopify_order", "woocommerce_order"])
def test_orders_cover_several_statuses_and_carry_tracking_when_shipped(name):
    rows, _ = mapped(name, 0)
    assert len({row["status"] for row in rows}) >= 3
    tracked = [row for row in rows if row["tracking_number"]]
    assert tracked and all(row["carrier"] for row in tracked)
    # refunded: a parcel went out, then the money came back; the tracking stays
    shipped = ("shipped", "delivered", "processing", "refunded")
    assert all(row["status"] in shipped for row in tracked)


def test_bigbuy_mocks_share_their_ids_so_steps_join():
    names = [m for m in MAPPINGS if m.startswith("bigbuy_")]
    ids = {name: mock_ids(specs().mappings[name], seed=3) for name in names}
    assert len({tuple(v) for v in ids.values()}) == 1
    for name in names:
        rows, _ = mapped(name, 3, 40)
        assert [row["external_id"] for row in rows] == ids[name]


def test_bigbuy_products_and_prices_agree_on_prices():
    products, _ = mapped("bigbuy_product", 3)
    prices, _ = mapped("bigbuy_prices", 3)
    assert [(r["external_id"], r["cost_price"], r["price"]) for r in products] == [
        (r["external_id"], r["cost_price"], r["price"]) for r in prices
    ]


# ---------------------------------------------------------------------------------------------
# Lookups by id


@pytest.mark.parametrize("name", MAPPINGS)
def test_lookup_of_a_listed_id_gives_the_listed_record(name):
    spec = specs().mappings[name]
    records = list(mock_records(spec, seed=5, count=12))
    ids = mock_ids(spec, seed=5, count=12)
    mapping = compile_mapping(spec)
    assert [mapping.map(r)[spec.key] for r in records] == ids
    for record_id, record in zip(ids, records, strict=True):
        assert mock_record_for_id(spec, record_id, seed=5) == record


@pytest.mark.parametrize(
    ("name", "record_id"),
    [
        ("bigbuy_product", "999"),  # below the sequence
        ("bigbuy_stock", "401000999"),
        ("aliexpress_product", "1005009999999999"),
        ("shopify_order", "5601234567000"),
        ("woocommerce_order", "12"),
    ],
)
def test_lookup_of_an_unknown_id_gives_a_consistent_seeded_record(name, record_id):
    spec = specs().mappings[name]
    mapping = compile_mapping(spec)
    record = mock_record_for_id(spec, record_id)
    row = mapping.map(record)
    assert not isinstance(row, Reject), row
    assert row[spec.key] == record_id
    assert mock_record_for_id(spec, record_id) == record  # seeded by the id
    others = [str(int(record_id) + k) for k in range(1, 8)]  # a few draws may coincide
    assert [mock_record_for_id(spec, i, seed=1) for i in others] != [
        mock_record_for_id(spec, i) for i in others
    ]
    assert isinstance(record.get("id", 0), int)  # coerced to the sequence's type


def test_lookup_of_a_templated_id_finds_the_listed_record():
    spec = mock_spec(
        {"id": {"template": "AC-{{ 1000 + n }}"}, "q": {"integer": {"min": 0, "max": 9**9}}}
    )
    listed = list(mock_records(spec, seed=2))
    assert mock_record_for_id(spec, "AC-1003", seed=2) == listed[3]
    other = mock_record_for_id(spec, "AC-77")
    assert other["id"] == "AC-77" and other == mock_record_for_id(spec, "AC-77")


def test_lookup_of_a_non_numeric_id_keeps_the_text():
    spec = specs().mappings["bigbuy_information"]
    record = mock_record_for_id(spec, "ABC-1")
    assert record["id"] == "ABC-1"
    assert compile_mapping(spec).map(record)["external_id"] == "ABC-1"


# ---------------------------------------------------------------------------------------------
# Generators


def mock_spec(fields: dict, *, id_field: str = "id", count: int = 5, seed: int = 0) -> MappingSpec:
    mock = build_mock({"count": count, "seed": seed, "id_field": id_field, "fields": fields})
    return MappingSpec(
        name="gen",
        target="imported_products",
        key="external_id",
        fields=(FieldSpec(name="external_id", source=id_field, required=True),),
        mock=mock,
    )


def test_sequence_choice_integer_decimal_words_value():
    spec = mock_spec(
        {
            "id": {"sequence": {"start": 10, "step": 5}},
            "color": {"choice": ["red", "blue"]},
            "qty": {"integer": {"min": 3, "max": 4}},
            "price": {"decimal": {"min": 1, "max": 2, "places": 1}},
            "text_price": {"decimal": {"min": 1, "max": 2, "places": 2, "as_string": True}},
            "title": {"words": [["Big", "Small"], ["Lamp", "Desk Fan"]]},
            "titled": {"words": {"lists": [["A"], ["B"]]}},
            "tags": {"value": ["x"]},
        },
        count=50,
    )
    records = list(mock_records(spec))
    assert [r["id"] for r in records[:3]] == [10, 15, 20]
    assert {r["color"] for r in records} == {"red", "blue"}
    assert {r["qty"] for r in records} == {3, 4}
    assert all(1 <= r["price"] <= 2 and round(r["price"], 1) == r["price"] for r in records)
    assert all(len(r["text_price"].split(".")[1]) == 2 for r in records)
    assert {r["title"].split(" ", 1)[0] for r in records} == {"Big", "Small"}
    assert all(r["titled"] == "A B" for r in records)
    records[0]["tags"].append("y")  # constants are copied, never shared
    assert records[1]["tags"] == ["x"]


def test_templates_expressions_and_nesting_see_record_item_index_and_n():
    spec = mock_spec(
        {
            "id": {"sequence": {"start": 100}},
            "sku": {"template": "S{{ record.id }}-{{ n }}-{{ index }}"},
            "info": {
                "object": {
                    "label": {"template": "{{ record.sku }}"},
                    "again": {"expr": "item.label | lower"},
                    "parent_sees_me": {"expr": "record.info.label == item.label"},
                }
            },
            "lines": {
                "list": {
                    "count": {"expr": "record.id - 98"},
                    "item": {
                        "pos": {"expr": "index"},
                        "code": {"template": "{{ record.sku }}/{{ index }}"},
                        "double": {"expr": "item.pos * 2"},
                    },
                }
            },
            "after": {"expr": "record.lines | length"},
        },
        count=3,
    )
    first, second, _ = mock_records(spec)
    assert first["sku"] == "S100-0-1" and second["sku"] == "S101-1-2"
    assert first["info"] == {"label": "S100-0-1", "again": "s100-0-1", "parent_sees_me": True}
    assert first["lines"] == [
        {"pos": 1, "code": "S100-0-1/1", "double": 2},
        {"pos": 2, "code": "S100-0-1/2", "double": 4},
    ]
    assert len(second["lines"]) == 3 and second["after"] == 3


def test_list_counts():
    spec = mock_spec(
        {
            "id": {"sequence": {}},
            "fixed": {"list": {"count": 2, "item": {"a": {"value": 1}}}},
            "ranged": {"list": {"count": {"min": 0, "max": 3}, "item": {"a": {"value": 1}}}},
        },
        count=60,
    )
    records = list(mock_records(spec))
    assert all(len(r["fixed"]) == 2 for r in records)
    assert {len(r["ranged"]) for r in records} == {0, 1, 2, 3}
    assert [r["id"] for r in records[:2]] == [0, 1]


def test_nested_id_field_is_forced_on_lookup():
    spec = mock_spec(
        {
            "base": {
                "object": {
                    "pid": {"sequence": {"start": 7}},
                    "x": {"integer": {"min": 0, "max": 9}},
                }
            },
        },
        id_field="base.pid",
    )
    assert mock_ids(spec) == ["7", "8", "9", "10", "11"]
    assert mock_record_for_id(spec, "9") == list(mock_records(spec))[2]
    assert mock_record_for_id(spec, "500")["base"]["pid"] == 500


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": {"sequence": {}}, "x": {"dice": 6}}, "unknown generator 'dice'"),
        ({"id": {"sequence": {}}, "x": {"choice": []}}, "choice needs a non-empty list"),
        ({"id": {"sequence": {}}, "x": {"integer": {"min": 5, "max": 1}}}, "min 5 is above max 1"),
        ({"id": {"sequence": {}}, "x": {"decimal": {"min": 1}}}, "decimal needs {min, max}"),
        ({"id": {"sequence": {}}, "x": {"words": [[]]}}, "words needs a list"),
        ({"id": {"sequence": {}}, "x": {"list": {"count": 2}}}, "list needs"),
        (
            {"id": {"sequence": {}}, "x": {"list": {"count": "x", "item": {"a": {"value": 1}}}}},
            "count",
        ),
        ({"id": {"sequence": {"start": "a"}}}, "must be numbers"),
        ({"other": {"value": 1}}, "id_field 'id' is not a generated field"),
    ],
)
def test_bad_mock_sections_fail_at_compile_time_naming_the_field(fields, message):
    with pytest.raises(ValueError, match="mapping 'gen'") as info:
        mock_ids(mock_spec(fields))
    assert message in str(info.value)


def test_generation_errors_name_the_field_and_record():
    spec = mock_spec({"id": {"sequence": {}}, "sku": {"template": "S{{ record.nope.deeper }}"}})
    with pytest.raises(ValueError, match=r"mock field 'sku': record 0: UndefinedError"):
        next(mock_records(spec))


def test_a_mapping_without_mock_section_is_refused():
    spec = MappingSpec(
        name="bare",
        target="orders",
        key="platform_order_id",
        fields=(FieldSpec(name="platform_order_id", source="id"),),
    )
    with pytest.raises(ValueError, match="no mock section"):
        next(mock_records(spec))
