"""One sandboxed jinja2 environment for every template and expression in the specs.

Templates (`"{{ credentials.api_key }}"`) render request values and resolve secrets at
request time; a missing variable is an error. Expressions (`record.stocks | sum(attribute=
'quantity')`) compute mapped fields and mock values and return native Python values; a
missing key yields None instead of raising, because source records are often sparse.
Both are compiled once and then called per request or per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Variables a spec may use, by context. The spec checker refuses any other name.
CONNECTOR_VARIABLES = frozenset({"credentials", "env", "settings", "integration"})
MAPPING_VARIABLES = frozenset({"record"})
MOCK_VARIABLES = frozenset({"record", "item", "index", "n"})


@lru_cache(maxsize=1)
def template_environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=1)
def expression_environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def compile_template(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Compile a string template once; the result renders it with the given variables."""
    template = template_environment().from_string(source)
    return lambda variables: template.render(variables)


def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """Compile an expression once; the result evaluates it to a native value (or None)."""
    expression = expression_environment().compile_expression(source, undefined_to_none=False)

    def evaluate(variables: Mapping[str, Any]) -> Any:
        value = expression(variables)
        return None if isinstance(value, Undefined) else value

    return evaluate


def template_variables(source: str, *, expression: bool = False) -> set[str]:
    """Top-level names a template or expression reads (for the spec checker).

    Raises jinja2.TemplateSyntaxError on a syntax error.
    """
    env = expression_environment() if expression else template_environment()
    text = "{{ (" + source + ") }}" if expression else source
    return set(meta.find_undeclared_variables(env.parse(text)))
