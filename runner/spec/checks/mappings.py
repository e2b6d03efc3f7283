"""Checks of mappings: the columns they write, one source per field, expressions, and the
generated fields of a mock."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runner.spec.checks.base import Checker
from runner.spec.columns import WRITABLE_COLUMNS
from runner.spec.schema import suggest
from runner.templating import MAPPING_VARIABLES, MOCK_VARIABLES

if TYPE_CHECKING:
    from runner.spec.load import Document, PathTuple


class MappingChecks(Checker):
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
