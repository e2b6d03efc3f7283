"""The mapping engine: paths, coercions, value maps, defaults, required, hashes, rejects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import runner.mapping as mapping_module
from runner.mapping import (
    HASH_COLUMN,
    Reject,
    compile_mapping,
    content_hash,
    to_boolean,
    to_datetime,
    to_decimal,
    to_integer,
    to_list,
    to_string,
)
from runner.paths import compile_path, parse_path
from runner.spec.model import FieldSpec, MappingSpec
from runner.templating import UnsafeTemplate


def make_spec(*fields: FieldSpec, key: str = "external_id", name: str = "t") -> MappingSpec:
    if not any(f.name == key for f in fields):
        fields = (FieldSpec(name=key, source="id", required=True), *fields)
    return MappingSpec(name=name, target="imported_products", key=key, fields=fields)


def map_one(record: Any, *fields: FieldSpec) -> dict | Reject:
    return compile_mapping(make_spec(*fields)).map(record)


# ---------------------------------------------------------------------------------------------
# Paths


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("a", ("a",)),
        ("a.b.c", ("a", "b", "c")),
        ("images[0].url", ("images", 0, "url")),
        ("fulfillments[-1].tracking_number", ("fulfillments", -1, "tracking_number")),
        ("a[0][1]", ("a", 0, 1)),
        ("a['x.y'].b", ("a", "x.y", "b")),
        ('a["k"]', ("a", "k")),
        (".", ()),
    ],
)
def test_parse_path(path, steps):
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["", "a..b", "a.", ".a", "a[x]", "a[0", "a]b", "a[0]b"])
def test_malformed_paths_are_refused_at_compile_time(path):
    with pytest.raises(ValueError, match="malformed path"):
        parse_path(path)


RECORD = {
    "id": 7,
    "a": {"b": {"c": "deep"}},
    "images": [{"url": "https://x/1.jpg"}, {"url": "https://x/2.jpg"}],
    "text": "hello",
    "empty": [],
    "n": None,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b.c", "deep"),
        ("images[0].url", "https://x/1.jpg"),
        ("images[-1].url", "https://x/2.jpg"),
        ("images[1]", {"url": "https://x/2.jpg"}),
        ("images[2].url", None),  # past the end
        ("images[-3].url", None),  # before the start
        ("empty[-1].x", None),  # empty list
        ("missing.x", None),
        ("a.b.c.d", None),  # a key into a string
        ("text[0]", None),  # an index into a string is not a character
        ("a[0]", None),  # an index into an object
        ("images.url", None),  # a key into a list
        ("n.x", None),  # through a null
        ("id.x", None),  # through a number
        (".", RECORD),
    ],
)
def test_path_edge_cases(path, expected):
    assert compile_path(path)(RECORD) == expected


def test_paths_on_non_objects_read_nothing():
    for path in ("a", "a.b", "a[0].b"):
        get = compile_path(path)
        for value in (None, 1, "s", [1, 2], True):
            assert get(value) is None


def test_a_nested_path_maps_into_a_column():
    row = map_one(RECORD, FieldSpec(name="image_urls", type="string", source="images[-1].url"))
    assert row["image_urls"] == "https://x/2.jpg"


# ---------------------------------------------------------------------------------------------
# Coercions


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("  ", None),
        ("", None),
        (401234, "401234"),
        (1005006123456789, "1005006123456789"),
        (401234.0, "401234"),
        (2.5, "2.5"),
        (Decimal("24.17"), "24.17"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_to_string(value, expected):
    assert to_string(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (148, 148),
        ("57", 57),
        (" -3 ", -3),
        ("57.0", 57),
        (3.0, 3),
        (Decimal("12"), 12),
        ("", None),
    ],
)
def test_to_integer(value, expected):
    assert to_integer(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (24.17, Decimal("24.17")),
        ("22.46", Decimal("22.46")),
        (" 31.2 ", Decimal("31.20")),
        (15, Decimal("15.00")),
        (2.675, Decimal("2.68")),  # half up, from the shortest repr (not the binary value)
        ("0.005", Decimal("0.01")),
        ("1e3", Decimal("1000.00")),
        (Decimal("1.234"), Decimal("1.23")),
        ("", None),
    ],
)
def test_to_decimal(value, expected):
    result = to_decimal(value)
    assert result == expected
    if result is not None:
        assert result.as_tuple().exponent == -2  # always quantized: one text per value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        (" yes ", True),
        ("no", False),
        ("", None),
    ],
)
def test_to_boolean(value, expected):
    assert to_boolean(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-10 19:40:00", datetime(2025, 1, 10, 19, 40, tzinfo=UTC)),  # naive = UTC
        ("2025-01-10T19:40:00Z", datetime(2025, 1, 10, 19, 40, tzinfo=UTC)),
        ("2025-01-09T10:22:31+01:00", datetime(2025, 1, 9, 9, 22, 31, tzinfo=UTC)),
        ("2025-01-10", datetime(2025, 1, 10, tzinfo=UTC)),
        (1736380800, datetime(2025, 1, 9, tzinfo=UTC)),  # epoch seconds
        (1736380800000, datetime(2025, 1, 9, tzinfo=UTC)),  # epoch milliseconds
        ("1736380800", datetime(2025, 1, 9, tzinfo=UTC)),
        ("", None),
    ],
)
def test_to_datetime(value, expected):
    result = to_datetime(value)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


def test_to_list():
    assert to_list(["a", "b"]) == ["a", "b"]
    assert to_list(("a",)) == ["a"]
    assert to_list(x for x in "ab") == ["a", "b"]


@pytest.mark.parametrize(
    ("coerce", "value", "reason"),
    [
        (to_string, {"a": 1}, "expected a string"),
        (to_string, [1], "expected a string"),
        (to_string, float("nan"), "expected a string"),
        (to_integer, "abc", "expected an integer"),
        (to_integer, 3.5, "expected an integer"),
        (to_integer, "3.5", "expected an integer"),
        (to_integer, True, "expected an integer"),
        (to_integer, [1], "expected an integer"),
        (to_integer, 2**31, "integer out of range"),
        (to_integer, "1e400", "integer out of range"),
        (to_integer, "1e999999999", "integer out of range"),  # checked before int()
        (to_integer, Decimal("1e999999999"), "integer out of range"),
        (to_decimal, "abc", "expected a decimal"),
        (to_decimal, "22,46", "expected a decimal"),
        (to_decimal, True, "expected a decimal"),
        (to_decimal, "NaN", "not a finite number"),
        (to_decimal, float("inf"), "not a finite number"),
        (to_decimal, float("nan"), "not a finite number"),
        (to_decimal, "1e12", "decimal out of range"),  # NUMERIC(14, 2) holds < 10^12
        (to_decimal, "999999999999.996", "decimal out of range"),  # would round to 10^12
        (to_boolean, "maybe", "expected a boolean"),
        (to_boolean, 2, "expected a boolean"),
        (to_datetime, "yesterday", "expected a datetime"),
        (to_datetime, "2025-13-01", "expected a datetime"),
        (to_datetime, True, "expected a datetime"),
        (to_datetime, 10**30, "datetime out of range"),
        (to_list, "a;b", "expected a list"),
        (to_list, {"a": 1}, "expected a list"),
    ],
)
def test_bad_values_become_rejects_with_the_reason(coerce, value, reason):
    with pytest.raises(mapping_module.Invalid) as info:
        coerce(value)
    assert info.value.reason.startswith(reason)
    # ... and through a mapping, as a Reject naming the field
    type_name = {
        to_string: "string",
        to_integer: "integer",
        to_decimal: "decimal",
        to_boolean: "boolean",
        to_datetime: "datetime",
        to_list: "list",
    }[coerce]
    result = map_one({"id": 9, "v": value}, FieldSpec(name="x", type=type_name, source="v"))
    assert isinstance(result, Reject)
    assert (result.field, result.external_id) == ("x", "9")
    assert result.reason.startswith(reason)
    assert result.payload == {"id": 9, "v": value} or value != value  # NaN != NaN


def test_json_type_keeps_any_json_value():
    value = {"b": [1, {"c": None}], "a": "x"}
    row = map_one({"id": 1, "v": value}, FieldSpec(name="x", type="json", source="v"))
    assert row["x"] == value


def test_decimal_constants_mirror_the_money_column():
    from runner.db.tables import imported_products

    money = imported_products.c.price.type
    assert (money.precision, money.scale) == (
        mapping_module.DECIMAL_DIGITS,
        mapping_module.DECIMAL_PLACES,
    )
    assert imported_products.c.cost_price.type.scale == mapping_module.DECIMAL_PLACES


# ---------------------------------------------------------------------------------------------
# Defaults, constants, required


def test_missing_required_field_is_rejected_with_reason_and_payload():
    record = {"id": 401234, "sku": None}
    spec = make_spec(FieldSpec(name="sku", source="sku", required=True))
    result = compile_mapping(spec).map(record)
    assert result == Reject("sku", "missing required field", record, "401234")


def test_blank_required_string_is_missing():
    result = map_one({"id": 1, "name": "   "}, FieldSpec(name="name", source="name", required=True))
    assert isinstance(result, Reject)
    assert (result.field, result.reason) == ("name", "missing required field")


def test_missing_key_gives_a_reject_without_external_id():
    result = map_one({"sku": "S1"})
    assert result == Reject("external_id", "missing required field", {"sku": "S1"}, None)


def test_defaults_fill_missing_and_blank_values_and_are_coerced():
    fields = (
        FieldSpec(name="currency", source="currency_code", default="EUR"),
        FieldSpec(name="stock_quantity", type="integer", source="stock", default="0"),
        FieldSpec(name="price", type="decimal", source="price", default=0),
    )
    row = map_one({"id": 1, "currency_code": ""}, *fields)
    assert (row["currency"], row["stock_quantity"], row["price"]) == ("EUR", 0, Decimal("0.00"))
    row = map_one({"id": 1, "currency_code": "USD", "stock": "4", "price": "2"}, *fields)
    assert (row["currency"], row["stock_quantity"], row["price"]) == ("USD", 4, Decimal("2.00"))


def test_optional_missing_values_are_none():
    row = map_one({"id": 1}, FieldSpec(name="brand", source="manufacturer"))
    assert row["brand"] is None


def test_constants():
    row = map_one(
        {"id": 1},
        FieldSpec(name="currency", value="EUR"),
        FieldSpec(name="price", type="decimal", value="9.9"),
    )
    assert (row["currency"], row["price"]) == ("EUR", Decimal("9.90"))


def test_a_bad_default_is_a_spec_error_at_compile_time():
    with pytest.raises(ValueError, match="bad default"):
        compile_mapping(make_spec(FieldSpec(name="stock", type="integer", default="lots")))


def test_records_that_are_not_objects_are_rejected():
    mapping = compile_mapping(make_spec())
    for record in (None, [], [{"id": 1}], "x", 3):
        result = mapping.map(record)
        assert result == Reject(None, "record is not an object", record, None)


# ---------------------------------------------------------------------------------------------
# Value maps

STATUS = FieldSpec(
    name="status",
    source="status",
    required=True,
    map={"completed": "delivered", "on-hold": "pending", "1": "active"},
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("completed", "delivered"), ("on-hold", "pending"), (1, "active"), ("1", "active")],
)
def test_value_map(value, expected):
    assert map_one({"id": 1, "status": value}, STATUS)["status"] == expected


def test_unmapped_value_is_rejected():
    result = map_one({"id": 5, "status": "weird"}, STATUS)
    assert isinstance(result, Reject)
    assert (result.field, result.external_id) == ("status", "5")
    assert result.reason == "unmapped value 'weird'"


def test_unmapped_value_uses_map_default():
    spec = FieldSpec(name="status", source="s", map={"onSelling": "active"}, map_default="inactive")
    assert map_one({"id": 1, "s": "auditing"}, spec)["status"] == "inactive"
    assert map_one({"id": 1, "s": "onSelling"}, spec)["status"] == "active"


def test_missing_value_skips_the_map():
    optional = FieldSpec(name="status", source="s", map={"1": "active"})
    assert map_one({"id": 1}, optional)["status"] is None
    assert map_one({"id": 1, "s": " "}, optional)["status"] is None
    result = map_one({"id": 1}, STATUS)
    assert (result.field, result.reason) == ("status", "missing required field")


def test_boolean_source_values_map_by_their_json_text():
    spec = FieldSpec(name="status", source="active", map={"true": "active", "false": "inactive"})
    assert map_one({"id": 1, "active": True}, spec)["status"] == "active"
    assert map_one({"id": 1, "active": False}, spec)["status"] == "inactive"


# ---------------------------------------------------------------------------------------------
# Expressions


def test_expressions_are_compiled_once(monkeypatch):
    calls = []
    real = mapping_module.compile_expression

    def counting(source):
        calls.append(source)
        return real(source)

    monkeypatch.setattr(mapping_module, "compile_expression", counting)
    mapping = compile_mapping(
        make_spec(
            FieldSpec(
                name="stock_quantity",
                type="integer",
                expr="record.stocks | sum(attribute='quantity')",
            )
        )
    )
    rows = [mapping.map({"id": i, "stocks": [{"quantity": i}, {"quantity": 2}]}) for i in range(50)]
    assert [r["stock_quantity"] for r in rows] == [i + 2 for i in range(50)]
    assert calls == ["record.stocks | sum(attribute='quantity')"]


def test_expression_failures_become_rejects():
    spec = FieldSpec(name="stock_quantity", type="integer", expr="record.stocks | sum")
    result = map_one({"id": 3, "stocks": ["a", 1]}, spec)
    assert isinstance(result, Reject)
    assert result.field == "stock_quantity"
    assert result.reason.startswith("expression failed: TypeError")


def test_the_sandbox_refuses_unsafe_attributes():
    spec = FieldSpec(name="name", expr="record.__class__.__mro__")
    with pytest.raises(UnsafeTemplate, match="reaches Python internals"):
        map_one({"id": 1}, spec)  # refused when compiled (validate reports it too)
    dynamic = FieldSpec(name="name", expr="record | attr(record.key)")
    result = map_one({"id": 1, "key": "__class__"}, dynamic)
    assert isinstance(result, Reject) and "SecurityError" in result.reason


def test_strict_decimal_filter_rejects_garbage_prices():
    spec = FieldSpec(
        name="price", type="decimal", expr="record.skus | map(attribute='p') | map('decimal') | max"
    )
    assert map_one({"id": 1, "skus": [{"p": "9.50"}, {"p": "10.00"}]}, spec)["price"] == Decimal(
        "10.00"
    )  # numeric, not string, comparison
    result = map_one({"id": 1, "skus": [{"p": "n/a"}]}, spec)
    assert isinstance(result, Reject)
    assert "not a number" in result.reason


def test_dict_keys_win_over_dict_methods_in_expressions():
    spec = FieldSpec(name="stock_quantity", type="integer", expr="record.items | length")
    assert map_one({"id": 1, "items": [1, 2, 3]}, spec)["stock_quantity"] == 3


def test_structured_expression_results_become_plain_json():
    spec = FieldSpec(name="image_urls", type="list", expr="record.images | map(attribute='url')")
    row = map_one({"id": 1, "images": [{"url": "u1"}, {}]}, spec)
    assert row["image_urls"] == ["u1", None]  # a generator, listed; undefined -> None


# ---------------------------------------------------------------------------------------------
# Content hash

PRODUCT_FIELDS = (
    FieldSpec(name="sku", source="sku"),
    FieldSpec(name="price", type="decimal", source="retailPrice"),
    FieldSpec(name="image_urls", type="json", source="images"),
    FieldSpec(name="stock_quantity", type="integer", source="stock"),
)
PRODUCT = {
    "id": 1,
    "sku": "S1",
    "retailPrice": 49.99,
    "images": [{"url": "u", "pos": 1}],
    "stock": 3,
}


def test_content_hash_is_stable_and_matches_the_public_function():
    mapping = compile_mapping(make_spec(*PRODUCT_FIELDS))
    row = mapping.map(PRODUCT)
    again = compile_mapping(make_spec(*PRODUCT_FIELDS)).map(dict(PRODUCT))
    assert row[HASH_COLUMN] == again[HASH_COLUMN]
    assert len(row[HASH_COLUMN]) == 32 and int(row[HASH_COLUMN], 16) >= 0
    values = {c: row[c] for c in mapping.columns}
    assert content_hash(values) == row[HASH_COLUMN]


def test_content_hash_ignores_source_and_spec_order():
    base = compile_mapping(make_spec(*PRODUCT_FIELDS)).map(PRODUCT)
    reordered_record = {
        "stock": 3,
        "images": [{"pos": 1, "url": "u"}],  # nested keys reordered too
        "retailPrice": "49.990",  # another text of the same price
        "sku": "S1",
        "id": "1",
    }
    reordered_spec = make_spec(*reversed(PRODUCT_FIELDS))
    assert compile_mapping(reordered_spec).map(reordered_record)[HASH_COLUMN] == base[HASH_COLUMN]


@pytest.mark.parametrize(
    "change", [{"sku": "S2"}, {"retailPrice": 50}, {"stock": 4}, {"images": []}, {"stock": None}]
)
def test_a_changed_value_changes_the_hash(change):
    mapping = compile_mapping(make_spec(*PRODUCT_FIELDS))
    assert mapping.map({**PRODUCT, **change})[HASH_COLUMN] != mapping.map(PRODUCT)[HASH_COLUMN]


def test_fields_with_hash_false_are_not_hashed():
    fields = (*PRODUCT_FIELDS, FieldSpec(name="status", source="seen", hash=False))
    mapping = compile_mapping(make_spec(*fields))
    assert mapping.map({**PRODUCT, "seen": "a"})["status"] == "a"
    assert (
        mapping.map({**PRODUCT, "seen": "a"})[HASH_COLUMN]
        == mapping.map({**PRODUCT, "seen": "b"})[HASH_COLUMN]
    )


# ---------------------------------------------------------------------------------------------
# Columns, narrowing, pages


def test_columns_are_the_key_then_the_spec_order():
    mapping = compile_mapping(make_spec(*PRODUCT_FIELDS))
    assert mapping.columns == ("external_id", "sku", "price", "image_urls", "stock_quantity")
    row = mapping.map(PRODUCT)
    assert list(row) == [*mapping.columns, HASH_COLUMN]
    assert (mapping.name, mapping.target, mapping.key) == ("t", "imported_products", "external_id")


def test_fields_narrow_the_written_columns_and_the_hash():
    spec = make_spec(*PRODUCT_FIELDS, FieldSpec(name="name", source="name", required=True))
    narrow = compile_mapping(spec, fields=["stock_quantity", "not_mapped_here"])
    assert narrow.columns == ("external_id", "stock_quantity")
    row = narrow.map(PRODUCT)  # `name` is required but not written: no reject
    assert row == {
        "external_id": "1",
        "stock_quantity": 3,
        HASH_COLUMN: content_hash({"external_id": "1", "stock_quantity": 3}),
    }
    assert narrow.map({**PRODUCT, "sku": "other"})[HASH_COLUMN] == row[HASH_COLUMN]


def test_a_key_that_is_not_mapped_is_a_spec_error():
    spec = MappingSpec(name="t", target="orders", key="platform_order_id", fields=PRODUCT_FIELDS)
    with pytest.raises(ValueError, match="key 'platform_order_id'"):
        compile_mapping(spec)


def test_map_page_splits_rows_and_rejects_and_goes_on():
    mapping = compile_mapping(make_spec(FieldSpec(name="price", type="decimal", source="p")))
    records = [{"id": 1, "p": "1.5"}, {"id": 2, "p": "x"}, "junk", {"p": 3}, {"id": 5}]
    rows, rejects = mapping.map_page(records)
    assert [r["external_id"] for r in rows] == ["1", "5"]
    assert [(r.field, r.external_id) for r in rejects] == [
        ("price", "2"),
        (None, None),
        ("external_id", None),
    ]


def test_generated_source_holds_no_spec_values():
    evil = "x'); import os; os.system('echo pwned'); ('"
    spec = make_spec(
        FieldSpec(name="sku", source=f"a['{evil}']"),
        FieldSpec(name=evil, source=evil.replace(".", "_").replace("[", "")[:5] or "a"),
        FieldSpec(name="description", value=evil),
    )
    mapping = compile_mapping(spec)
    assert evil not in mapping.source
    row = mapping.map({"id": 1, "a": {evil: "v"}})
    assert (row["sku"], row["description"], row[evil]) == ("v", evil, None)
