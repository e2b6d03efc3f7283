"""One budget per evaluation: amplification through shared references, chains and scans.

Every single operation of the sandbox was already capped, but they did not add up: a list
of 300 references to one 500,000-character string is 300 items, and joining it, `~`-ing it,
printing it with `|string` or `|tojson`, or formatting it builds 150 MB. Each evaluation now
has one budget (runner/templating.py): what its operations build adds up (counted as the
text they would make), the counted operations are bounded, and so is the result. `validate`
refuses what is unbounded on its face (a constant repeat count over `MAX_REPEAT`, a `sum`
that does not add numbers, a statement smuggled into an expression); at run time a record
that exceeds the budget is rejected with the reason, and the other records map.
"""

from __future__ import annotations

import time

import pytest

from runner.mapping import compile_mapping
from runner.spec.model import FieldSpec, MappingSpec
from runner.templating import UnsafeTemplate, check_source, compile_expression
from tests.hardening.support import ROOT, cli
from tests.hardening.test_hardening_sandbox import fails_fast_with_bounded_memory

SHARED = "([record.s * record.k] * record.n)"  # 300 references to one 500,000-char string
DATA = {"s": "x", "k": 500_000, "n": 300}
AMPLIFIERS = {
    "join": f"{SHARED} | join",
    "join_repeated_name": "([record.name] * record.big) | join",
    "tilde": f"{SHARED} ~ ''",
    "tilde_chain": "(record.s * record.k) ~ (record.s * record.k) ~ (record.s * record.k)",
    "string": f"{SHARED} | string",
    "tojson": f"{SHARED} | tojson",
    "escape": f"{SHARED} | e",
    "format_filter": f"'%s' | format({SHARED})",
    "format_star": "'{}{}{}'.format(*([record.s * record.k] * 3))",
    "percent": f"'%s' % ({SHARED},)",
    "str_join": f"''.join({SHARED})",
    "result": SHARED,  # the expression's result itself
    "sum_lists": "record.lists | sum(start=record.empty)",  # refused when it runs
    "select_in": "record.l | select('in', record.l) | list",
    "map_in_scan": "record.l | map('string') | select('in', record.l | map('string') | list) | list",  # noqa: E501
}
RECORD = {
    **DATA,
    "name": "twelve chars",
    "big": 400_000,
    "lists": [[1]] * 50_000,
    "empty": [],
    "l": list(range(20_000)),
}


@pytest.mark.parametrize("source", AMPLIFIERS.values(), ids=AMPLIFIERS.keys())
def test_amplifications_exceed_the_budget_fast_with_bounded_memory(source):
    fails_fast_with_bounded_memory(source, RECORD)


def test_the_budget_is_per_evaluation_not_per_process():
    evaluate = compile_expression("(record.s * record.k) | length")
    for _ in range(5):  # 5 x 600,000 in total: each evaluation starts afresh
        assert evaluate({"record": {"s": "x", "k": 600_000}}) == 600_000


REFUSED = {
    "repeat_constant": "([record.name] * 999999) | join",
    "repeat_constant_left": "999999 * [record.name]",
    "big_literal": "([('x' * 999999)] * 300) | join",
    "sum_start_list": "record.l | sum(start=[])",
    "sum_start_text": "record.l | sum(start='')",
    "set_statement": "1) }}{% set x = record.name * 9 %}{{ (x",
    "two_outputs": "1) }}{{ (record.name",
}


@pytest.mark.parametrize("source", REFUSED.values(), ids=REFUSED.keys())
def test_what_is_unbounded_on_its_face_is_refused_before_compiling(source):
    with pytest.raises(UnsafeTemplate, match="refused by the sandbox"):
        check_source(source, expression=True)


ARITHMETIC = {
    "seconds_per_day": "1736380800 + index * 86400",
    "constant_first": "100000 * record.price",
    "cents": "(record.price * 100000) | round",
}


@pytest.mark.parametrize("source", ARITHMETIC.values(), ids=ARITHMETIC.keys())
def test_a_large_constant_times_a_number_is_arithmetic_not_a_repeat(source):
    check_source(source, expression=True)  # nothing refused: the budget still bounds it


def test_validate_refuses_an_unbounded_join_with_its_location(make_specs):
    specs = make_specs()
    mapping = specs.parent / "mappings" / "bigbuy_information.yaml"
    text = mapping.read_text()
    field = "  description: {from: description, type: string}"
    assert field in text
    unbounded = '  description: {expr: "([record.name] * 999999) | join", type: string}'
    mapping.write_text(text.replace(field, unbounded))
    done = cli("validate", "--specs", str(specs), cwd=ROOT)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "bigbuy_information.yaml:" in done.stdout
    assert "repeats a value 999,999 times; the limit is 10,000" in done.stdout


def test_a_mapping_rejects_the_record_over_budget_and_maps_the_rest():
    spec = MappingSpec(
        name="hostile",
        target="imported_products",
        key="external_id",
        fields=(
            FieldSpec(name="external_id", source="id", type="string", required=True),
            FieldSpec(name="description", expr="([record.name] * record.times) | join"),
        ),
    )
    mapping = compile_mapping(spec)
    records = [
        {"id": "1", "name": "ok", "times": 3},
        {"id": "2", "name": "twelve chars", "times": 999_999},
        {"id": "3", "name": "fine", "times": 1},
    ]
    started = time.perf_counter()
    rows, rejects = mapping.map_page(records)
    assert time.perf_counter() - started < 1.0
    assert [(row["external_id"], row["description"]) for row in rows] == [
        ("1", "okokok"),
        ("3", "fine"),
    ]
    [reject] = rejects
    assert reject.external_id == "2" and reject.field == "description"
    assert "the join filter would build" in reject.reason and "sandbox allows" in reject.reason


def test_a_big_record_maps_in_linear_time():
    """A 1.25 MB record through the bundled idioms: fast, whatever it holds."""
    spec = MappingSpec(
        name="big",
        target="imported_products",
        key="external_id",
        fields=(
            FieldSpec(name="external_id", source="id", type="string", required=True),
            FieldSpec(name="name", expr="record.text | truncate(200) | title"),
            FieldSpec(name="description", expr="record.tags | join(', ') | truncate(200)"),
            FieldSpec(name="stock_quantity", expr="record.stocks | sum", type="integer"),
            FieldSpec(name="brand", expr="(record.tags | unique | first) ~ '!'"),
        ),
    )
    record = {
        "id": "1",
        "text": "word " * 200_000,  # 1 MB
        "tags": [f"tag{i:06d}" for i in range(25_000)],  # 250 KB
        "stocks": [0] * 1000,
    }
    started = time.perf_counter()
    row = compile_mapping(spec).map(record)
    assert time.perf_counter() - started < 1.0
    assert row["brand"] == "tag000000!" and row["stock_quantity"] == 0
