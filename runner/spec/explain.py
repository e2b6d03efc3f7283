"""The effective spec: a model object written back in the spec language, defaults applied.

`sync-runner explain` prints these. The output is itself a valid spec of the same kind
(a test loads it back), so it shows exactly what the runner will do. Templates stay
unrendered: no secret is ever resolved here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from runner.spec.model import (
    AuthSpec,
    ConnectorSpec,
    FieldSpec,
    FormatSpec,
    MappingSpec,
    OperationSpec,
    PaginateSpec,
    ResponseSpec,
    RunnerSpec,
    StepSpec,
    SyncTypeSpec,
)


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _deep_without_none(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without its None values, in nested dicts too (a write's `readback`)."""
    return {
        k: _deep_without_none(v) if isinstance(v, dict) else v
        for k, v in data.items()
        if v is not None
    }


def _auth(auth: AuthSpec) -> dict[str, Any]:
    return {"type": auth.type, **auth.params}


def _paginate(paginate: PaginateSpec) -> dict[str, Any]:
    return {"type": paginate.type, **paginate.params, "max_pages": paginate.max_pages}


def _operation(op: OperationSpec) -> dict[str, Any]:
    result: dict[str, Any] = {
        "path": op.path,
        "method": op.method,
        "params": dict(op.params),
        "headers": dict(op.headers),
        **({"empty_when": op.empty_when} if op.empty_when is not None else {}),
        "id_field": op.id_field,
    }
    if op.format.is_feed:
        result["format"] = _format(op.format)
    else:
        result["records"] = op.records
    if op.body is not None:
        result["body"] = op.body
    if op.paginate is not None:
        result["paginate"] = _paginate(op.paginate)
    if op.lookup is not None:
        result["lookup"] = _without_none(asdict(op.lookup))
    if op.mapping is not None:
        result["mapping"] = op.mapping
    if op.auth is not None:
        result["auth"] = _auth(op.auth)
    if op.budget is not None:
        result["budget"] = op.budget
    result["resume"] = op.resume
    return result


def _response(response: ResponseSpec) -> dict[str, Any]:
    result = _without_none({k: v for k, v in asdict(response).items() if k != "classify"})
    if response.classify:
        result["classify"] = [
            _without_none({"when": rule.when, "as": rule.as_, "delay": rule.delay})
            for rule in response.classify
        ]
    return result


_FORMAT_OPTIONS = {
    "jsonl": (),
    "csv": ("encoding", "delimiter", "quote", "header", "columns"),
    "xml": ("record", "lists"),
}
_NUMBER_OPTIONS = ("decimal", "thousands", "decimal_columns")
_FEED_OPTIONS = ("compression", "member", "max_bytes", "min_records_ratio")


def _format(fmt: FormatSpec) -> dict[str, Any]:
    """A feed's format, with only the options of its type (the schema refuses others)."""
    names = _FORMAT_OPTIONS[fmt.type] + (_NUMBER_OPTIONS if fmt.type != "jsonl" else ())
    result: dict[str, Any] = {"type": fmt.type}
    for name in (*names, *_FEED_OPTIONS):
        value = getattr(fmt, name)
        if value is None or value == ():
            continue
        result[name] = list(value) if isinstance(value, tuple) else value
    return result


def _step(step: StepSpec) -> dict[str, Any]:
    result = _without_none(asdict(step))
    if step.fields is not None:
        result["fields"] = list(step.fields)
    if step.changed_since is not None:
        changed = result["changed_since"]
        changed["overlap"] = _duration(changed.pop("overlap_seconds"))
    return result


def explain_connector(spec: ConnectorSpec) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": spec.name,
        "title": spec.title,
        "base_url": spec.base_url,
        "auth": _auth(spec.auth),
    }
    if spec.rate_limit is not None:
        result["rate_limit"] = _without_none(asdict(spec.rate_limit))
    if spec.budgets:
        result["budgets"] = {n: _without_none(asdict(b)) for n, b in spec.budgets.items()}
    result["retry"] = asdict(spec.retry)
    result["timeouts"] = asdict(spec.timeouts)
    result["response"] = _response(spec.response)
    result["operations"] = {name: _operation(op) for name, op in spec.operations.items()}
    if spec.check is not None:
        result["check"] = asdict(spec.check)
    result["syncs"] = {name: [_step(s) for s in steps] for name, steps in spec.syncs.items()}
    if spec.match is not None:
        result["match"] = _deep_without_none(asdict(spec.match))
    if spec.writes:
        result["writes"] = {
            n: _deep_without_none({k: v for k, v in asdict(w).items() if k != "name"})
            for n, w in spec.writes.items()
        }
    if spec.pushes:
        result["pushes"] = {
            t: {
                "write": w,
                **({"variant_write": spec.variant_pushes[t]} if t in spec.variant_pushes else {}),
            }
            for t, w in spec.pushes.items()
        }
    return result


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def explain_sync_type(spec: SyncTypeSpec) -> dict[str, Any]:
    result: dict[str, Any] = {
        "description": spec.description,
        "source": spec.source,
        "target": spec.target,
        "fields": list(spec.fields),
        "creates_rows": spec.creates_rows,
    }
    if spec.stale_after_seconds is not None:
        result["stale_after"] = _duration(spec.stale_after_seconds)
    if spec.status_in is not None:
        result["status_in"] = list(spec.status_in)
    if spec.status_not_in is not None:
        result["status_not_in"] = list(spec.status_not_in)
    result["max_reject_ratio"] = spec.max_reject_ratio
    if spec.on_missing is not None:
        result["on_missing"] = dict(spec.on_missing)
    result["max_missing_ratio"] = spec.max_missing_ratio
    if spec.push is not None:
        result["push"] = spec.push
        result["max_zero_ratio"] = spec.max_zero_ratio
    if spec.price_rule is not None:
        result["price_rule"] = _without_none(asdict(spec.price_rule))
    result["log_icon"] = spec.log_icon
    return result


def _field(field: FieldSpec) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if field.source is not None:
        result["from"] = field.source
    elif field.expr is not None:
        result["expr"] = field.expr
    else:
        result["value"] = field.value
    result["type"] = field.type
    if field.default is not None:
        result["default"] = field.default
    result["required"] = field.required
    if field.map is not None:
        result["map"] = field.map
    if field.map_default is not None:
        result["map_default"] = field.map_default
    result["hash"] = field.hash
    return result


def explain_mapping(spec: MappingSpec) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": spec.name,
        "target": spec.target,
        "key": spec.key,
        "fields": {f.name: _field(f) for f in spec.fields},
    }
    if spec.mock is not None:
        mock = spec.mock
        result["mock"] = {
            "count": mock.count,
            "seed": mock.seed,
            "id_field": mock.id_field,
            "envelope": mock.envelope,
            "fields": {f.name: {f.generator: f.params} for f in mock.fields},
        }
    return result


def explain_runner(spec: RunnerSpec) -> dict[str, Any]:
    data = asdict(spec)
    data.pop("source_file")
    result: dict[str, Any] = {"database": {"url": data.pop("database_url")}}
    for hook in data["webhooks"]:
        hook["events"] = list(hook["events"])
        hook["allow_hosts"] = list(hook["allow_hosts"])
    data["scoring"]["rules"] = [_without_none(rule) for rule in data["scoring"]["rules"]]
    data["webhooks"] = list(data["webhooks"])
    data["schedules"] = list(data["schedules"])
    result.update(data)
    return result
