"""Check spec documents: JSON Schema first, then the cross-references between files.

Every problem becomes a `SpecIssue` with the file, line, column and JSON path of the node at
fault and a plain message; a misspelt key or name suggests the closest valid one. Checks run
on every part of every file that has no schema error, so that one run reports everything.
Nothing here imports a database driver or an HTTP client (`sync-runner validate` stays fast).
"""

from __future__ import annotations

import codecs
import difflib
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from jinja2 import TemplateSyntaxError
from jsonschema import Draft202012Validator, ValidationError

from runner.redact import is_secret_header
from runner.spec.columns import WRITABLE_COLUMNS
from runner.templating import (
    CONNECTOR_VARIABLES,
    MAPPING_VARIABLES,
    MOCK_VARIABLES,
    UnsafeTemplate,
    is_template,
    template_variables,
)

if TYPE_CHECKING:
    from runner.spec.load import Document, Documents, PathTuple, SpecIssue

# runner.yaml templates (webhook URLs and secrets) may read only the environment.
RUNNER_VARIABLES = frozenset({"env"})

# Response expressions (empty_when, error_when, ...) read the answer; classify rules also
# read the error's code and message.
RESPONSE_VARIABLES = frozenset({"status", "headers", "body"})
CLASSIFY_VARIABLES = RESPONSE_VARIABLES | {"code", "message"}
LEGACY_ERROR_KEYS = ("error_path", "error_code_path", "error_message_path")
LEGACY_ERROR_KEYS += ("retryable_error_pattern",)

# Auth parameters that hold secrets: they must be templates naming where the secret lives.
SECRET_PARAMS = frozenset({"token", "value", "password", "client_secret", "app_secret"})

SCHEMA_FILES = {
    "runner": "runner.schema.json",
    "sync_types": "sync_types.schema.json",
    "supplier": "supplier.schema.json",
    "marketplace": "marketplace.schema.json",
    "mapping": "mapping.schema.json",
}


# ---------------------------------------------------------------------------------------------
# Schemas


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


# ---------------------------------------------------------------------------------------------
# Cross-references and meaning


@lru_cache(maxsize=4096)
def _template_names(source: str, expression: bool) -> tuple[frozenset[str], str | None]:
    """The names a template reads, or what is wrong with it (cached: parsing is slow)."""
    what = "expression" if expression else "template"
    try:
        return frozenset(template_variables(source, expression=expression)), None
    except UnsafeTemplate as exc:
        return frozenset(), f"{what} {exc.message or exc}"
    except TemplateSyntaxError as exc:
        return frozenset(), f"{what} syntax error: {exc.message or exc}"


class _Checker:
    """Collects issues for the cross-file checks; `clean()` says whether a part of a
    document passed the schema, so that only well-shaped parts are inspected."""

    def __init__(self, docs: Documents) -> None:
        self.docs = docs
        self.issues: list[SpecIssue] = []
        self.bad_paths: dict[int, list[PathTuple]] = {}
        self.broken_sync_types: set[str] = set()
        self.broken_mappings: set[str] = set()  # files of mappings writing unknown columns

    def run(self) -> list[SpecIssue]:
        for doc in self.docs.all():
            if doc.data is None:
                continue
            found, self.bad_paths[id(doc)] = schema_issues(doc)
            self.issues.extend(found)
        self.sync_types = self._sync_types()
        self.mappings = self._mappings()
        self.check_runner()
        self.check_sync_types()
        for doc in self.mappings.values():
            if doc.data is not None:
                self.check_mapping(doc)
        self.check_connectors()
        return self.issues

    # -- helpers

    def clean(self, doc: Document, path: PathTuple) -> bool:
        """True when no schema error lies at or under `path`."""
        n = len(path)
        return not any(bad[:n] == path for bad in self.bad_paths.get(id(doc), ()))

    def add(self, doc: Document, path: PathTuple, message: str, *, key: bool = False) -> None:
        self.issues.append(doc.issue(path, message, key=key))

    @property
    def sync_types_readable(self) -> bool:
        """Whether sync type names can be checked (sync_types.yaml was read)."""
        return self.docs.sync_types is not None and isinstance(self.docs.sync_types.data, dict)

    def _sync_types(self) -> dict[str, dict[str, Any]]:
        doc = self.docs.sync_types
        if doc is None or not isinstance(doc.data, dict):
            return {}
        return {name: spec for name, spec in doc.data.items() if isinstance(spec, dict)}

    def _mappings(self) -> dict[str, Document]:
        return self._named(self.docs.mappings, "mapping")

    def _named(self, docs: Iterable[Document], what: str) -> dict[str, Document]:
        """Documents by name; a name must equal its file name and be unique."""
        result: dict[str, Document] = {}
        for doc in docs:
            if doc.data is None:
                result.setdefault(doc.stem, doc)  # unreadable: reported, but its name exists
                continue
            name = doc.data.get("name") if isinstance(doc.data.get("name"), str) else doc.stem
            if name != doc.stem:
                self.add(doc, ("name",), f"name '{name}' must equal the file name '{doc.stem}'")
            if name in result:
                self.add(doc, ("name",), f"{what} '{name}' is also defined in {result[name].file}")
                continue
            result[name] = doc
        return result

    def template(
        self,
        doc: Document,
        path: PathTuple,
        source: str,
        allowed: frozenset[str],
        *,
        expression: bool = False,
    ) -> None:
        """Compile a template or expression and check the variables it reads."""
        what = "expression" if expression else "template"
        names, error = _template_names(source, expression)
        if error is not None:
            self.add(doc, path, error)
            return
        for name in sorted(names - allowed):
            hint = suggest(name, allowed) or ""
            self.add(
                doc,
                path,
                f"unknown variable '{name}' in {what}{hint} "
                f"(available: {', '.join(sorted(allowed))})",
            )

    def templates_in(self, doc: Document, path: PathTuple, value: Any, allowed) -> None:
        """Check every template string anywhere under `value`."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.templates_in(doc, (*path, key), item, allowed)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.templates_in(doc, (*path, index), item, allowed)
        elif is_template(value):
            self.template(doc, path, value, allowed)

    def url(self, doc: Document, path: PathTuple, value: str, allowed) -> None:
        """An http(s) URL, or a template (checked as one)."""
        if is_template(value):
            self.template(doc, path, value, allowed)
            return
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.add(doc, path, f"{value!r} is not an http(s) URL (or a template)")

    def reference(
        self, doc: Document, path: PathTuple, name: str, known: Iterable[str], what: str
    ) -> bool:
        known = list(known)
        if name in known:
            return True
        hint = suggest(name, known) or (
            f" (known: {', '.join(sorted(known))})" if known else f" (no {what}s are defined)"
        )
        self.add(doc, path, f"unknown {what} '{name}'{hint}")
        return False

    def unique(self, doc: Document, path: PathTuple, items: list[Any], what: str) -> None:
        seen: set[str] = set()
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in seen:
                    self.add(doc, (*path, index, "name"), f"duplicate {what} name '{name}'")
                seen.add(name)

    # -- runner.yaml

    def check_runner(self) -> None:
        doc = self.docs.runner
        if doc is None or doc.data is None:
            return
        data = doc.data
        queue = data.get("queue")
        if isinstance(queue, dict) and self.clean(doc, ("queue",)):
            lease = queue.get("lease_seconds", 300)
            heartbeat = queue.get("heartbeat_seconds", 60)
            if heartbeat * 3 > lease:
                self.add(
                    doc,
                    ("queue", "heartbeat_seconds"),
                    f"heartbeat_seconds ({heartbeat}) must be at most a third of "
                    f"lease_seconds ({lease}), so that a live job never loses its lease",
                )
            backoff = queue.get("backoff") or {}
            if backoff.get("base_seconds", 30) > backoff.get("max_seconds", 3600):
                self.add(
                    doc,
                    ("queue", "backoff", "base_seconds"),
                    "base_seconds must not exceed max_seconds",
                )
        scoring = data.get("scoring")
        if isinstance(scoring, dict) and isinstance(scoring.get("rules"), list):
            rules = scoring["rules"]
            self.unique(doc, ("scoring", "rules"), rules, "rule")
            for index, rule in enumerate(rules):
                path = ("scoring", "rules", index)
                if not self.clean(doc, path):
                    continue
                if "min" not in rule and "max" not in rule:
                    self.add(doc, path, "a rule needs min, max or both")
                elif rule.get("min", float("-inf")) >= rule.get("max", float("inf")):
                    self.add(doc, (*path, "max"), "max must be greater than min")
        webhooks = data.get("webhooks")
        if isinstance(webhooks, list):
            self.unique(doc, ("webhooks",), webhooks, "webhook")
            for index, hook in enumerate(webhooks):
                path = ("webhooks", index)
                if not self.clean(doc, path):
                    continue
                self.url(doc, (*path, "url"), hook["url"], RUNNER_VARIABLES)
                if is_template(hook["secret"]):
                    self.template(doc, (*path, "secret"), hook["secret"], RUNNER_VARIABLES)
                else:
                    self.add(
                        doc,
                        (*path, "secret"),
                        "secret must be a template naming where "
                        "it lives, e.g. '{{ env.SYNC_RUNNER_WEBHOOK_SECRET }}', never "
                        "the secret itself",
                    )
        schedules = data.get("schedules")
        if isinstance(schedules, list):
            self.unique(doc, ("schedules",), schedules, "schedule")
            for index, schedule in enumerate(schedules):
                path = ("schedules", index)
                if not self.clean(doc, path):
                    continue
                self.schedule(doc, path, schedule)

    def schedule(self, doc: Document, path: PathTuple, schedule: dict[str, Any]) -> None:
        """A schedule runs on a `cron` expression or `after` a sync type (then it chains a
        push after a supplier sync): exactly one of the two."""
        if ("cron" in schedule) == ("after" in schedule):
            self.add(doc, path, "a schedule needs exactly one of 'cron' or 'after'")
        if "cron" in schedule:
            self.cron(doc, (*path, "cron"), schedule["cron"])
        if not self.sync_types_readable:
            return
        known = self.reference(
            doc, (*path, "sync_type"), schedule["sync_type"], self.sync_types, "sync type"
        )
        if "after" not in schedule:
            return
        if known and not self.sync_types[schedule["sync_type"]].get("push"):
            self.add(
                doc,
                (*path, "sync_type"),
                f"sync type '{schedule['sync_type']}' is not a push: only a push can run "
                "'after' another sync type",
            )
        after = schedule["after"]
        known = self.reference(doc, (*path, "after"), after, self.sync_types, "sync type")
        if known and self.sync_types[after].get("source") != "supplier":
            self.add(
                doc,
                (*path, "after"),
                f"'after' must name a supplier sync type; '{after}' is not one",
            )

    def cron(self, doc: Document, path: PathTuple, expression: str) -> None:
        from croniter import croniter  # only here: validate must stay quick to import

        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            self.add(
                doc,
                path,
                f"{expression!r} is not a valid five-field cron expression "
                "(minute hour day-of-month month day-of-week)",
            )

    # -- sync_types.yaml

    def check_sync_types(self) -> None:
        doc = self.docs.sync_types
        if doc is None:
            return
        for name, spec in self.sync_types.items():
            if not self.clean(doc, (name,)):
                continue
            allowed = WRITABLE_COLUMNS[spec["target"]]
            for index, column in enumerate(spec["fields"]):
                if column not in allowed:
                    self.broken_sync_types.add(name)
                    self.add(
                        doc, (name, "fields", index), self.unknown_column(column, spec["target"])
                    )
            for column in spec.get("on_missing") or {}:
                if column not in spec["fields"]:
                    self.add(
                        doc,
                        (name, "on_missing", column),
                        f"on_missing sets '{column}', which sync type '{name}' may not write "
                        f"(fields: {', '.join(spec['fields'])})",
                        key=True,
                    )
            if spec.get("on_missing") and not spec.get("creates_rows"):
                self.add(
                    doc,
                    (name, "on_missing"),
                    "on_missing needs creates_rows: true (only a full listing can tell "
                    "what is missing)",
                    key=True,
                )

    @staticmethod
    def unknown_column(column: str, target: str) -> str:
        allowed = WRITABLE_COLUMNS[target]
        hint = suggest(column, allowed) or f" (writable: {', '.join(sorted(allowed))})"
        return f"'{column}' is not a writable column of {target}{hint}"

    # -- mappings

    def check_mapping(self, doc: Document) -> None:
        data = doc.data
        target = data.get("target")
        fields = data.get("fields")
        if isinstance(fields, dict):
            for name, spec in fields.items():
                path = ("fields", name)
                if (
                    isinstance(target, str)
                    and target in WRITABLE_COLUMNS
                    and name not in WRITABLE_COLUMNS[target]
                ):
                    self.add(doc, path, self.unknown_column(name, target), key=True)
                    self.broken_mappings.add(doc.file)
                if not isinstance(spec, dict) or not self.clean(doc, path):
                    continue
                sources = [k for k in ("from", "value", "expr") if k in spec]
                if len(sources) != 1:
                    found = f"found {', '.join(sources)}" if sources else "found none"
                    self.add(
                        doc,
                        path,
                        f"field '{name}' needs exactly one of from, value or expr ({found})",
                        key=True,
                    )
                if "expr" in spec:
                    self.template(
                        doc, (*path, "expr"), spec["expr"], MAPPING_VARIABLES, expression=True
                    )
                if "map_default" in spec and "map" not in spec:
                    self.add(doc, (*path, "map_default"), "map_default needs a map", key=True)
            key = data.get("key")
            if isinstance(key, str) and key not in fields:
                hint = suggest(key, fields)
                self.add(doc, ("key",), f"key '{key}' is not one of the fields{hint}")
        mock = data.get("mock")
        if isinstance(mock, dict) and isinstance(mock.get("fields"), dict):
            self.check_mock_fields(doc, ("mock", "fields"), mock["fields"])
            id_field = mock.get("id_field")
            if isinstance(id_field, str):
                head = re.split(r"[.\[]", id_field, maxsplit=1)[0]
                if head not in mock["fields"]:
                    hint = suggest(head, mock["fields"])
                    self.add(
                        doc,
                        ("mock", "id_field"),
                        f"id_field '{id_field}' is not a generated field{hint}",
                    )

    def check_mock_fields(self, doc: Document, path: PathTuple, fields: dict[str, Any]) -> None:
        for name, spec in fields.items():
            here = (*path, name)
            if not isinstance(spec, dict) or len(spec) != 1 or not self.clean(doc, here):
                continue
            ((generator, params),) = spec.items()
            where = (*here, generator)
            if generator == "template":
                self.template(doc, where, params, MOCK_VARIABLES)
            elif generator == "expr":
                self.template(doc, where, params, MOCK_VARIABLES, expression=True)
            elif generator in ("integer", "decimal") and params["min"] > params["max"]:
                self.add(doc, (*where, "max"), "max must not be less than min")
            elif generator == "object":
                self.check_mock_fields(doc, where, params)
            elif generator == "list":
                count = params["count"]
                if isinstance(count, dict) and "expr" in count:
                    self.template(
                        doc,
                        (*where, "count", "expr"),
                        count["expr"],
                        MOCK_VARIABLES,
                        expression=True,
                    )
                elif isinstance(count, dict) and count["min"] > count["max"]:
                    self.add(doc, (*where, "count", "max"), "max must not be less than min")
                self.check_mock_fields(doc, (*where, "item"), params["item"])

    # -- suppliers and marketplaces

    def check_connectors(self) -> None:
        connectors = (*self.docs.suppliers, *self.docs.marketplaces)
        for doc in self._named(connectors, "connector").values():
            if doc.data is not None:
                self.check_connector(doc)

    def check_connector(self, doc: Document) -> None:
        data = doc.data
        base_url = data.get("base_url")
        if isinstance(base_url, str) and self.clean(doc, ("base_url",)):
            self.url(doc, ("base_url",), base_url, CONNECTOR_VARIABLES)
        for key in ("rate_limit", "budgets", "retry", "timeouts", "response"):
            if key in data:
                self.templates_in(doc, (key,), data[key], CONNECTOR_VARIABLES)
        if "auth" in data:
            self.auth_templates(doc, ("auth",), data["auth"])
        if isinstance(data.get("auth"), dict) and self.clean(doc, ("auth",)):
            self.check_auth(doc, ("auth",), data["auth"])
        response = data.get("response")
        if isinstance(response, dict) and self.clean(doc, ("response",)):
            self.check_response(doc, response)
        if isinstance(response, dict) and isinstance(response.get("retryable_error_pattern"), str):
            try:
                re.compile(response["retryable_error_pattern"])
            except re.error as exc:
                self.add(
                    doc,
                    ("response", "retryable_error_pattern"),
                    f"invalid regular expression: {exc}",
                )
        operations = data.get("operations")
        operations = operations if isinstance(operations, dict) else {}
        for name, op in operations.items():
            path = ("operations", name)
            if isinstance(op, dict) and "auth" in op:
                rest = {k: v for k, v in op.items() if k != "auth"}
                self.templates_in(doc, path, rest, CONNECTOR_VARIABLES)
                self.auth_templates(doc, (*path, "auth"), op["auth"])
            else:
                self.templates_in(doc, path, op, CONNECTOR_VARIABLES)
            if isinstance(op, dict):
                self.check_operation(doc, path, op)
        check = data.get("check")
        if isinstance(check, dict) and self.clean(doc, ("check",)):
            self.templates_in(
                doc, ("check", "params"), check.get("params") or {}, CONNECTOR_VARIABLES
            )
            name = check["operation"]
            if self.reference(doc, ("check", "operation"), name, operations, "operation"):
                target = operations[name]
                if isinstance(target, dict) and "{id}" in str(target.get("path", "")):
                    self.add(
                        doc,
                        ("check", "operation"),
                        f"check sends '{name}' without an id, but its path needs one",
                    )
        self.check_pushes(doc, data, operations)
        syncs = data.get("syncs")
        if isinstance(syncs, dict):
            kind = doc.kind
            for sync_type, steps in syncs.items():
                path = ("syncs", sync_type)
                spec = self.sync_types.get(sync_type)
                if self.sync_types_readable and not self.reference(
                    doc, path, sync_type, self.sync_types, "sync type"
                ):
                    continue
                if (
                    spec is not None
                    and spec.get("source") in ("supplier", "marketplace")
                    and spec["source"] != kind
                ):
                    self.add(
                        doc,
                        path,
                        f"sync type '{sync_type}' reads {spec['source']}s, but "
                        f"this connector is a {kind}",
                        key=True,
                    )
                    continue
                if not isinstance(steps, list):
                    continue
                for index, step in enumerate(steps):
                    here = (*path, index)
                    if self.clean(doc, here):
                        self.check_step(doc, here, step, operations, sync_type, spec)

    def check_pushes(self, doc: Document, data: dict[str, Any], operations: dict[str, Any]) -> None:
        """A marketplace's `match`, `writes` and `pushes` (runner/push): every name they use
        exists (operation, budget, write, push sync type). Only marketplaces push."""
        if doc.kind != "marketplace":
            for key in ("match", "writes", "pushes"):
                if key in data:
                    self.add(doc, (key,), f"only a marketplace declares {key}", key=True)
            return
        match = data.get("match")
        if isinstance(match, dict) and self.clean(doc, ("match",)):
            self.reference(doc, ("match", "operation"), match["operation"], operations, "operation")
            variations = match.get("variations")
            if isinstance(variations, dict):
                self.reference(
                    doc,
                    ("match", "variations", "operation"),
                    variations["operation"],
                    operations,
                    "operation",
                )
        budgets = data.get("budgets") if isinstance(data.get("budgets"), dict) else {}
        writes = data.get("writes") if isinstance(data.get("writes"), dict) else {}
        for name, write in writes.items():
            path = ("writes", name)
            if not isinstance(write, dict) or not self.clean(doc, path):
                continue
            if isinstance(write.get("budget"), str):
                self.reference(doc, (*path, "budget"), write["budget"], budgets, "budget")
            named = set(re.findall(r"\{link\.([a-z_]+)\}", write["path"]))
            if write.get("batch_size", 1) > 1 and named - {"remote_product_id"}:
                self.add(
                    doc,
                    (*path, "path"),
                    "a batch write's path may name only {link.remote_product_id} (a batch "
                    "holds the items of one product), not one item's ids",
                )
            readback = write.get("readback")
            if isinstance(readback, dict):
                here = (*path, "readback", "operation")
                if self.reference(doc, here, readback["operation"], operations, "operation"):
                    op = operations[readback["operation"]]
                    if not (isinstance(op, dict) and isinstance(op.get("lookup"), dict)):
                        self.add(doc, here, "a readback operation needs a `lookup` (id_param)")
        pushes = data.get("pushes") if isinstance(data.get("pushes"), dict) else {}
        for sync_type, push in pushes.items():
            path = ("pushes", sync_type)
            if (
                self.sync_types_readable
                and self.reference(doc, path, sync_type, self.sync_types, "sync type")
                and not self.sync_types[sync_type].get("push")
            ):
                self.add(doc, path, f"sync type '{sync_type}' is not a push", key=True)
            for key in ("write", "variant_write"):
                if isinstance(push, dict) and isinstance(push.get(key), str):
                    self.reference(doc, (*path, key), push[key], writes, "write")

    def check_response(self, doc: Document, response: dict[str, Any]) -> None:
        """Expressions of the response rules, and one form of error rule, not both."""
        for key in ("error_when", "error_code", "error_message"):
            if key in response:
                self.template(
                    doc, ("response", key), response[key], RESPONSE_VARIABLES, expression=True
                )
        for index, rule in enumerate(response.get("classify") or ()):
            for key in ("when", "delay"):
                if key in rule:
                    self.template(
                        doc,
                        ("response", "classify", index, key),
                        rule[key],
                        CLASSIFY_VARIABLES,
                        expression=True,
                    )
            if rule["as"] == "retry_after" and "delay" not in rule:
                continue  # the delay then comes from Retry-After or the backoff
            if rule["as"] != "retry_after" and "delay" in rule:
                self.add(
                    doc,
                    ("response", "classify", index, "delay"),
                    "delay applies only to as: retry_after",
                    key=True,
                )
        old = [key for key in LEGACY_ERROR_KEYS if key in response]
        new = [key for key in ("error_when", "error_code", "error_message", "classify")]
        new = [key for key in new if key in response]
        if old and new:
            self.add(
                doc,
                ("response", old[0]),
                f"{', '.join(old)} and {', '.join(new)} are two forms of one rule; use "
                'error_when (e.g. "body.error_response is defined"), error_code, '
                "error_message and classify only",
                key=True,
            )
        elif new and "error_when" not in response:
            self.add(
                doc,
                ("response", new[0]),
                f"{new[0]} needs error_when (when is it an error?)",
                key=True,
            )

    def auth_templates(self, doc: Document, path: PathTuple, auth: Any) -> None:
        """Templates of an auth section; a session token's `send` may also read `token`,
        its `refresh` `refresh_token`, and `dead_when` is an expression over the answer."""
        if not isinstance(auth, dict) or auth.get("type") != "session_token":
            self.templates_in(doc, path, auth, CONNECTOR_VARIABLES)
            return
        late = {"send": {"token"}, "refresh": {"refresh_token"}}
        for key, value in auth.items():
            if key == "dead_when" and isinstance(value, str):
                self.template(doc, (*path, key), value, RESPONSE_VARIABLES, expression=True)
            else:
                allowed = CONNECTOR_VARIABLES | late.get(key, set())
                self.templates_in(doc, (*path, key), value, allowed)

    def check_auth(self, doc: Document, path: PathTuple, auth: dict[str, Any]) -> None:
        for name in SECRET_PARAMS & set(auth):
            if auth["type"] != "none" and not is_template(auth[name]):
                self.add(
                    doc,
                    (*path, name),
                    f"{name} must be a template naming where the "
                    "secret lives, e.g. '{{ credentials.api_key }}', never the secret "
                    "itself",
                )
        if auth["type"] == "basic" and auth.get("fallback") == "query":
            for name in ("query_username", "query_password"):
                if name not in auth:
                    self.add(doc, (*path, "fallback"), f"fallback: query needs {name}")
        if auth["type"] == "oauth2_client_credentials":
            self.url(doc, (*path, "token_url"), auth["token_url"], CONNECTOR_VARIABLES)
        if auth["type"] == "session_token":
            for request in ("login", "refresh"):
                if isinstance(auth.get(request), dict):
                    self.check_session_request(doc, (*path, request), auth[request])

    def check_session_request(
        self, doc: Document, path: PathTuple, request: dict[str, Any]
    ) -> None:
        """A login or refresh request: an absolute path is an http(s) URL, and a body field
        named like a secret (apiKey, password, refreshToken) is a template."""
        target = request["path"]
        if target.startswith(("http:", "https:")) or "://" in target:
            self.url(doc, (*path, "path"), target, CONNECTOR_VARIABLES)
        for part in ("json", "form", "params"):
            fields = request.get(part)
            if not isinstance(fields, dict):
                continue
            for name, value in fields.items():
                if (
                    is_secret_header(str(name))
                    and isinstance(value, str)
                    and not is_template(value)
                ):
                    self.add(
                        doc,
                        (*path, part, name),
                        f"{name} must be a template naming where the secret lives, e.g. "
                        "'{{ credentials.api_key }}', never the secret itself",
                    )

    def check_operation(self, doc: Document, path: PathTuple, op: dict[str, Any]) -> None:
        """Each part is checked when it passed the schema, independently of the others."""

        def ok(*keys: str) -> bool:
            return all(self.clean(doc, (*path, key)) for key in keys)

        lookup = op.get("lookup")
        if isinstance(op.get("path"), str) and ok("path", "lookup"):
            has_id = "{id}" in op["path"]
            if lookup is None and has_id:
                self.add(
                    doc,
                    (*path, "path"),
                    "'{id}' in the path of a list operation; add lookup: to make it a lookup "
                    "of known ids",
                )
            if lookup is not None and "id_param" not in lookup:
                if not has_id:
                    self.add(
                        doc,
                        (*path, "lookup"),
                        "a lookup needs id_param, or '{id}' in its path",
                        key=True,
                    )
                if lookup.get("batch_size", 1) > 1:
                    self.add(
                        doc,
                        (*path, "lookup", "batch_size"),
                        "batch_size > 1 needs id_param (a batch of ids goes in one query "
                        "parameter)",
                    )
        if "body" in op and op.get("method", "GET") != "POST" and ok("method"):
            self.add(doc, (*path, "body"), "body needs method: POST", key=True)
        if isinstance(op.get("auth"), dict) and ok("auth"):
            self.check_auth(doc, (*path, "auth"), op["auth"])
        if isinstance(op.get("empty_when"), str) and ok("empty_when"):
            self.template(
                doc, (*path, "empty_when"), op["empty_when"], RESPONSE_VARIABLES, expression=True
            )
        if isinstance(op.get("mapping"), str) and ok("mapping"):
            self.reference(doc, (*path, "mapping"), op["mapping"], self.mappings, "mapping")
        if isinstance(op.get("paginate"), dict) and ok("paginate"):
            self.check_paginate(doc, (*path, "paginate"), op["paginate"])
        if isinstance(op.get("budget"), str) and ok("budget"):
            budgets = doc.data.get("budgets")
            budgets = budgets if isinstance(budgets, dict) else {}
            self.reference(doc, (*path, "budget"), op["budget"], budgets, "budget")
        if "format" in op and ok("format"):
            self.check_format(doc, path, op)

    def check_format(self, doc: Document, path: PathTuple, op: dict[str, Any]) -> None:
        """A feed is one file: no pages, no lookups; options fit its type."""
        fmt = op["format"] if isinstance(op["format"], dict) else {"type": op["format"]}
        kind = fmt["type"]
        where = (*path, "format")
        if kind == "json":
            extra = sorted(set(fmt) - {"type"})
            if extra:
                self.add(doc, (*where, extra[0]), f"{extra[0]} is an option of feed formats")
            return
        for key in ("lookup", "paginate", "records", "body"):
            if key in op and not (key == "paginate" and op[key].get("type") == "none"):
                self.add(
                    doc,
                    (*path, key),
                    f"a {kind} feed is one file read whole: it takes no {key}",
                    key=True,
                )
        only = {
            "csv": ("encoding", "delimiter", "quote", "header", "columns"),
            "xml": ("record", "lists"),
        }
        for owner, names in only.items():
            for name in names:
                if name in fmt and kind != owner:
                    self.add(doc, (*where, name), f"{name} is an option of {owner} feeds")
        if kind == "jsonl":
            for name in ("decimal", "thousands", "decimal_columns"):
                if name in fmt:
                    self.add(doc, (*where, name), f"{name} is an option of csv and xml feeds")
        if kind == "xml" and "record" not in fmt:
            self.add(doc, where, "an xml feed needs record: (the path of the record element)")
        if kind == "csv" and fmt.get("header") is False and "columns" not in fmt:
            self.add(doc, (*where, "header"), "header: false needs columns: (the column names)")
        if "encoding" in fmt:
            try:
                codecs.lookup(fmt["encoding"])
            except LookupError:
                self.add(doc, (*where, "encoding"), f"unknown encoding {fmt['encoding']!r}")
        if fmt.get("thousands") is not None and fmt["thousands"] == fmt.get("decimal", "."):
            self.add(doc, (*where, "thousands"), "thousands must differ from decimal")

    def check_paginate(self, doc: Document, path: PathTuple, paginate: dict[str, Any]) -> None:
        kind = paginate["type"]
        size_param = {"page_number": "size_param", "offset": "limit_param"}.get(kind)
        if size_param and size_param in paginate and "size" not in paginate:
            self.add(
                doc, (*path, size_param), f"{size_param} needs size (the page size to ask for)"
            )
        if paginate.get("stop_on_short_page") and "size" not in paginate:
            self.add(
                doc,
                (*path, "stop_on_short_page"),
                "stop_on_short_page needs size (a "
                "page is short when it has fewer records than size)",
            )

    def check_step(
        self,
        doc: Document,
        path: PathTuple,
        step: str | dict[str, Any],
        operations: dict[str, Any],
        sync_type: str,
        spec: dict[str, Any] | None,
    ) -> None:
        step = {"operation": step} if isinstance(step, str) else step
        op_name = step["operation"]
        op_path = (
            path
            if isinstance(doc.data["syncs"][sync_type][path[-1]], str)
            else (*path, "operation")
        )
        if not self.reference(doc, op_path, op_name, operations, "operation"):
            return
        op = operations[op_name]
        if not isinstance(op, dict):
            return
        ids_from = step.get("ids_from")
        if ids_from is not None:
            if self.reference(doc, (*path, "ids_from"), ids_from, operations, "operation"):
                source = operations[ids_from]
                if isinstance(source, dict) and "lookup" in source:
                    self.add(
                        doc,
                        (*path, "ids_from"),
                        f"ids_from must name a list operation; '{ids_from}' is a lookup",
                    )
            if "lookup" not in op:
                self.add(
                    doc,
                    op_path,
                    f"ids_from feeds a lookup, but operation '{op_name}' "
                    "is a list (add lookup: to it)",
                )
        if step.get("changed_since") is not None and "lookup" in op:
            self.add(
                doc,
                (*path, "changed_since"),
                f"changed_since filters a list, but operation '{op_name}' is a lookup",
            )
        mapping_name = step.get("mapping") or op.get("mapping")
        if mapping_name is None:
            self.add(
                doc,
                op_path,
                f"no mapping: operation '{op_name}' has none; set mapping: "
                "on the step or the operation",
            )
            return
        if not isinstance(mapping_name, str):
            return  # the operation's schema error says what is wrong
        where = (*path, "mapping") if "mapping" in step else op_path
        if "mapping" in step and not self.reference(
            doc, where, mapping_name, self.mappings, "mapping"
        ):
            return
        mapping_doc = self.mappings.get(mapping_name)
        if mapping_doc is None or mapping_doc.data is None or spec is None:
            return
        if not self.clean(mapping_doc, ()):
            return
        # A broken mapping or sync type has its own error; checking steps against it would
        # only echo that error.
        if mapping_doc.file in self.broken_mappings or sync_type in self.broken_sync_types:
            return
        if not self.clean(self.docs.sync_types, (sync_type,)):
            return
        mapping = mapping_doc.data
        if mapping["target"] != spec["target"]:
            self.add(
                doc,
                where,
                f"mapping '{mapping_name}' writes {mapping['target']}, but "
                f"sync type '{sync_type}' writes {spec['target']}",
            )
            return
        mapped = [f for f in mapping["fields"] if f != mapping["key"]]
        allowed = spec["fields"]
        if "fields" in step:
            for index, name in enumerate(step["fields"]):
                field_path = (*path, "fields", index)
                if name not in mapped:
                    hint = suggest(name, mapped)
                    self.add(
                        doc,
                        field_path,
                        f"'{name}' is not written by mapping '{mapping_name}'{hint}",
                    )
                elif name not in allowed:
                    self.add(
                        doc,
                        field_path,
                        f"sync type '{sync_type}' may not write "
                        f"'{name}' (allowed: {', '.join(allowed)})",
                    )
            return
        forbidden = [name for name in mapped if name not in allowed]
        if forbidden:
            self.add(
                doc,
                op_path,
                f"mapping '{mapping_name}' writes "
                f"{', '.join(repr(f) for f in forbidden)}, which sync type '{sync_type}' "
                f"may not write (allowed: {', '.join(allowed)}); narrow the step with "
                "fields: [...]",
            )


def check_documents(docs: Documents) -> list[SpecIssue]:
    """Every schema and cross-reference issue of the given documents; when there is none,
    every step the engine could not plan (`check_plans`)."""
    issues = _Checker(docs).run()
    return issues or check_plans(docs)


def check_plans(docs: Documents) -> list[SpecIssue]:
    """Plan every step each connector declares for each (non-push) sync type, with the
    planner the engine runs (`runner.sync.plan`): whatever validates also runs. Called on
    documents without other issues; a step that cannot be planned is reported at its place
    in the connector's `syncs`."""
    from runner.spec.build import build_spec_set
    from runner.sync.plan import PlanError, plan_steps

    if any(not isinstance(doc.data, dict) for doc in docs.all()):
        return []  # a file that could not be read has its own issue; nothing to build
    specs = build_spec_set(docs)
    issues: list[SpecIssue] = []
    for doc in (*docs.suppliers, *docs.marketplaces):
        pool = specs.suppliers if doc.kind == "supplier" else specs.marketplaces
        connector = pool.get(doc.stem)
        if connector is None:
            continue
        for name in connector.syncs:
            sync_type = specs.sync_types.get(name)
            if sync_type is None or sync_type.push:
                continue
            try:
                plan_steps(specs, sync_type, connector)
            except PlanError as exc:
                issues.append(doc.issue(("syncs", name, exc.index), str(exc)))
    return issues
