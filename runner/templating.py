"""One sandboxed jinja2 environment for every template and expression in the specs.

Templates (`"{{ credentials.api_key }}"`) render request values and resolve secrets at
request time; a missing variable is an error. Expressions (`record.stocks | sum(attribute=
'quantity')`) compute mapped fields and mock values and return native Python values; a
missing key yields None instead of raising, because source records are often sparse.
Both are compiled once and then called per request or per record.

A spec is untrusted input (docs/security.md). Two layers keep a template inside its box:
- before compiling (and in the spec checker, so `validate` reports it with its location),
  `check_source` refuses what no spec value needs: names that reach Python internals
  (`__class__`, `_TemplateReference__context`, `mro`, `f_globals`, ...), `self`, loops,
  macros, includes, and sources too long or nested too deep to parse safely. The jinja2
  globals (`range`, `lipsum`, `cycler`, `joiner`, `namespace`, `dict`) are removed, so the
  checker reports them as unknown variables;
- while running, the sandbox refuses unsafe attributes with an error (not a silent None),
  and caps every operation that can build a big value from a small one: `*`, `**`, `%`,
  `+`, string padding and joining methods and filters, `batch`, `slice`, format widths.
  No single operation may build more than `MAX_BUILD` characters or items, or an integer
  of more than `MAX_POWER_BITS` bits, so CPU and memory stay bounded by the input size.

One budget holds per evaluation (per record, per rendered template): everything those
operations build adds up, and so do `~`, `join`, `format`, `|string`, `|tojson` and the other
filters that turn a value into text (`_STRINGIFYING_FILTERS`), counted by the size of the
text they would make (a list of 300 references to one 1 MB string is 300 MB of text). The
total may not pass `MAX_BUILD`, the counted operations `MAX_STEPS`, and an expression's result
`MAX_BUILD` characters or items. `sum` adds numbers only (`sum(start=[])` is quadratic). An
expression is one expression: `{% set %}` or any other statement smuggled in is refused.

Why one module of this size: the sandbox (what a template may reach) and the filters and
budgets it grants are one security boundary; kept together so that it is reviewed as one.
"""

from __future__ import annotations

import re
import string
import threading
import types
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import pass_eval_context

# Variables a spec may use, by context. The spec checker refuses any other name.
CONNECTOR_VARIABLES = frozenset({"credentials", "env", "settings", "integration"})
MAPPING_VARIABLES = frozenset({"record", "settings"})
MOCK_VARIABLES = frozenset({"record", "item", "index", "n"})


# Limits of the sandbox (see the module docstring).
MAX_BUILD = 1_000_000  # characters or items one evaluation may build, all operations together
MAX_STEPS = 100_000  # counted operations of one evaluation
MAX_REPEAT = 10_000  # a constant repeat count (`* 999999`) the checker lets through
MAX_POWER_BITS = 100_000  # bits of an integer power
MAX_SOURCE = 10_000  # characters of one template or expression
MAX_NESTING = 40  # brackets, and levels of the parsed tree / 3
UNSAFE_NAMES = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
    }
)
# Filters a spec may not use: nondeterministic, HTML-only, or able to build huge output.
REMOVED_FILTERS = ("random", "pprint", "urlize", "xmlattr", "wordwrap", "forceescape", "safe")
_REFUSED_STATEMENTS = (
    nodes.For,
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.Block,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.With,
    nodes.Scope,
    nodes.EvalContextModifier,
)
_FORMAT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class UnsafeTemplate(TemplateSyntaxError):
    """A template or expression uses what the sandbox refuses (see `check_source`)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"refused by the sandbox: {message}", 1)


class _Budget(threading.local):
    """What the current evaluation (of this thread) has built, and its counted operations."""

    built = 0
    steps = 0


_BUDGET = _Budget()


def _fresh_budget() -> None:
    budget = _BUDGET
    budget.built = 0
    budget.steps = 0


def _too_big(size: int, what: str) -> None:
    """Charge `size` characters or items built by `what` to the evaluation's budget."""
    budget = _BUDGET
    built = budget.built + size
    if size > MAX_BUILD or built > MAX_BUILD:
        raise SecurityError(
            f"{what} would build {size:,} characters or items ({built:,} in this "
            f"evaluation); the sandbox allows {MAX_BUILD:,}"
        )
    budget.built = built
    _steps(1)


def _steps(count: int) -> None:
    """Charge `count` operations (a filter or test applied per item, an `in` scan)."""
    budget = _BUDGET
    budget.steps += count
    if budget.steps > MAX_STEPS:
        raise SecurityError(f"more than {MAX_STEPS:,} operations; the sandbox allows that many")


def text_size(value: Any, limit: int = MAX_BUILD) -> int:
    """About how many characters `str(value)` or its JSON would hold, counted until past
    `limit` (so never more than `limit` steps, however much the value shares)."""
    cls = value.__class__
    if cls is str:
        return len(value)
    if cls is list:  # the common result: a flat list of texts and numbers, one pass
        total = len(value) + 2
        for item in value:
            kind = item.__class__
            if kind is str:
                total += len(item) + 2
            elif kind not in _SCALARS:
                break
        else:
            return total
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item) + 2
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 8  # a number, None, a date
    return total


def _charge_text(value: Any, what: str) -> None:
    _too_big(text_size(value), what)


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _check_percent_format(fmt: str) -> None:
    for match in _FORMAT_WIDTH.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise SecurityError("a '*' width in a % format is not allowed")
            if part is not None:
                _too_big(int(part), "a % format width")


def _check_brace_format(fmt: str) -> None:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises its own clear error
    for _, _, spec, _ in fields:
        if spec:
            if "{" in spec:
                raise SecurityError("a nested {} in a format spec is not allowed")
            for number in re.findall(r"\d+", spec):
                _too_big(int(number), "a format width")


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        if _sized(left) and isinstance(right, int):
            _too_big(len(left) * right, "'*'")
        elif _sized(right) and isinstance(left, int):
            _too_big(len(right) * left, "'*'")
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bits = right * abs(left).bit_length()
            if bits > MAX_POWER_BITS:
                raise SecurityError(
                    f"'**' would build a {bits:,}-bit integer; the sandbox allows "
                    f"{MAX_POWER_BITS:,}"
                )
    elif op == "%":
        if isinstance(left, str):
            _check_percent_format(left)
            _too_big(len(left) + text_size(right), "'%'")
    elif op == "+" and _sized(left) and _sized(right):
        _too_big(len(left) + len(right), "'+'")


def _check_str_method(method: Any, args: tuple, kwargs: dict) -> None:
    """Caps the str methods that pad, join or replace (the others cannot amplify): each
    charges the size of what it would build."""
    owner, name = method.__self__, method.__name__
    values = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill") and values:
        if isinstance(values[0], int):
            _too_big(values[0], f"str.{name}()")
    elif name == "expandtabs":
        size = values[0] if values and isinstance(values[0], int) else 8
        _too_big(len(owner) + owner.count("\t") * size, "str.expandtabs()")
    elif name == "join" and values:
        items = values[0]
        count = len(items) if hasattr(items, "__len__") else MAX_BUILD + 1
        _too_big(max(count - 1, 0) * len(owner), "str.join()")
        _charge_text(items, "str.join()")
    elif name == "replace" and len(values) >= 2:
        old, new = values[0], values[1]
        if isinstance(old, str) and isinstance(new, str):
            hits = owner.count(old) if old else len(owner) + 1
            _too_big(len(owner) + hits * len(new), "str.replace()")


class _BudgetedCodeGenerator(CodeGenerator):
    """jinja2's code generator, except that `~` calls the sandbox's `budgeted_concat`."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.budgeted_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class DataFirstSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, reading a dict's key before a same-named method: in `record.items` or
    `record.values`, source data wins over `dict.items`. Also the faster path for dicts.

    It also raises on unsafe attributes (instead of yielding an undefined value) and caps
    the operations that can build huge values (see the module docstring).
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BudgetedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.clear()  # range, lipsum, cycler, joiner, namespace, dict
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters.update(_CAPPED_FILTERS)
        self.tests["in"] = _counted_in
        for name in _STRINGIFYING_FILTERS:
            self.filters[name] = _stringifying(name, self.filters[name])

    def getattr(self, obj: Any, attribute: str) -> Any:
        if obj.__class__ is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is refused "
            "by the sandbox"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def budgeted_concat(self, parts: tuple) -> str:
        """`a ~ b ~ c`: charged the size of the text it makes, before making it."""
        size = 0
        for part in parts:
            size += len(part) if part.__class__ is str else text_size(part)
        budget = _BUDGET
        if budget.built + size > MAX_BUILD:
            _too_big(size, "'~'")
        budget.built += size
        return "".join(map(str, parts))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_brace_format(value.__self__)
        owner = value.__self__

        def budgeted(*args: Any, **kwargs: Any) -> str:
            _too_big(len(owner) + text_size([args, kwargs]), "str.format()")
            return wrapped(*args, **kwargs)

        return budgeted

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            _check_str_method(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _capped_center(value: Any, width: int = 80) -> str:
    _too_big(width if isinstance(width, int) else 0, "the center filter")
    return jinja_filters.do_center(value, width)


def _capped_indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    text = str(value)
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _too_big(len(text) + size * (text.count("\n") + 1), "the indent filter")
    return jinja_filters.do_indent(value, width, first, blank)


def _capped_format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(str(value))
    _too_big(text_size([value, args, kwargs]), "the format filter")
    return jinja_filters.do_format(value, *args, **kwargs)


@pass_eval_context
def _capped_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    _too_big(max(len(items) - 1, 0) * len(str(d)), "the join filter")
    if attribute is None:
        _charge_text(items, "the join filter")
    return jinja_filters.sync_do_join(eval_ctx, items, d, attribute)


def _capped_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """`sum` of numbers only: adding lists or strings one by one is quadratic."""
    if isinstance(start, bool) or not isinstance(start, int | float | Decimal):
        raise SecurityError(
            "sum adds numbers only: the sandbox refuses a start that is not a number"
        )
    return jinja_filters.sync_do_sum(environment, iterable, attribute, start)


_capped_sum.jinja_pass_arg = jinja_filters.sync_do_sum.jinja_pass_arg  # type: ignore[attr-defined]


def _counted_in(value: Any, seq: Any) -> bool:
    """The `in` test, which `select('in', record.list)` runs per item (quadratic): each
    scan counts as many steps as the container holds."""
    _steps(len(seq) + 1 if _sized(seq) else 1)
    return value in seq


# Filters that turn their whole input into text: charged the size of that text first.
_STRINGIFYING_FILTERS = (
    "string",
    "tojson",
    "e",
    "escape",
    "urlencode",
    "trim",
    "striptags",
    "title",
    "upper",
    "lower",
    "capitalize",
    "truncate",
    "wordcount",
)


# Of those, the ones whose text can outgrow a text input (`<` becomes `&lt;`).
_GROWING_FILTERS = frozenset({"tojson", "e", "escape", "urlencode"})


def _stringifying(name: str, apply: Callable[..., Any]) -> Callable[..., Any]:
    what = f"the {name} filter"
    growing = name in _GROWING_FILTERS
    at = 1 if hasattr(apply, "jinja_pass_arg") else 0  # after the context or environment

    def charged(*args: Any, **kwargs: Any) -> Any:
        if growing or args[at].__class__ is not str:
            _charge_text(args[at], what)
        return apply(*args, **kwargs)

    if hasattr(apply, "jinja_pass_arg"):
        charged.jinja_pass_arg = apply.jinja_pass_arg  # type: ignore[attr-defined]
    return charged


@pass_eval_context
def _capped_replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    hits = text.count(old_text) if old_text else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _too_big(len(text) + hits * len(new_text), "the replace filter")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


def _capped_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    if fill_with is not None and isinstance(linecount, int):
        _too_big(linecount, "the batch filter")
    return jinja_filters.do_batch(value, linecount, fill_with)


def _capped_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    if isinstance(slices, int):
        _too_big(slices, "the slice filter")
    return jinja_filters.sync_do_slice(value, slices, fill_with)


_CAPPED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _capped_center,
    "indent": _capped_indent,
    "format": _capped_format,
    "join": _capped_join,
    "replace": _capped_replace,
    "batch": _capped_batch,
    "slice": _capped_slice,
    "sum": _capped_sum,
}


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


def _bracket_depth(source: str) -> int:
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _parse(source: str, *, expression: bool) -> nodes.Template:
    """Parse after the checks that keep the parser itself bounded."""
    if len(source) > MAX_SOURCE:
        raise UnsafeTemplate(f"{len(source):,} characters; the limit is {MAX_SOURCE:,}")
    if _bracket_depth(source) > MAX_NESTING + 2:  # {{ }} themselves count twice
        raise UnsafeTemplate(f"brackets nested more than {MAX_NESTING} deep")
    env = expression_environment() if expression else template_environment()
    text = "{{ (" + source + ") }}" if expression else source
    try:
        return env.parse(text)
    except RecursionError:
        raise UnsafeTemplate("nested too deeply to parse") from None


def _private(name: object) -> bool:
    return isinstance(name, str) and ("__" in name or name in UNSAFE_NAMES)


def _depth(node: nodes.Node, limit: int) -> int:
    """Depth of the tree, without recursion; stops counting past `limit`."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in current.iter_child_nodes())
    return deepest


def check_source(source: str, *, expression: bool = False) -> nodes.Template:
    """Parse a template or expression and refuse what the sandbox does not allow.

    Raises `UnsafeTemplate` (a TemplateSyntaxError, so the spec checker reports it with its
    location) or TemplateSyntaxError; returns the parsed tree.
    """
    tree = _parse(source, expression=expression)
    if _depth(tree, MAX_NESTING * 3) > MAX_NESTING * 3:
        raise UnsafeTemplate(f"expression nested more than {MAX_NESTING * 3} levels deep")
    if expression and not (
        len(tree.body) == 1
        and isinstance(tree.body[0], nodes.Output)
        and len(tree.body[0].nodes) == 1
    ):
        raise UnsafeTemplate("an expression holds one expression: no {% %} or {{ }} tags")
    _check_unbounded(tree)
    for node in tree.find_all((nodes.Stmt, nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Const)):
        if isinstance(node, _REFUSED_STATEMENTS):
            what = type(node).__name__.lower()
            raise UnsafeTemplate(
                f"'{what}' statements are not allowed: a spec template renders one value"
            )
        if isinstance(node, nodes.Getattr) and _private(node.attr):
            raise UnsafeTemplate(f"attribute {node.attr!r} reaches Python internals")
        if isinstance(node, nodes.Name) and node.name == "self":
            raise UnsafeTemplate("'self' reaches the template runtime")
        if isinstance(node, nodes.Const) and _private(node.value):
            raise UnsafeTemplate(f"the name {node.value!r} reaches Python internals")
    return tree


# Filters whose result is a string or a list: multiplied by a constant, they repeat.
_SEQUENCE_FILTERS = frozenset({"string", "join", "tojson", "list", "format", "upper", "lower"})


def _is_sequence(node: nodes.Node) -> bool:
    """Whether `node` is a string or a list on its face (a literal, `~`, a repeat, or a filter
    that makes one); anything else (a number, a record's value) is left to the run-time
    budget."""
    if isinstance(node, nodes.List | nodes.Tuple | nodes.Concat | nodes.Mul):
        return True
    if isinstance(node, nodes.Const):
        return isinstance(node.value, str | list | tuple)
    return isinstance(node, nodes.Filter) and node.name in _SEQUENCE_FILTERS


def _check_unbounded(tree: nodes.Template) -> None:
    """Refuse what is unbounded on its face: a value repeated more than `MAX_REPEAT` times
    by a constant (`[record.name] * 999999`), a `sum` that does not add numbers."""
    for node in tree.find_all((nodes.Mul, nodes.Filter)):
        if isinstance(node, nodes.Mul):
            for side, other in ((node.left, node.right), (node.right, node.left)):
                if (
                    isinstance(side, nodes.Const)
                    and isinstance(side.value, int)
                    and side.value > MAX_REPEAT
                    and _is_sequence(other)  # `index * 86400` is arithmetic, not a repeat
                ):
                    raise UnsafeTemplate(
                        f"repeats a value {side.value:,} times; the limit is {MAX_REPEAT:,}"
                    )
        elif node.name == "sum":
            for keyword in node.kwargs:
                start = keyword.value
                literal = isinstance(start, nodes.List | nodes.Tuple | nodes.Dict)
                if keyword.key == "start" and (
                    literal
                    or (isinstance(start, nodes.Const) and not isinstance(start.value, int | float))
                ):
                    raise UnsafeTemplate("sum adds numbers only: its start must be a number")


def _output_too_big(value: Any) -> None:
    if value.__class__ in _SCALARS:
        if value.__class__ is str and len(value) > MAX_BUILD:
            _too_big(len(value), "the expression's result")
        return
    size = text_size(value)
    if size > MAX_BUILD:
        _too_big(size, "the expression's result")


_SCALARS = frozenset({str, int, float, bool, type(None), Decimal})


def compile_template(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Compile a string template once; the result renders it with the given variables."""
    check_source(source)
    template = template_environment().from_string(source)

    def render(variables: Mapping[str, Any]) -> str:
        _fresh_budget()
        return template.render(variables)

    return render


def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """Compile an expression once; the result evaluates it to a native value (or None).

    Evaluation builds the render context directly from a precomputed copy of the globals:
    jinja2's own call copies them from a ChainMap each time, which costs about 6 us of the
    7 us a simple expression takes (this matters per record, in mappings and mocks).
    """
    check_source(source, expression=True)
    env = expression_environment()
    expression = env.compile_expression(source, undefined_to_none=False)
    template = getattr(expression, "_template", None)
    if template is None:  # a jinja2 without the internals used below: the plain call

        def evaluate_plain(variables: Mapping[str, Any]) -> Any:
            _fresh_budget()
            value = expression(variables)
            _output_too_big(value)
            return None if isinstance(value, Undefined) else value

        return evaluate_plain

    render = template.root_render_func
    base = dict(template.globals)
    new_context = env.context_class

    budget = _BUDGET
    scalars = _SCALARS

    def evaluate(variables: Mapping[str, Any]) -> Any:
        budget.built = budget.steps = 0
        context = new_context(env, {**base, **variables}, None, {})
        for _ in render(context):
            pass
        value = context.vars["result"]
        # Only what the evaluation built can share references: a result made of the
        # record's own values (parsed JSON shares nothing) is as big as the record.
        cls = value.__class__
        if (cls is str and len(value) > MAX_BUILD) or (budget.built and cls not in scalars):
            _output_too_big(value)
        return None if isinstance(value, Undefined) else value

    return evaluate


def template_variables(source: str, *, expression: bool = False) -> set[str]:
    """Top-level names a template or expression reads (for the spec checker).

    Raises jinja2.TemplateSyntaxError on a syntax error, `UnsafeTemplate` on a construct
    the sandbox refuses.
    """
    return set(meta.find_undeclared_variables(check_source(source, expression=expression)))
