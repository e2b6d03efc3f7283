"""Check spec documents: JSON Schema first, then the cross-references between files.

Every problem becomes a `SpecIssue` with the file, line, column and JSON path of the node at
fault and a plain message; a misspelt key or name suggests the closest valid one. Checks run
on every part of every file that has no schema error, so that one run reports everything.
Nothing here imports a database driver or an HTTP client (`sync-runner validate` stays fast).

The schema pass is `runner.spec.schema`; the cross-file checks are in `runner.spec.checks`
(runner.yaml, sync types, mappings, connectors with their operations and auth); this module
runs them in order, then plans every step (`check_plans`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.spec.checks.connectors import ConnectorChecks
from runner.spec.checks.mappings import MappingChecks
from runner.spec.checks.runner_yaml import RunnerChecks
from runner.spec.checks.sync_types import SyncTypeChecks
from runner.spec.schema import (
    SCHEMA_FILES,
    kind_defaults,
    load_schema,
    mock_defaults,
    schema_issues,
    schemas_dir,
    suggest,
)

if TYPE_CHECKING:
    from runner.spec.load import Documents, SpecIssue

# Importable from here as before (runner.accounts, runner.commands.spec, runner.spec.build, tests).
__all__ = [
    "SCHEMA_FILES",
    "check_documents",
    "check_plans",
    "kind_defaults",
    "load_schema",
    "mock_defaults",
    "schema_issues",
    "schemas_dir",
    "suggest",
]


class _Checker(RunnerChecks, SyncTypeChecks, MappingChecks, ConnectorChecks):
    """All the cross-file checks, run in order on the parts that passed the schema."""

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
