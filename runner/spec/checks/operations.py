"""Checks of a connector's operations (lookups, bodies, pagination, budgets, feed formats)
and of the steps of its syncs (operation, ids_from, mapping, fields against the sync type)."""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING, Any

from runner.spec.checks.auth import AuthChecks
from runner.spec.checks.base import RESPONSE_VARIABLES
from runner.spec.schema import suggest

if TYPE_CHECKING:
    from runner.spec.load import Document, PathTuple


class OperationChecks(AuthChecks):
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
