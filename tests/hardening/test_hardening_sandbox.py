"""Templates that try to escape the sandbox or exhaust CPU or memory are refused clearly.

Two layers (runner/templating.py, docs/security.md):
- `check_source` refuses escapes before anything compiles (the spec checker reports them
  with their location: see test_hardening_specs.py, which runs them through the CLI);
- at run time, values that come from data (a supplier's record) cannot build anything
  bigger than `MAX_BUILD`: each bomb below fails fast, with bounded memory, as a
  SecurityError, and the mapping turns it into a reject with that reason.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SecurityError

from runner.mapping import compile_mapping
from runner.spec.model import FieldSpec, MappingSpec
from runner.templating import (
    MAX_BUILD,
    UnsafeTemplate,
    check_source,
    compile_expression,
    compile_template,
    template_variables,
)

# Escapes known from jinja2 sandbox write-ups (SSTI payloads), as expressions.
ESCAPES = {
    "class": "record.__class__",
    "mro": "''.__class__.__mro__[1]",
    "mro_call": "record.mro()",
    "subclasses": "().__class__.__base__.__subclasses__()",
    "globals": "record.get.__globals__",
    "cycler_globals": "cycler.__init__.__globals__.os",
    "joiner_globals": "joiner.__init__.__globals__",
    "lipsum_globals": "lipsum.__globals__['os'].popen('id').read()",
    "namespace_globals": "namespace.__init__.__globals__",
    "template_reference": "self._TemplateReference__context",
    "self_init": "self.__init__.__globals__",
    "attr_filter": "record | attr('__class__')",
    "map_attribute": "[record] | map(attribute='__class__') | list",
    "sort_attribute": "[record] | sort(attribute='__class__.__name__') | list",
    "item_dunder": "record['__class__']",
    "format_field": "'{0.__class__.__init__.__globals__}'.format(record)",
    "frame": "(record.values() | list).gi_frame",
    "f_globals": "record.f_globals",
    "func_globals": "record.get.func_globals",
    "builtins_name": "record.__builtins__",
    "deep_brackets": "(" * 200 + "1" + ")" * 200,
    "deep_lists": "[" * 200 + "]" * 200,
    "deep_filters": "record" + " | first" * 200,
    "deep_not": "not " * 400 + "record",
    "long_source": "record.a or " * 2000 + "1",
}
TEMPLATE_ESCAPES = {
    "for_loop": "{% for a in record %}{% for b in record %}x{% endfor %}{% endfor %}",
    "macro": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "include": "{% include 'secrets.txt' %}",
    "import": "{% import 'x' as y %}",
    "extends": "{% extends 'base' %}",
    "call_block": "{% call record() %}x{% endcall %}",
    "filter_block": "{% filter upper %}x{% endfilter %}",
    "self_context": "{{ self._TemplateReference__context }}",
    "credential_class": "{{ credentials.api_key.__class__.__mro__ }}",
}
# Globals are gone: these names are unknown variables (the checker refuses them).
GLOBALS = {
    "range_bomb": "range(10**9) | list",
    "range": "range(10)",
    "lipsum_bomb": "lipsum(n=1000000)",
    "cycler": "cycler(1, 2)",
    "joiner": "joiner()",
    "namespace": "namespace(a=1)",
    "dict": "dict(a=1)",
}


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_escapes_are_refused_before_compiling(source):
    with pytest.raises(UnsafeTemplate, match="refused by the sandbox: "):
        check_source(source, expression=True)
    with pytest.raises(UnsafeTemplate):
        compile_expression(source)  # the run-time compile checks too, not only validate
    with pytest.raises(TemplateSyntaxError):  # what the spec checker calls and reports
        template_variables(source, expression=True)


@pytest.mark.parametrize("source", TEMPLATE_ESCAPES.values(), ids=TEMPLATE_ESCAPES.keys())
def test_template_statements_and_internals_are_refused(source):
    with pytest.raises(UnsafeTemplate, match="refused by the sandbox: "):
        compile_template(source)


@pytest.mark.parametrize("source", GLOBALS.values(), ids=GLOBALS.keys())
def test_jinja_globals_are_unknown_variables(source):
    name = source.split("(")[0]
    assert name in template_variables(source, expression=True)  # checker: unknown variable
    with pytest.raises(Exception, match="undefined"):
        compile_expression(source)({"record": {}})


# Bombs whose size comes from the data at run time: (expression, record).
BIG = 10**9
BOMBS = {
    "str_times": ("record.s * record.n", {"s": "ab", "n": BIG}),
    "times_str": ("record.n * record.s", {"s": "ab", "n": BIG}),
    "list_times": ("record.l * record.n", {"l": [1, 2], "n": BIG}),
    "literal_times": ("'a' * record.n", {"n": BIG}),
    "concat_grown": ("(record.s * record.k) + (record.s * record.k)", {"s": "a", "k": 999999}),
    "power": ("record.n ** record.n", {"n": BIG}),
    "power_literal": ("9 ** 99999999", {}),
    "percent_width": ("record.f % record.s", {"f": "%999999999s", "s": "a"}),
    "percent_star": ("record.f % (record.n, 'a')", {"f": "%*s", "n": BIG}),
    "percent_precision": ("'%.999999999f' % 1.5", {}),
    "format_width": ("'{:>999999999}'.format(record.s)", {"s": "a"}),
    "format_nested": ("'{:{}}'.format(record.s, record.n)", {"s": "a", "n": BIG}),
    "format_dynamic": ("record.f.format(record)", {"f": "{0.__class__}"}),
    "format_map": ("record.f.format_map(record)", {"f": "{s:>999999999}", "s": "a"}),
    "center_method": ("record.s.center(record.n)", {"s": "a", "n": BIG}),
    "ljust_method": ("record.s.ljust(record.n)", {"s": "a", "n": BIG}),
    "rjust_method": ("record.s.rjust(record.n)", {"s": "a", "n": BIG}),
    "zfill_method": ("record.s.zfill(record.n)", {"s": "1", "n": BIG}),
    "expandtabs": ("(record.t * 1000).expandtabs(record.n)", {"t": "\t", "n": 10**6}),
    "join_method": ("(record.s * record.k).join(record.l)", {"s": "x", "k": 999999, "l": [1, 2]}),
    "replace_method": ("(record.s * record.k).replace('a', record.s)", {"s": "a", "k": 999999}),
    "center_filter": ("record.s | center(record.n)", {"s": "a", "n": BIG}),
    "indent_filter": (
        "(record.nl * record.k) | indent(record.n)",
        {"nl": "\n", "n": 9, "k": 999999},
    ),
    "format_filter": ("record.f | format(record.s)", {"f": "%999999999s", "s": "a"}),
    "join_filter": ("record.l | join(record.s * record.k)", {"s": "x", "k": 999999, "l": [1, 2]}),
    "replace_filter": (
        "(record.s * record.k) | replace('a', record.s * 2)",
        {"s": "a", "k": 999999},
    ),
    "batch_fill": ("record.l | batch(record.n, 0) | list", {"l": [1], "n": BIG}),
    "slice_count": ("record.l | slice(record.n) | list", {"l": [1], "n": BIG}),
    "map_center": ("record.l | map('center', record.n) | list", {"l": ["a"], "n": BIG}),
    "attr_dynamic": ("record | attr(record.k)", {"k": "__class__"}),
    "getattr_dynamic": ("record[record.k]", {"k": "__class__"}),
    "items_dunder": ("record.s[record.k]", {"s": "abc", "k": "__class__"}),
}


@pytest.mark.parametrize("case", BOMBS.values(), ids=BOMBS.keys())
def test_data_driven_bombs_fail_fast_with_bounded_memory(case):
    fails_fast_with_bounded_memory(*case)


def fails_fast_with_bounded_memory(source: str, record: dict) -> None:
    """The expression raises the sandbox's SecurityError within 1 s and a few MB."""
    evaluate = compile_expression(source)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SecurityError, match=r"sandbox|not allowed|unsafe"):
            evaluate({"record": record})
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0, f"{source} took {elapsed:.2f}s"
    assert peak < 16 * MAX_BUILD, f"{source} allocated {peak:,} bytes"  # a few MB at most


def test_the_caps_leave_ordinary_work_alone():
    """The limits are far above what a mapping does: the bundled idioms still work."""
    ok = {
        "record.id * 10 + 3": 73,
        "'%08d' % (record.id % 100000000)": "00000007",
        "'%.2f' % (record.p | float * 1.4)": "14.00",
        "(record.p * 1.85 + 1) | round(2)": 19.5,
        "record.tags | join(', ')": "a, b",
        "record.s.split(';')": ["x", "y"],
        "'-' * 20": "-" * 20,
        "record.s | replace(';', '|')": "x|y",
        "2 ** 64": 2**64,
        "'{:>8}'.format(record.id)": "       7",
        "record.tags | batch(2) | list": [["a", "b"]],
        "record.s ~ record.s": "x;yx;y",
    }
    record = {"id": 7, "p": 10, "tags": ["a", "b"], "s": "x;y"}
    for source, expected in ok.items():
        assert compile_expression(source)({"record": record}) == expected, source


def test_a_mapping_turns_a_bomb_into_a_reject_and_goes_on():
    spec = MappingSpec(
        name="hostile",
        target="imported_products",
        key="external_id",
        fields=(
            FieldSpec(name="external_id", source="id", type="string", required=True),
            FieldSpec(name="name", expr="record.title * record.times", type="string"),
        ),
    )
    mapping = compile_mapping(spec)
    records = [
        {"id": "1", "title": "ok", "times": 2},
        {"id": "2", "title": "boom", "times": 10**12},
        {"id": "3", "title": "fine", "times": 1},
    ]
    started = time.perf_counter()
    rows, rejects = mapping.map_page(records)
    assert time.perf_counter() - started < 1.0
    assert [row["external_id"] for row in rows] == ["1", "3"]
    assert rows[0]["name"] == "okok"
    [reject] = rejects
    assert reject.external_id == "2"
    assert "SecurityError" in reject.reason and "sandbox allows" in reject.reason


def test_counts():
    """The numbers the closing note quotes (hostile templates tried in this file)."""
    assert len(ESCAPES) + len(TEMPLATE_ESCAPES) + len(GLOBALS) + len(BOMBS) >= 70
