"""Hypothesis, with hostile JSON, on top of tests/mapping/test_mapping_bundled.py's fuzz.

The bundled fuzz feeds ordinary JSON shapes. This one feeds what a hostile supplier sends:
NUL bytes, unpaired surrogates, control and bidi characters, 5,000-digit integers, huge
floats, megabyte strings, lists nested hundreds deep, and keys that look like Python
internals, to every bundled mapping, the hardening supplier's, and a mapping whose
expressions multiply, format and join record values. Each record gives a row or a reject,
never an exception; every string in a row can be stored by both databases; and no record
takes long.
"""

from __future__ import annotations

import time
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.mapping import Reject, compile_mapping
from runner.spec.load import load_specs
from runner.spec.model import FieldSpec, MappingSpec
from tests.hardening.support import HERE, ROOT

HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff tail",
    "\u202e\u200b\ufeff",
    "\x1b[31m",
    "%s%s%n",
    "{0.__class__}",
    "'; DROP TABLE orders;--",
    "x" * 1_000_000,
    "🚀" * 1000,
]
KEYS = st.sampled_from(
    ["id", "name", "price", "stock", "sku", "s", "n", "f", "l", "__class__", "_x", ""]
) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([5000, 4400, 64, 9]).map(lambda digits: 10**digits)  # huge integers
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e308, -1e308, 5e-324])
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
    | st.sampled_from(HOSTILE_TEXT)
)


def nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


JSON = st.recursive(
    SCALARS | st.integers(min_value=100, max_value=900).map(nested),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
RECORDS = st.dictionaries(KEYS, JSON, max_size=8) | JSON

EXPRESSIONS = MappingSpec(
    name="hostile_expressions",
    target="imported_products",
    key="external_id",
    fields=(
        FieldSpec(name="external_id", source="id", type="string", required=True),
        FieldSpec(name="name", expr="record.s * record.n", type="string"),
        FieldSpec(name="description", expr="record.f % record.s", type="string"),
        FieldSpec(name="sku", expr="record.l | join(record.s)", type="string"),
        FieldSpec(name="brand", expr="record.s.center(record.n)", type="string"),
        FieldSpec(name="stock_quantity", expr="record.n ** record.n", type="integer"),
        FieldSpec(name="price", expr="record.price | decimal", type="decimal"),
        FieldSpec(name="category", expr="record | attr(record.s)", type="string"),
    ),
)


@cache
def mappings():
    specs = load_specs(ROOT / "specs", ROOT / "mappings")
    compiled = [compile_mapping(spec) for spec in specs.mappings.values()]
    return [*compiled, compile_mapping(load_acme()), compile_mapping(EXPRESSIONS)]


def load_acme() -> MappingSpec:
    import shutil
    import tempfile
    from pathlib import Path

    where = Path(tempfile.mkdtemp())
    shutil.copytree(ROOT / "specs", where / "specs")
    shutil.copytree(ROOT / "mappings", where / "mappings")
    shutil.copy(HERE / "specs" / "acme_product.yaml", where / "mappings")
    return load_specs(where / "specs").mappings["acme_product"]


def storable(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(record=RECORDS)
def test_hostile_records_give_a_row_or_a_reject(record):
    for mapping in mappings():
        started = time.perf_counter()
        result = mapping.map(record)
        assert time.perf_counter() - started < 2.0, mapping.name
        if isinstance(result, Reject):
            assert result.reason and "\n" not in result.reason[:200]
        else:
            assert isinstance(result, dict)
            assert all(storable(v) for v in result.values()), (mapping.name, result)
