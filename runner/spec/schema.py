"""The spec schemas (schemas/*.json): loading them, their defaults, and the first pass of
`sync-runner validate`, which turns each JSON Schema error into a plain `SpecIssue`
(a misspelt key or name suggests the closest valid one, `suggest`)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, ValidationError

if TYPE_CHECKING:
    from runner.spec.load import Document, PathTuple, SpecIssue

SCHEMA_FILES = {
    "runner": "runner.schema.json",
    "sync_types": "sync_types.schema.json",
    "supplier": "supplier.schema.json",
    "marketplace": "marketplace.schema.json",
    "mapping": "mapping.schema.json",
}


def schemas_dir() -> Path:
    """`schemas/` next to the `runner` package (a checkout or an editable install), else
    `<prefix>/share/sync-runner/schemas` where a wheel install puts them."""
    from runner.bundled import bundled_dir

    return bundled_dir("schemas")


@cache
def load_schema(kind: str) -> dict[str, Any]:
    path = schemas_dir() / SCHEMA_FILES[kind]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuntimeError(f"spec schema missing: {path} (reinstall sync-runner)") from None


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind))


def kind_defaults(section: str, kind: str) -> dict[str, Any]:
    """Schema defaults of one auth or pagination kind's parameters (`section` is `auth` or
    `paginate`), without `type` and `max_pages`."""
    definition = load_schema("supplier")["$defs"].get(f"{section}_{kind}", {})
    return {
        name: prop["default"]
        for name, prop in definition.get("properties", {}).items()
        if "default" in prop and name not in ("type", "max_pages")
    }


def mock_defaults(generator: str) -> dict[str, Any]:
    """Schema defaults of one mock generator's parameters (`sequence`, `decimal`)."""
    definition = load_schema("mapping")["$defs"]["mock_field"]["properties"].get(generator, {})
    return {
        name: prop["default"]
        for name, prop in definition.get("properties", {}).items()
        if "default" in prop
    }


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or `` when none is close."""
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


_TYPE_NAMES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors worth showing: inside `anyOf`, those of the branch the value was meant for."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        yield error
        return
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    candidates = [
        errors
        for errors in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if candidates:
        fewest = min(len(errors) for errors in candidates)
        best = [errors for errors in candidates if len(errors) == fewest]
        if len(best) == 1:
            for sub in best[0]:
                yield from _leaves(sub)
            return
    yield error


def _schema_issues(doc: Document, error: ValidationError) -> list[SpecIssue]:
    path: PathTuple = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    kind = error.validator

    if "propertyNames" in error.absolute_schema_path:
        hint = schema.get("patternErrorMessage", "not a valid name")
        return [doc.issue((*path, value), f"invalid name '{value}': {hint}", key=True)]
    if kind == "additionalProperties" and isinstance(value, dict):
        known = schema.get("properties", {})
        issues = []
        for key in value:
            if key in known:
                continue
            hint = suggest(key, known) or "; valid keys: " + ", ".join(known)
            issues.append(doc.issue((*path, key), f"unknown key '{key}'{hint}", key=True))
        return issues
    if kind == "required" and isinstance(value, dict):
        return [
            doc.issue(path, f"missing required key '{name}'", key=True)
            for name in error.validator_value
            if name not in value
        ]
    if kind in ("minProperties", "maxProperties") and schema.get("maxProperties") == 1:
        options = ", ".join(schema.get("properties", {}))
        return [doc.issue(path, f"expected exactly one of: {options}")]
    if kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [doc.issue(path, f"expected {wanted}, got {_describe(value)}")]
    if kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        hint = suggest(value, map(str, error.validator_value)) if isinstance(value, str) else ""
        return [doc.issue(path, f"{value!r} is not one of: {options}{hint}")]
    if kind == "pattern":
        hint = schema.get("patternErrorMessage") or f"does not match {error.validator_value}"
        return [doc.issue(path, f"{value!r}: {hint}")]
    bounds = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if kind in bounds:
        return [doc.issue(path, f"must be {bounds[kind]} {error.validator_value}, got {value}")]
    if kind == "minLength":
        return [doc.issue(path, "must not be empty")]
    if kind == "minItems":
        return [doc.issue(path, f"needs at least {error.validator_value} item(s)")]
    if kind == "minProperties":
        return [doc.issue(path, f"needs at least {error.validator_value} entry")]
    if kind == "uniqueItems":
        return [doc.issue(path, "has duplicate items")]
    if kind in ("anyOf", "oneOf"):
        types = [e.validator_value for e in error.context if e.validator == "type"]
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in types if isinstance(t, str))
        return [doc.issue(path, f"expected {wanted or 'another shape'}, got {_describe(value)}")]
    return [doc.issue(path, error.message)]


def schema_issues(doc: Document) -> tuple[list[SpecIssue], list[PathTuple]]:
    """The schema issues of one document, and the paths of the nodes at fault."""
    issues: list[SpecIssue] = []
    paths: list[PathTuple] = []
    for error in _validator(doc.kind).iter_errors(doc.data):
        for leaf in _leaves(error):
            issues.extend(_schema_issues(doc, leaf))
            paths.append(tuple(leaf.absolute_path))
    return issues, paths
