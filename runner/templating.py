"""One sandboxed jinja2 environment for every template and expression in the specs.

Templates (`"{{ credentials.api_key }}"`) render request values and resolve secrets at
request time; a missing variable is an error. Expressions (`record.stocks | sum(attribute=
'quantity')`) compute mapped fields and mock values and return native Python values; a
missing key yields None instead of raising, because source records are often sparse.
Both are compiled once and then called per request or per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Variables a spec may use, by context. The spec checker refuses any other name.
CONNECTOR_VARIABLES = frozenset({"credentials", "env", "settings", "integration"})
MAPPING_VARIABLES = frozenset({"record"})
MOCK_VARIABLES = frozenset({"record", "item", "index", "n"})


class DataFirstSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, reading a dict's key before a same-named method: in `record.items` or
    `record.values`, source data wins over `dict.items`. Also the faster path for dicts."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if obj.__class__ is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def decimal_filter(value: Any) -> Decimal:
    """`"22.46" | decimal` -> Decimal("22.46"). Strict, unlike the built-in `float` and `int`
    filters (which turn garbage into 0): a value that is not a number raises, so the mapping
    rejects the record with the reason instead of storing a wrong price."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


@lru_cache(maxsize=1)
def template_environment() -> ImmutableSandboxedEnvironment:
    return DataFirstSandbox(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=1)
def expression_environment() -> ImmutableSandboxedEnvironment:
    env = DataFirstSandbox(undefined=ChainableUndefined, autoescape=False)
    env.filters["decimal"] = decimal_filter
    return env


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def compile_template(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Compile a string template once; the result renders it with the given variables."""
    template = template_environment().from_string(source)
    return lambda variables: template.render(variables)


def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """Compile an expression once; the result evaluates it to a native value (or None).

    Evaluation builds the render context directly from a precomputed copy of the globals:
    jinja2's own call copies them from a ChainMap each time, which costs about 6 us of the
    7 us a simple expression takes (this matters per record, in mappings and mocks).
    """
    env = expression_environment()
    expression = env.compile_expression(source, undefined_to_none=False)
    template = getattr(expression, "_template", None)
    if template is None:  # a jinja2 without the internals used below: the plain call

        def evaluate_plain(variables: Mapping[str, Any]) -> Any:
            value = expression(variables)
            return None if isinstance(value, Undefined) else value

        return evaluate_plain

    render = template.root_render_func
    base = dict(template.globals)
    new_context = env.context_class

    def evaluate(variables: Mapping[str, Any]) -> Any:
        context = new_context(env, {**base, **variables}, None, {})
        for _ in render(context):
            pass
        value = context.vars["result"]
        return None if isinstance(value, Undefined) else value

    return evaluate


def template_variables(source: str, *, expression: bool = False) -> set[str]:
    """Top-level names a template or expression reads (for the spec checker).

    Raises jinja2.TemplateSyntaxError on a syntax error.
    """
    env = expression_environment() if expression else template_environment()
    text = "{{ (" + source + ") }}" if expression else source
    return set(meta.find_undeclared_variables(env.parse(text)))
