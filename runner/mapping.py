"""Mapping specs compiled once into fast record -> row functions.

`compile_mapping(spec)` turns a `MappingSpec` into a `CompiledMapping` whose `map(record)`
returns either a row (each written column -> its coerced value, plus `content_hash`) or a
`Reject` naming the field and the reason. It never raises, whatever the record holds: a
broken record is set aside and the job goes on.

Everything that can be decided once is decided at compile time: each path becomes a tuple of
steps read by a specialised closure, each expression is compiled once by the shared sandboxed
jinja2 environment, constants and defaults are coerced once, value maps are normalised to
their string keys, and the per-record function is generated as straight-line Python (see
`CompiledMapping.source`), so a one-key string column costs no function call at all.

Coercion rules (a blank string counts as missing, then `default`, then `required`):
- string: str as is; int, Decimal and whole floats in plain digits; bool as true/false.
- integer: int, whole float or Decimal, or a numeric string; within PostgreSQL INTEGER.
- decimal: int, float, Decimal or a numeric string -> Decimal quantized to cents (half up),
  within the `Money` column (NUMERIC(14, 2)).
- boolean: true/false, 1/0, and the strings true/false/1/0/yes/no/y/n/on/off.
- datetime: ISO 8601 (also "YYYY-MM-DD HH:MM:SS"), or epoch seconds (milliseconds when the
  number is beyond year 5138) -> aware UTC; a naive time is taken as UTC.
- list: a list (an expression may also give a tuple or a generator).
- json: any JSON value.
Numbers that are NaN or infinite are refused by every type (JSON cannot store them).

Then each column's domain (runner/spec/columns.py): price, cost and stock at least 0, text
no longer than the column. A value outside it rejects the record, unless the field says
`clamp: true` (raised to the minimum, cut to the length).

Why one module of this size: the compiler generates one function from all of these parts
(paths, coercions, expressions, value maps, hashes); `MAPPING_CODE_VERSION` stands for this
file, so a stored `source_hash` depends on one place only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import msgspec
import xxhash
from jinja2 import Undefined
from xxhash import xxh3_64_intdigest, xxh3_128_hexdigest

from runner.paths import compile_path, parse_path
from runner.spec.columns import COLUMN_DOMAINS, Domain
from runner.spec.model import FieldSpec, MappingSpec
from runner.templating import compile_expression, template_variables

# Mirrors `Money` in runner/db/tables.py (a test keeps them equal).
DECIMAL_DIGITS = 14
DECIMAL_PLACES = 2
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1  # PostgreSQL INTEGER
HASH_COLUMN = "content_hash"
SOURCE_HASH_COLUMN = "source_hash"
# The text of a record for its source_hash, and of a row's values for its content_hash.
_SORTED_JSON = msgspec.json.Encoder(order="sorted")


# The version of the code a mapped row depends on: how mapping.py, paths.py and
# templating.py read, coerce and hash values. It keys every source_hash, so bumping it has
# every record of every catalogue mapped again once. Bump it with any change to that code's
# behaviour; tests/mapping/test_mapping_code_version.py fails until you do (comments and
# docstrings do not count), and its docstring says how.
MAPPING_CODE_VERSION = 2
# What keys a source_hash besides the spec: that version, and the libraries that encode
# and hash (their output may change with their version).
_CODE = f"{MAPPING_CODE_VERSION} {msgspec.__version__} {xxhash.XXHASH_VERSION}"

_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
# Exclusive bounds that still fit after rounding to DECIMAL_PLACES.
_DECIMAL_LIMIT = Decimal(10) ** (DECIMAL_DIGITS - DECIMAL_PLACES) - _QUANTUM / 2
_FLOAT_LIMIT = float(_DECIMAL_LIMIT) - 0.01
_EPOCH_MS_THRESHOLD = 1e11  # larger epoch numbers are milliseconds
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_REASON_VALUE_CHARS = 60
MAX_DEFAULTED_VALUES = 20  # distinct unknown values kept per field; the rest are OTHER_VALUES
OTHER_VALUES = "(other values)"


@dataclass(frozen=True, slots=True)
class Reject:
    """A record set aside: the field that failed (None for the record as a whole), why, the
    source payload as received, and the record's id when it could be read."""

    field: str | None
    reason: str
    payload: Any
    external_id: str | None


class Invalid(Exception):
    """A value cannot become its field's type; `reason` is the reject reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _show(value: Any) -> str:
    """A short, safe rendering of a bad value for a reject reason."""
    text = repr(value)
    if len(text) > _REASON_VALUE_CHARS:
        text = text[: _REASON_VALUE_CHARS - 3] + "..."
    return text


# ---------------------------------------------------------------------------------------------
# Coercion: each function takes a present value and returns the typed value, or None when the
# value is blank; it raises Invalid when the value cannot be that type.


def _blank(value: str) -> bool:
    return not value or value.isspace()


# What no database column can hold as text: NUL (Postgres refuses it in text) and unpaired
# surrogates (not encodable as UTF-8, so neither SQLite nor Postgres can take them). The
# record is rejected with the reason on every database alike (docs/security.md).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    bad = _UNSTORABLE.search(value)
    if bad is None:
        return value
    what = "a NUL character" if bad.group() == "\x00" else "an unpaired surrogate"
    raise Invalid(
        f"contains {what} ({bad.group()!r} at position {bad.start()}), which no database "
        "can store as text"
    )


def to_string(value: Any) -> str | None:
    cls = value.__class__
    if cls is str:
        return None if _blank(value) else _storable(value)
    if cls is int or cls is Decimal:
        return str(value)
    if cls is float:
        if value.is_integer():
            return str(int(value))
        if math.isfinite(value):
            return repr(value)
    if cls is bool:
        return "true" if value else "false"
    if isinstance(value, str):  # str subclasses, e.g. jinja2 Markup
        return None if _blank(value) else _storable(str(value))
    raise Invalid(f"expected a string, got {_show(value)}")


def to_integer(value: Any) -> int | None:
    cls = value.__class__
    if cls is int:
        result = value
    elif cls is str:
        if _blank(value):
            return None
        try:
            result = int(value)
        except ValueError:
            result = _whole(_parse_decimal(value, "an integer"), value)
    elif cls is float:
        if not value.is_integer():
            if not math.isfinite(value):
                raise Invalid(f"not a finite number: {_show(value)}")
            raise Invalid(f"expected an integer, got {_show(value)}")
        result = int(value)
    elif cls is Decimal:
        result = _whole(value, value)
    else:
        raise Invalid(f"expected an integer, got {_show(value)}")
    if not INTEGER_MIN <= result <= INTEGER_MAX:
        raise Invalid(f"integer out of range: {_show(value)}")
    return result


def _whole(number: Decimal, value: Any) -> int:
    if not number.is_finite():
        raise Invalid(f"expected an integer, got {_show(value)}")
    if not INTEGER_MIN <= number <= INTEGER_MAX:  # before int(): 1e999999999 is a huge int
        raise Invalid(f"integer out of range: {_show(value)}")
    if number != number.to_integral_value():
        raise Invalid(f"expected an integer, got {_show(value)}")
    return int(number)


def _parse_decimal(text: str, expected: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise Invalid(f"expected {expected}, got {_show(text)}") from None


def to_decimal(value: Any) -> Decimal | None:
    cls = value.__class__
    if cls is float:
        if not -_FLOAT_LIMIT < value < _FLOAT_LIMIT:  # also false for NaN
            if not math.isfinite(value):
                raise Invalid(f"not a finite number: {_show(value)}")
            raise Invalid(f"decimal out of range: {_show(value)}")
        return Decimal(repr(value)).quantize(_QUANTUM, ROUND_HALF_UP)
    if cls is str:
        try:  # Decimal() strips surrounding whitespace itself, as _parse_decimal does
            number = Decimal(value)
        except InvalidOperation:
            if _blank(value):
                return None
            raise Invalid(f"expected a decimal, got {_show(value)}") from None
    elif cls is int:
        number = Decimal(value)
    elif cls is Decimal:
        number = value
    else:
        raise Invalid(f"expected a decimal, got {_show(value)}")
    if not number.is_finite():
        raise Invalid(f"not a finite number: {_show(value)}")
    if not -_DECIMAL_LIMIT < number < _DECIMAL_LIMIT:
        raise Invalid(f"decimal out of range: {_show(value)}")
    return number.quantize(_QUANTUM, ROUND_HALF_UP)


def to_boolean(value: Any) -> bool | None:
    cls = value.__class__
    if cls is bool:
        return value
    if cls is int or cls is float:
        if value == 1:
            return True
        if value == 0:
            return False
    elif cls is str:
        if _blank(value):
            return None
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Invalid(f"expected a boolean, got {_show(value)}")


def to_datetime(value: Any) -> datetime | None:
    cls = value.__class__
    if cls is str:
        if _blank(value):
            return None
        text = value.strip()
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            if not text.lstrip("-").isdigit():
                raise Invalid(f"expected a datetime, got {_show(value)}") from None
            return _from_epoch(int(text), value)
    elif cls is int or cls is float:
        return _from_epoch(value, value)
    elif cls is datetime:
        result = value
    elif cls is date:
        result = datetime(value.year, value.month, value.day)
    else:
        raise Invalid(f"expected a datetime, got {_show(value)}")
    if result.tzinfo is None:
        return result.replace(tzinfo=UTC)
    try:
        return result.astimezone(UTC)
    except OverflowError:
        raise Invalid(f"datetime out of range: {_show(value)}") from None


def _from_epoch(number: float, value: Any) -> datetime:
    try:
        if abs(number) >= _EPOCH_MS_THRESHOLD:
            number = number / 1000
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"datetime out of range: {_show(value)}") from None


def to_list(value: Any) -> list | None:
    if isinstance(value, list):
        return _finite(value)
    if isinstance(value, tuple | types.GeneratorType | map | filter):
        return _finite(list(value))
    raise Invalid(f"expected a list, got {_show(value)}")


def to_json(value: Any) -> Any:
    return _finite(value)


def _finite(value: Any) -> Any:
    """`value` itself, unless it holds NaN or an infinity somewhere: JSON has no token for
    them (Postgres refuses `NaN`), so such a record is rejected, on every database alike."""
    stack = [value]
    while stack:
        item = stack.pop()
        cls = item.__class__
        if cls is float:
            if not math.isfinite(item):
                raise Invalid(f"not a finite number: {_show(item)}")
        elif cls is dict:
            stack.extend(item.values())
        elif cls is list or cls is tuple:
            stack.extend(item)
    return value


COERCERS: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "integer": to_integer,
    "decimal": to_decimal,
    "boolean": to_boolean,
    "datetime": to_datetime,
    "list": to_list,
    "json": to_json,
}


def plain(value: Any) -> Any:
    """An expression's result as plain JSON data: tuples and generators become lists, keys
    strings, Decimals and datetimes strings, and jinja2 Undefined None."""
    if value is None or value.__class__ in (str, int, float, bool):
        return value
    if isinstance(value, Undefined):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | types.GeneratorType | map | filter):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float):  # subclasses (Markup, bool is handled above)
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# Content hash
#
# The hashed text is the JSON of the hashed column names, then that of their coerced values,
# in column-name order, with the keys of every object sorted (the order of a source's keys
# never matters). Decimals are quantized strings, datetimes aware UTC: one text per value.
# The hash is XXH3-128 (xxhash): it detects changes, it is no security boundary (a supplier
# that could forge a collision controls its records anyway), and at 0.1 us a record it is a
# tenth of blake2b's cost, paid twice per record (source_hash and content_hash).


def _digest(prefix: bytes, values: tuple[Any, ...]) -> str:
    """The hash of `values` of the columns whose names `prefix` encodes, in that order.
    `CompiledMapping` generates the same expression inline."""
    return xxh3_128_hexdigest(prefix + _SORTED_JSON.encode(values))


def content_hash(values: Mapping[str, Any]) -> str:
    """XXH3-128 (hex) of a row's mapped values, as `CompiledMapping.map` computes it:
    independent of the order of the columns and of the keys inside list and JSON values."""
    names = tuple(sorted(values))
    return _digest(_SORTED_JSON.encode(names), tuple(values[name] for name in names))


# ---------------------------------------------------------------------------------------------
# Compiling one field


def map_key(value: Any) -> str:
    """The string form a value map is keyed by: "1" for 1 or 1.0, "true" for True."""
    if value.__class__ is str:
        return value
    try:
        return to_string(value) or ""
    except Invalid:
        return json.dumps(plain(value), sort_keys=True)


def _reader(spec: FieldSpec) -> Callable[[Any, Any], Any]:
    """A field's reader: (record, the account's settings) -> value."""
    if spec.source is not None:
        get = compile_path(spec.source)
        return lambda record, settings: get(record)
    if spec.expr is not None:
        evaluate = compile_expression(spec.expr)
        convert = plain if spec.type in ("list", "json") else None

        def read_expr(record: Any, settings: Any) -> Any:
            try:
                value = evaluate({"record": record, "settings": settings})
            except Invalid:
                raise
            except Exception as exc:  # the sandbox, a filter, arithmetic on bad data
                raise Invalid(f"expression failed: {type(exc).__name__}: {exc}") from None
            return convert(value) if convert is not None and value is not None else value

        return read_expr
    return lambda record, settings: None  # a constant: the value is the field's default


def _translator(
    spec: FieldSpec, on_default: Callable[[str, str], None] | None = None
) -> Callable[[Any], Any]:
    """A value map as a function: value -> our value (None for a blank value).

    A value missing from the map becomes `map_default` and is reported to `on_default`
    (field name, value as text), so that the job can count what it did not recognise."""
    table = {map_key(k): v for k, v in (spec.map or {}).items()}
    unmapped = spec.map_default
    name = spec.name

    def translate(value: Any) -> Any:
        if value.__class__ is str and _blank(value):
            return None
        key = map_key(value)
        if key in table:
            return table[key]
        if unmapped is not None:
            if on_default is not None:
                on_default(name, key)
            return unmapped
        raise Invalid(f"unmapped value {_show(value)}")

    return translate


def _domain_code(
    i: int, spec: FieldSpec, domain: Domain | None, namespace: dict[str, Any]
) -> str | None:
    """The source line that keeps column i's value inside its domain (runner/spec/columns.py):
    one comparison inline, a call only for a value outside it, which rejects the record or,
    with `clamp: true`, is raised to the minimum or cut to the length."""
    if domain is None:
        return None
    if domain.minimum is not None and spec.type in ("integer", "decimal"):
        lowest = COERCERS[spec.type](domain.minimum)

        def raise_to_minimum(value: Any) -> Any:
            if spec.clamp:
                return lowest
            raise Invalid(f"below the minimum of {domain.minimum}: {_show(value)}")

        namespace[f"LO{i}"], namespace[f"FIX{i}"] = domain.minimum, raise_to_minimum
        return f"if v is not None and v < LO{i}: v = FIX{i}(v)"
    if domain.max_length is not None and spec.type == "string":
        cap = domain.max_length

        def cut_to_length(value: str) -> str:
            if spec.clamp:
                return value[:cap]
            raise Invalid(f"longer than {cap} characters ({len(value)}): {_show(value)}")

        namespace[f"LEN{i}"], namespace[f"FIX{i}"] = cap, cut_to_length
        return f"if v is not None and len(v) > LEN{i}: v = FIX{i}(v)"
    return None


def _field_code(
    i: int,
    spec: FieldSpec,
    namespace: dict[str, Any],
    domain: Domain | None = None,
    on_default: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Source lines computing column i into `v{i}`; what they use goes into `namespace`.

    Order: read (path, expression or constant) -> value map -> coercion (a blank string
    counts as missing) -> `default` when missing -> the column's domain -> `required`
    check. Only names are written into the source; every value from the spec is bound in
    `namespace`.
    """
    coerce = COERCERS[spec.type]
    constant = spec.value if spec.source is None and spec.expr is None else None
    fallback = constant if constant is not None else spec.default
    try:
        default = coerce(fallback) if fallback is not None else None
    except Invalid as exc:
        raise ValueError(f"field {spec.name!r}: bad default or value: {exc.reason}") from None
    keep_in_domain = _domain_code(i, spec, domain, namespace)
    if keep_in_domain is not None and default is not None:  # checked once, here
        scope = {**namespace, "v": default}
        try:
            exec(keep_in_domain, scope)
        except Invalid as exc:
            raise ValueError(f"field {spec.name!r}: bad default or value: {exc.reason}") from None
        default = scope["v"]
        if constant is not None:
            keep_in_domain = None

    lines = []
    steps = parse_path(spec.source) if spec.source is not None else None
    if steps is not None and len(steps) == 1 and isinstance(steps[0], str):
        namespace[f"K{i}"] = steps[0]
        lines.append(f"v = record.get(K{i})")  # the common case, no call: records are dicts
    elif spec.source is not None or spec.expr is not None:
        namespace[f"R{i}"] = _reader(spec)
        lines.append(f"v = R{i}(record, settings)")
    else:
        lines.append("v = None")  # a constant: the default below
    if spec.map is not None and constant is None:
        namespace[f"T{i}"] = _translator(spec, on_default)
        lines.append(f"if v is not None: v = T{i}(v)")
    namespace[f"C{i}"] = coerce
    if constant is not None:
        pass  # already coerced, as the default
    elif spec.type == "string":  # a non-blank, storable str needs no call
        # isascii() is O(1) and an ASCII string holds no surrogate: only NUL is left to find.
        lines.append(
            "if v is not None and (v.__class__ is not str or not v or v.isspace() or"
            f" (NUL in v if v.isascii() else UNSTORABLE(v))): v = C{i}(v)"
        )
    else:
        lines.append(f"if v is not None: v = C{i}(v)")
    if default is not None:
        namespace[f"D{i}"] = default
        lines.append(f"if v is None: v = D{i}")
    if keep_in_domain is not None:
        lines.append(keep_in_domain)
    if default is None and spec.required:
        lines.append("if v is None: raise Invalid('missing required field')")
    lines.append(f"v{i} = v")
    return lines


# ---------------------------------------------------------------------------------------------
# Compiling a mapping


class CompiledMapping:
    """A mapping spec, compiled: `map(record)` -> row dict or Reject, never an exception.

    The per-record function is generated Python source, compiled once (see `source`): one
    straight block per column, then the row and its hash, with no call for the common cases
    (a one-key path, a string). Spec values never enter the source; they are bound names.
    """

    def __init__(self, spec: MappingSpec, fields: Iterable[str] | None = None) -> None:
        by_name = {field.name: field for field in spec.fields}
        if spec.key not in by_name:
            raise ValueError(f"mapping {spec.name!r}: key {spec.key!r} is not a mapped field")
        wanted = None if fields is None else set(fields)
        names = [spec.key] + [
            f.name
            for f in spec.fields
            if f.name != spec.key and (wanted is None or f.name in wanted)
        ]
        self.name = spec.name
        self.target = spec.target
        self.key = spec.key
        self.columns: tuple[str, ...] = tuple(names)
        self._read_key = _reader(by_name[spec.key])
        # Values a value map did not know and turned into its `map_default`:
        # field -> {value as text: count}, at most MAX_DEFAULTED_VALUES values per field.
        self.defaulted: dict[str, dict[str, int]] = {}
        specs = [by_name[n] for n in names]
        self.source, self._map = self._generate(specs)
        # What a row depends on besides the record: the spec of the written fields and the
        # code that reads, coerces and hashes values.
        behaviour = repr((_CODE, spec.target, spec.key, specs))
        self._source_seed = int.from_bytes(
            hashlib.blake2b(behaviour.encode(), digest_size=8).digest()
        )
        self.reads_settings = any(
            f.expr is not None and "settings" in template_variables(f.expr, expression=True)
            for f in specs
        )
        self.settings: Mapping[str, Any] = {}

    def for_settings(self, settings: Mapping[str, Any] | None) -> CompiledMapping:
        """This mapping for one account: its expressions read these `settings`. Nothing is
        compiled again (the generated function takes the settings as an argument); when
        the mapping reads settings, they also key the `source_hash`, so that a change of
        settings maps every record again."""
        bound = copy.copy(self)
        bound.settings = dict(settings or {})
        if self.reads_settings:
            text = _SORTED_JSON.encode(plain(bound.settings))
            bound._source_seed = xxh3_64_intdigest(text, self._source_seed)
        return bound

    def _generate(self, specs: list[FieldSpec]) -> tuple[str, Callable[[dict, Any], dict]]:
        namespace: dict[str, Any] = {
            "Invalid": Invalid,
            "Reject": Reject,
            "HASH": HASH_COLUMN,
            "XXH3": xxh3_128_hexdigest,
            "ENCODE": _SORTED_JSON.encode,
            "failed": self._failed,
            "UNSTORABLE": _UNSTORABLE.search,
            "NUL": "\x00",
        }
        body: list[str] = []
        domains = COLUMN_DOMAINS.get(self.target, {})
        for i, spec in enumerate(specs):
            namespace[f"N{i}"] = spec.name
            domain = domains.get(spec.name)
            body += [f"field = {i}", *_field_code(i, spec, namespace, domain, self._count_default)]
        body.append("row = {" + ", ".join(f"N{i}: v{i}" for i in range(len(specs))) + "}")
        hashed = sorted((s.name, i) for i, s in enumerate(specs) if s.hash)
        namespace["PREFIX"] = _SORTED_JSON.encode(tuple(name for name, _ in hashed))
        values = "".join(f"v{i}, " for _, i in hashed)
        body += [
            "field = None",
            f"row[HASH] = XXH3(PREFIX + ENCODE(({values})))",
            "return row",
        ]
        source = "\n".join(
            [
                "def map_record(record, settings):",
                "    try:",
                *(f"        {line}" for line in body),
                "    except Exception as exc:  # never let one record kill the job",
                "        return failed(record, field, exc)",
            ]
        )
        self._names = tuple(s.name for s in specs)
        exec(compile(source, f"<mapping {self.name}>", "exec"), namespace)
        return source, namespace["map_record"]

    def _count_default(self, field_name: str, value: str) -> None:
        values = self.defaulted.setdefault(field_name, {})
        value = value[:_REASON_VALUE_CHARS]
        if value not in values and len(values) >= MAX_DEFAULTED_VALUES:
            value = OTHER_VALUES
        values[value] = values.get(value, 0) + 1

    @property
    def defaulted_count(self) -> int:
        """How many values were unknown to their value map and got its `map_default`."""
        return sum(sum(values.values()) for values in self.defaulted.values())

    def defaulted_note(self) -> str:
        """For a log line: "; unknown values given their map_default: status 'x' (3)"."""
        parts = [
            f"{name} {value!r} ({count})"
            for name, values in self.defaulted.items()
            for value, count in values.items()
        ]
        return "; unknown values given their map_default: " + ", ".join(parts) if parts else ""

    def __repr__(self) -> str:
        return f"<CompiledMapping {self.name} -> {self.target} {self.columns}>"

    @property
    def fingerprint(self) -> str:
        """What a row depends on besides its record (the written fields' spec, the code)."""
        return f"{self._source_seed:016x}"

    def source_hashes(self, records: Iterable[Any]) -> tuple[list[str | None], list[str | None]]:
        """Each record's key and `source_hash`: XXH3-128 of its canonical JSON (sorted keys),
        keyed by what else the mapped row depends on (see `__init__`). Equal hashes mean
        equal rows, so a sync need not map a record whose row already carries its hash.
        None where it cannot be told (no readable key, a value JSON cannot hold): such a
        record is always mapped."""
        keys: list[str | None] = []
        digests: list[str | None] = []
        key_of, seed, dumps = self.external_id, self._source_seed, _SORTED_JSON.encode
        xxh3 = xxh3_128_hexdigest
        for record in records:
            if record.__class__ is not dict:
                keys.append(None)
                digests.append(None)
                continue
            keys.append(key_of(record))
            try:
                text = dumps(record)
            except (TypeError, ValueError):  # a non-string key, an unpaired surrogate
                digests.append(None)
                continue
            digests.append(xxh3(text, seed))
        return keys, digests

    def map(self, record: Any) -> dict[str, Any] | Reject:
        if record.__class__ is not dict and not isinstance(record, dict):
            return Reject(None, "record is not an object", record, None)
        return self._map(record, self.settings)

    def _failed(self, record: dict, field: int | None, exc: Exception) -> Reject:
        name = None if field is None else self._names[field]
        if isinstance(exc, Invalid):
            reason = exc.reason
        else:
            reason = f"mapping failed: {type(exc).__name__}: {exc}"
        return Reject(name, reason, record, self.external_id(record))

    def map_page(self, records: Iterable[Any]) -> tuple[list[dict[str, Any]], list[Reject]]:
        rows: list[dict[str, Any]] = []
        rejects: list[Reject] = []
        map_one = self.map
        for record in records:
            result = map_one(record)
            if result.__class__ is Reject:
                rejects.append(result)  # type: ignore[arg-type]
            else:
                rows.append(result)  # type: ignore[arg-type]
        return rows, rejects

    def external_id(self, record: Any) -> str | None:
        """The record's key as a string, or None when it cannot be read."""
        try:
            value = self._read_key(record, self.settings)
            return None if value is None else to_string(value)
        except Exception:
            return None


def compile_mapping(spec: MappingSpec, fields: Iterable[str] | None = None) -> CompiledMapping:
    """Compile a mapping once. `fields` narrows the written columns to those it names (the key
    is always written; names the mapping does not map are ignored, so a sync type's field
    list can be passed as is). The content hash covers only the written columns."""
    return CompiledMapping(spec, fields)
