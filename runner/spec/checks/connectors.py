"""Checks of a supplier or marketplace file as a whole: base URL, response rules, check,
syncs, and a marketplace's match, writes (budgets, readback) and pushes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runner.spec.checks.base import CLASSIFY_VARIABLES, RESPONSE_VARIABLES
from runner.spec.checks.operations import OperationChecks
from runner.templating import CONNECTOR_VARIABLES

if TYPE_CHECKING:
    from runner.spec.load import Document

LEGACY_ERROR_KEYS = ("error_path", "error_code_path", "error_message_path")
LEGACY_ERROR_KEYS += ("retryable_error_pattern",)


class ConnectorChecks(OperationChecks):
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
