"""Fitting mapped rows to a target's columns before a write: one bad value becomes a reject
with a reason instead of failing the batch, and a batch's duplicate keys collapse to the
last row."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, Column, Integer, Numeric, String

from runner.db.write.batch import Target

INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class RowProblem:
    """A mapped row that does not fit its column (too long, out of range, missing)."""

    key: str | None
    field: str
    reason: str
    row: dict[str, Any] = field(repr=False)


def _column_checker(column: Column) -> Callable[[Any], Any]:
    """A function that returns the value fitted to `column` or raises ValueError(reason)."""
    col_type = column.type
    nullable = column.nullable

    def not_null(value: Any) -> Any:
        if value is None and not nullable:
            raise ValueError("is required (the column cannot be empty)")
        return value

    if isinstance(col_type, Numeric) and not isinstance(col_type, Integer):
        scale = col_type.scale or 0
        quantum = Decimal(1).scaleb(-scale)
        limit = Decimal(10) ** ((col_type.precision or 38) - scale)

        def numeric(value: Any) -> Any:
            if value is None:
                return not_null(value)
            try:
                number = value if isinstance(value, Decimal) else Decimal(str(value))
                number = number.quantize(quantum)
            except (InvalidOperation, ValueError) as exc:
                raise ValueError(f"is not a number: {value!r}") from exc
            if not number.is_finite() or abs(number) >= limit:
                raise ValueError(f"is out of range: {value}")
            return number

        return numeric
    if isinstance(col_type, Integer):

        def integer(value: Any) -> Any:
            if value is None:
                return not_null(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"is not an integer: {value!r}")
            if not INT32[0] <= value <= INT32[1]:
                raise ValueError(f"is out of range: {value}")
            return value

        return integer
    if isinstance(col_type, String) and col_type.length:
        length = col_type.length

        def string(value: Any) -> Any:
            if value is None:
                return not_null(value)
            value = str(value)
            if len(value) > length:
                raise ValueError(f"is longer than {length} characters ({len(value)})")
            return value

        return string
    return not_null


# A mapping field of this type already yields values that fit a column of this kind
# (runner.mapping coerces decimals to cents within Money and integers within INTEGER), so
# only string lengths and empty required values are left to check.
TRUSTED_TYPES = {"numeric": {"decimal"}, "integer": {"integer"}, "json": {"list", "json"}}


def _kind(column: Column) -> str:
    col_type = column.type
    if isinstance(col_type, Integer):
        return "integer"
    if isinstance(col_type, Numeric):
        return "numeric"
    if isinstance(col_type, JSON):
        return "json"
    if isinstance(col_type, String) and col_type.length:
        return "string"
    return "text"


class RowPreparer:
    """Fits mapped rows to a target's columns and drops in-batch duplicate keys.

    `field_types` (column -> mapping field type) lets columns whose mapping already
    guarantees a fitting value skip their check; a string field into a limited string
    column only gets its length checked. Rows are fitted in place, not copied.
    """

    def __init__(
        self,
        target: Target,
        columns: Sequence[str],
        field_types: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self.columns = tuple(c for c in columns if c != target.key_column)
        table = target.table
        field_types = field_types or {}
        lengths: list[tuple[str, int, bool]] = []
        checks: list[tuple[str, Callable[[Any], Any]]] = []
        for name in self.columns:
            column = table.c[name]
            kind, declared = _kind(column), field_types.get(name)
            if declared is not None and declared in TRUSTED_TYPES.get(kind, ()):
                if not column.nullable:
                    checks.append((name, _column_checker(column)))
            elif declared == "string" and kind == "string":
                lengths.append((name, column.type.length, column.nullable))
            elif declared == "string" and kind == "text" and column.nullable:
                continue
            else:
                checks.append((name, _column_checker(column)))
        self.lengths = tuple(lengths)
        self.checks = tuple(checks)
        self.key_check = _column_checker(table.c[target.key_column])

    def prepare(
        self, rows: Iterable[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[RowProblem], int]:
        """Return (rows with unique keys, the last one wins), problems, duplicates dropped."""
        key_name = self.target.key_column
        prepared: dict[str, dict[str, Any]] = {}
        problems: list[RowProblem] = []
        lengths, checks, key_check = self.lengths, self.checks, self.key_check
        key_limit = self.target.table.c[key_name].type.length or 1 << 30
        seen = 0
        for row in rows:
            key = row.get(key_name)
            if key.__class__ is not str:
                try:
                    key = key_check(None if key is None else str(key))
                    if key is None:
                        raise ValueError("is required (the column cannot be empty)")
                except ValueError as exc:
                    problems.append(RowProblem(None, key_name, f"{key_name} {exc}", dict(row)))
                    continue
                row[key_name] = key
            current = key_name
            try:
                if not key:
                    raise ValueError("is required (the column cannot be empty)")
                if len(key) > key_limit:
                    raise ValueError(f"is longer than {key_limit} characters ({len(key)})")
                for current, limit, nullable in lengths:
                    value = row.get(current)
                    if value is None:
                        if not nullable:
                            raise ValueError("is required (the column cannot be empty)")
                    elif len(value) > limit:
                        raise ValueError(f"is longer than {limit} characters ({len(value)})")
                for current, check in checks:
                    row[current] = check(row.get(current))
            except ValueError as exc:
                problems.append(RowProblem(key, current, f"{current} {exc}", dict(row)))
                continue
            seen += 1
            prepared[key] = row
        return list(prepared.values()), problems, seen - len(prepared)
