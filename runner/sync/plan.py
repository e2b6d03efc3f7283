"""The step plan: what each step of a sync type does for one connector, decided before it runs.

`plan_steps(specs, sync_type, connector)` is pure (no database, no network, no account): it
resolves every step's operation and mapping, narrows the mapping to the sync type's fields
and says how the step writes. The mapping is compiled on first use of `StepPlan.mapping`
(the engine's): `validate`, which checks every expression on its own, plans without paying
for code generation. The engine runs the plan; `sync-runner validate` plans every
connector x sync type it declares (`runner.spec.validate.check_plans`), so that whatever
validates also runs. A step that cannot run raises `PlanError`, naming the step.

It imports no database driver and no HTTP client (`validate` must stay light).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from runner.errors import PermanentError
from runner.mapping import SOURCE_HASH_COLUMN, CompiledMapping, compile_mapping
from runner.spec.model import (
    ConnectorSpec,
    MappingSpec,
    OperationSpec,
    SpecSet,
    StepSpec,
    SyncTypeSpec,
)


class PlanError(PermanentError):
    """A step that cannot run: no mapping, or a mapping that writes another target."""

    def __init__(self, message: str, *, index: int, name: str) -> None:
        super().__init__(message)
        self.index = index  # the step's position in the connector's `syncs` list
        self.name = name  # the step's name in result_data


@dataclass(frozen=True)
class StepPlan:
    """One step, ready to run for any account of its connector."""

    name: str  # unique within the sync type: the operation, then `op#2`, ...
    index: int
    step: StepSpec
    operation: OperationSpec
    mapping_name: str
    mapping_spec: MappingSpec
    fields: frozenset[str]  # the sync type's fields, narrowed by the step's
    upsert: bool  # the first step of a sync type that creates rows; else an update
    lookup: bool  # fans out over known ids (`Connector.lookup`)
    # A list step that creates rows hashes records and maps only those that changed: its
    # rows also carry `source_hash`.
    source_filter: bool
    # A complete listing (of the catalogue, not narrowed by changed_since): it may record
    # what it saw and delist what it did not return.
    complete: bool
    max_reject_ratio: float
    field_types: Mapping[str, str]  # mapped field -> its declared type

    @cached_property
    def mapping(self) -> CompiledMapping:
        """The mapping compiled for `fields`; bind an account's settings with
        `mapping.for_settings(...)` (a copy: its counters are the step's own)."""
        return compile_mapping(self.mapping_spec, fields=self.fields)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The columns the step writes, the key left out."""
        return tuple(c for c in self.mapping.columns if c != self.mapping_spec.key)

    @property
    def written_columns(self) -> tuple[str, ...]:
        """What a database sink writes: the columns, and the source hash behind a filter."""
        return (*self.columns, SOURCE_HASH_COLUMN) if self.source_filter else self.columns


def plan_steps(
    specs: SpecSet, sync_type: SyncTypeSpec, connector: ConnectorSpec
) -> tuple[StepPlan, ...]:
    """The plan of every step `connector` declares for `sync_type` (none: an empty tuple)."""
    plans: list[StepPlan] = []
    taken: set[str] = set()
    for index, step in enumerate(connector.syncs.get(sync_type.name, ())):
        name = _step_name(step, taken)
        taken.add(name)
        plans.append(_plan_step(specs, sync_type, connector, step, index, name))
    return tuple(plans)


def _plan_step(
    specs: SpecSet,
    sync_type: SyncTypeSpec,
    connector: ConnectorSpec,
    step: StepSpec,
    index: int,
    name: str,
) -> StepPlan:
    op = connector.operations[step.operation]
    mapping_name = step.mapping or op.mapping
    if mapping_name is None or mapping_name not in specs.mappings:
        message = f"{connector.name}.{op.name}: no mapping to turn records into rows"
        raise PlanError(message, index=index, name=name)
    mapping_spec = specs.mappings[mapping_name]
    if mapping_spec.target != sync_type.target:
        message = (
            f"mapping {mapping_name} writes {mapping_spec.target}, "
            f"but {sync_type.name} writes {sync_type.target}"
        )
        raise PlanError(message, index=index, name=name)
    wanted = set(sync_type.fields)
    if step.fields is not None:
        wanted &= set(step.fields)
    upsert = index == 0 and sync_type.creates_rows
    lookup = op.kind == "lookup"
    ratio = step.max_reject_ratio
    return StepPlan(
        name=name,
        index=index,
        step=step,
        operation=op,
        mapping_name=mapping_name,
        mapping_spec=mapping_spec,
        fields=frozenset(wanted),
        upsert=upsert,
        lookup=lookup,
        source_filter=upsert and not lookup,
        complete=upsert and (not lookup or bool(step.ids_from)) and step.changed_since is None,
        max_reject_ratio=sync_type.max_reject_ratio if ratio is None else ratio,
        field_types={f.name: f.type for f in mapping_spec.fields},
    )


def _step_name(step: StepSpec, taken: set[str]) -> str:
    name = step.operation
    number = 2
    while name in taken:
        name = f"{step.operation}#{number}"
        number += 1
    return name
