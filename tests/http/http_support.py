"""Helpers of the connector tests: a recording sleep, a spec builder for the generic fake."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runner.spec.model import (
    AuthSpec,
    ConnectorSpec,
    LookupSpec,
    OperationSpec,
    PaginateSpec,
    RetrySpec,
)


class Sleeper:
    """A `sleep` that records and returns at once, and the monotonic `clock` it advances."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def generic_spec(
    base_url: str,
    *,
    auth: AuthSpec | None = None,
    retry: RetrySpec | None = None,
    **operations: dict[str, Any],
) -> ConnectorSpec:
    """A ConnectorSpec for the generic fake; each keyword is one operation's fields."""
    ops = {}
    for name, fields in operations.items():
        fields = dict(fields)
        paginate = fields.pop("paginate", None)
        if isinstance(paginate, dict):
            paginate = dict(paginate)
            kind = paginate.pop("type")
            max_pages = paginate.pop("max_pages", 10_000)
            paginate = PaginateSpec(type=kind, params=paginate, max_pages=max_pages)
        lookup = fields.pop("lookup", None)
        if isinstance(lookup, dict):
            lookup = LookupSpec(**lookup)
        ops[name] = OperationSpec(
            name=name,
            kind="lookup" if lookup else "list",
            paginate=paginate,
            lookup=lookup,
            **fields,
        )
    return ConnectorSpec(
        name="generic",
        kind="supplier",
        title="Generic",
        base_url=base_url,
        auth=auth or AuthSpec(type="none"),
        operations=ops,
        syncs={},
        retry=retry or RetrySpec(max_attempts=5, backoff_seconds=1, max_backoff_seconds=30),
    )


def with_retry(spec: ConnectorSpec, **retry: Any) -> ConnectorSpec:
    return replace(spec, retry=replace(spec.retry, **retry))
