"""The schemas themselves: valid, documented, closed, and pointed at by every bundled file."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from runner.spec import model
from runner.spec.columns import WRITABLE_COLUMNS
from runner.spec.validate import SCHEMA_FILES, load_schema, schemas_dir

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))
BUNDLED = sorted([*(ROOT / "specs").rglob("*.yaml"), *(ROOT / "mappings").rglob("*.yaml")], key=str)


def walk(node, path="#"):
    """Yield (path, schema) for every subschema."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    yield from walk(sub, f"{path}/{key}/{name}")
            elif key in ("additionalProperties", "items", "then", "propertyNames"):
                yield from walk(value, f"{path}/{key}")
            elif key in ("anyOf", "oneOf", "allOf"):
                for i, sub in enumerate(value):
                    yield from walk(sub, f"{path}/{key}/{i}")


def test_schema_files_are_the_ones_the_loader_uses():
    assert schemas_dir() == ROOT / "schemas"
    assert sorted(SCHEMA_FILES.values()) == sorted(p.name for p in SCHEMAS)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_is_valid_2020_12_with_an_id(path):
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:sync-runner:schema:")
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_property_has_a_description(path):
    schema = json.loads(path.read_text())
    missing = []
    for where, node in walk(schema):
        for name, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{where}/properties/{name}")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not extra.get("description") and "$ref" not in extra:
            missing.append(f"{where}/additionalProperties")
    assert missing == []


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_objects_refuse_unknown_keys(path):
    """Objects with declared keys are closed. A discriminated union (auth, paginate) leaves
    its base open, but every branch it dispatches to is closed. Free-form maps (params,
    value maps) declare what their values are."""
    schema = json.loads(path.read_text())
    defs = schema.get("$defs", {})
    problems = []
    for where, node in walk(schema):
        if "allOf" in node and all("then" in branch for branch in node["allOf"]):
            for branch in node["allOf"]:
                target = defs[branch["then"]["$ref"].rsplit("/", 1)[1]]
                if target.get("additionalProperties") is not False:
                    problems.append(f"{where}: branch {branch['then']['$ref']} is open")
            continue
        if "properties" in node and node.get("additionalProperties") is not False:
            problems.append(f"{where}: has properties but is not closed")
        if node.get("type") == "object" and "additionalProperties" not in node:
            problems.append(f"{where}: object without additionalProperties")
    assert problems == []


def test_supplier_and_marketplace_schemas_are_the_same_language():
    def body(kind):
        schema = dict(load_schema(kind))
        for key in ("$id", "title", "description"):
            schema.pop(key)
        return schema

    assert body("supplier") == body("marketplace")


EXPECTED_SCHEMA = {
    "runner.yaml": "runner",
    "sync_types.yaml": "sync_types",
    "suppliers": "supplier",
    "marketplaces": "marketplace",
    "mappings": "mapping",
}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_bundled_yaml_declares_its_schema(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path.name}: first line must be '# yaml-language-server: $schema=...'"
    target = (path.parent / match.group(1)).resolve()
    assert target.is_file(), f"{path.name} points at a missing schema {match.group(1)}"
    kind = EXPECTED_SCHEMA.get(path.name) or EXPECTED_SCHEMA[path.parent.name]
    assert target.name == SCHEMA_FILES[kind]


# Schema defaults and model defaults must agree: explain shows one, the runtime uses the other.
DEFAULT_PAIRS = [
    ("runner", ("queue",), model.QueueSpec),
    ("runner", ("queue", "backoff"), model.BackoffSpec),
    ("runner", ("retention",), model.RetentionSpec),
    ("runner", ("logging",), model.LoggingSpec),
    ("runner", ("webhooks", "items"), model.WebhookSpec),
    ("runner", ("schedules", "items"), model.ScheduleSpec),
    ("supplier", ("retry",), model.RetrySpec),
    ("supplier", ("timeouts",), model.TimeoutSpec),
    ("supplier", ("response",), model.ResponseSpec),
    ("supplier", ("$defs", "operation", "lookup"), model.LookupSpec),
    ("supplier", ("$defs", "operation"), model.OperationSpec),
    ("sync_types", ("$defs", "sync_type"), model.SyncTypeSpec),
    ("mapping", ("$defs", "field"), model.FieldSpec),
    ("mapping", ("mock",), model.MockSpec),
]


def _subschema(node, path):
    for part in path:
        if part in ("$defs", "items"):
            node = node[part]
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            node = node[part]
    return node


@pytest.mark.parametrize(
    ("kind", "path", "cls"), DEFAULT_PAIRS, ids=lambda x: getattr(x, "__name__", None)
)
def test_schema_defaults_match_model_defaults(kind, path, cls):
    node = _subschema(load_schema(kind), path)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    compared = 0
    for name, prop in node["properties"].items():
        field = fields.get({"from": "source"}.get(name, name))
        if "default" not in prop or field is None:
            continue
        default = field.default
        if default is dataclasses.MISSING:
            default = field.default_factory()  # type: ignore[misc]
        if isinstance(default, tuple):
            default = list(default)
        assert prop["default"] == default, f"{cls.__name__}.{name}"
        compared += 1
    assert compared > 0


def test_writable_columns_are_real_columns():
    from runner.db import tables

    for table_name, columns in WRITABLE_COLUMNS.items():
        table = tables.metadata.tables[table_name]
        assert columns <= set(table.columns.keys()), table_name
