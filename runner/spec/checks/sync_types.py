"""Checks of sync_types.yaml: the columns a sync type writes, and its on_missing."""

from __future__ import annotations

from runner.spec.checks.base import Checker
from runner.spec.columns import WRITABLE_COLUMNS


class SyncTypeChecks(Checker):
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
