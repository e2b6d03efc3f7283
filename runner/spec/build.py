"""Turn checked spec documents (plain dicts) into the frozen model of `runner.spec.model`.

Only called on documents that passed `runner.spec.validate`, so shapes are trusted here.
Defaults come from the model's dataclasses, and for auth and pagination parameters from the
`default` of each property in the schemas (`runner.spec.validate.kind_defaults`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runner.spec.model import (
    AuthSpec,
    BackoffSpec,
    ChangedSinceSpec,
    CheckSpec,
    ClassifyRule,
    ConnectorSpec,
    FieldSpec,
    FormatSpec,
    LoggingSpec,
    LookupSpec,
    MappingSpec,
    MatchSpec,
    MockFieldSpec,
    MockSpec,
    OperationSpec,
    PaginateSpec,
    PriceRuleSpec,
    QueueSpec,
    RateLimitSpec,
    ReadbackSpec,
    ResponseSpec,
    RetentionSpec,
    RetrySpec,
    RunnerSpec,
    ScheduleSpec,
    ScoreRuleSpec,
    ScoringSpec,
    SpecSet,
    StepSpec,
    SyncTypeSpec,
    TimeoutSpec,
    VariationsSpec,
    WebhookSpec,
    WriteSpec,
)

if TYPE_CHECKING:
    from runner.spec.load import Documents

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int) -> int:
    """`90s`, `15m`, `24h`, `7d` (or a plain number of seconds) -> seconds."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use a number with s, m, h or d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def build_spec_set(docs: Documents) -> SpecSet:
    runner = build_runner(docs.runner.data, docs.runner.file) if docs.runner else RunnerSpec()
    sync_types = build_sync_types(docs.sync_types.data if docs.sync_types else {})
    suppliers = {
        c.name: c
        for c in (build_connector(d.data, "supplier", d.file, d.stem) for d in docs.suppliers)
    }
    marketplaces = {
        c.name: c
        for c in (build_connector(d.data, "marketplace", d.file, d.stem) for d in docs.marketplaces)
    }
    mappings = {m.name: m for m in (build_mapping(d.data, d.file, d.stem) for d in docs.mappings)}
    return SpecSet(
        runner=runner,
        sync_types=sync_types,
        suppliers=suppliers,
        marketplaces=marketplaces,
        mappings=mappings,
    )


# ---------------------------------------------------------------------------------------------
# runner.yaml


def build_runner(data: dict[str, Any], file: str = "") -> RunnerSpec:
    queue = dict(data.get("queue") or {})
    backoff = BackoffSpec(**queue.pop("backoff", {}))
    scoring = data.get("scoring") or {}
    kwargs: dict[str, Any] = {
        "queue": QueueSpec(**queue, backoff=backoff),
        "retention": RetentionSpec(**(data.get("retention") or {})),
        "scoring": ScoringSpec(
            base=scoring.get("base", ScoringSpec.base),
            rules=tuple(ScoreRuleSpec(**rule) for rule in scoring.get("rules") or ()),
        ),
        "webhooks": tuple(
            WebhookSpec(
                **{
                    **hook,
                    "events": tuple(hook.get("events", WebhookSpec.events)),
                    "allow_hosts": tuple(hook.get("allow_hosts", ())),
                }
            )
            for hook in data.get("webhooks") or ()
        ),
        "schedules": tuple(ScheduleSpec(**s) for s in data.get("schedules") or ()),
        "logging": LoggingSpec(**(data.get("logging") or {})),
        "source_file": file,
    }
    database = data.get("database") or {}
    if "url" in database:
        kwargs["database_url"] = database["url"]
    return RunnerSpec(**kwargs)


# ---------------------------------------------------------------------------------------------
# sync_types.yaml


def build_sync_types(data: dict[str, Any]) -> dict[str, SyncTypeSpec]:
    result = {}
    for name, spec in data.items():
        spec = dict(spec)
        stale_after = spec.pop("stale_after", None)
        status_in = spec.pop("status_in", None)
        status_not_in = spec.pop("status_not_in", None)
        price_rule = spec.pop("price_rule", None)
        result[name] = SyncTypeSpec(
            name=name,
            **{k: v for k, v in spec.items() if k != "fields"},
            fields=tuple(spec["fields"]),
            stale_after_seconds=parse_duration(stale_after) if stale_after is not None else None,
            status_in=tuple(status_in) if status_in is not None else None,
            status_not_in=tuple(status_not_in) if status_not_in is not None else None,
            price_rule=PriceRuleSpec(**price_rule) if price_rule else None,
        )
    return result


# ---------------------------------------------------------------------------------------------
# Suppliers and marketplaces


def build_auth(data: dict[str, Any]) -> AuthSpec:
    from runner.spec.validate import kind_defaults

    params = {**kind_defaults("auth", data["type"]), **data}
    kind = params.pop("type")
    return AuthSpec(type=kind, params=params)


def build_paginate(data: dict[str, Any]) -> PaginateSpec:
    from runner.spec.validate import kind_defaults

    params = {**kind_defaults("paginate", data["type"]), **data}
    kind = params.pop("type")
    max_pages = params.pop("max_pages", PaginateSpec.max_pages)
    if kind in ("page_number", "offset"):
        # A page shorter than the size asked for is the last one, unless told otherwise.
        params.setdefault("stop_on_short_page", "size" in params)
    return PaginateSpec(type=kind, params=params, max_pages=max_pages)


def build_operation(name: str, data: dict[str, Any]) -> OperationSpec:
    kwargs = {
        k: v
        for k, v in data.items()
        if k not in ("paginate", "lookup", "auth", "params", "headers", "format")
    }
    return OperationSpec(
        name=name,
        kind="lookup" if "lookup" in data else "list",
        params=dict(data.get("params") or {}),
        headers={k: str(v) for k, v in (data.get("headers") or {}).items()},
        paginate=build_paginate(data["paginate"]) if data.get("paginate") else None,
        lookup=LookupSpec(**data["lookup"]) if "lookup" in data else None,
        auth=build_auth(data["auth"]) if data.get("auth") else None,
        format=build_format(data.get("format") or "json"),
        **kwargs,
    )


def build_format(data: str | dict[str, Any]) -> FormatSpec:
    """`format: csv` or `format: {type: csv, delimiter: ";", ...}`."""
    if isinstance(data, str):
        return FormatSpec(type=data)  # type: ignore[arg-type]
    options = dict(data)
    for name in ("columns", "decimal_columns", "lists"):
        if options.get(name) is not None:
            options[name] = tuple(options[name])
    return FormatSpec(**options)


def build_step(data: str | dict[str, Any]) -> StepSpec:
    if isinstance(data, str):
        return StepSpec(operation=data)
    fields = data.get("fields")
    changed = data.get("changed_since")
    if changed is not None:
        changed = dict(changed)
        overlap = changed.pop("overlap", None)
        if overlap is not None:
            changed["overlap_seconds"] = parse_duration(overlap)
        changed = ChangedSinceSpec(**changed)
    return StepSpec(
        **{
            **data,
            "fields": tuple(fields) if fields is not None else None,
            "changed_since": changed,
        }
    )


def build_response(data: dict[str, Any]) -> ResponseSpec:
    rules = tuple(
        ClassifyRule(when=rule["when"], as_=rule["as"], delay=rule.get("delay"))
        for rule in data.get("classify") or ()
    )
    return ResponseSpec(**{k: v for k, v in data.items() if k != "classify"}, classify=rules)


def build_connector(
    data: dict[str, Any], kind: str, file: str = "", stem: str = ""
) -> ConnectorSpec:
    name = data.get("name") or stem
    rate_limit = data.get("rate_limit")
    return ConnectorSpec(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        title=data.get("title") or name,
        base_url=data["base_url"],
        auth=build_auth(data.get("auth") or {"type": "none"}),
        operations={n: build_operation(n, op) for n, op in data["operations"].items()},
        syncs={
            sync_type: tuple(build_step(step) for step in steps)
            for sync_type, steps in (data.get("syncs") or {}).items()
        },
        rate_limit=RateLimitSpec(**rate_limit) if rate_limit else None,
        budgets={n: RateLimitSpec(**b) for n, b in (data.get("budgets") or {}).items()},
        retry=RetrySpec(**(data.get("retry") or {})),
        timeouts=TimeoutSpec(**(data.get("timeouts") or {})),
        response=build_response(data.get("response") or {}),
        check=CheckSpec(**data["check"]) if data.get("check") else None,
        writes={n: _write(n, w) for n, w in (data.get("writes") or {}).items()},
        match=_match(data["match"]) if data.get("match") else None,
        pushes={t: p["write"] for t, p in (data.get("pushes") or {}).items()},
        variant_pushes={
            t: p["variant_write"]
            for t, p in (data.get("pushes") or {}).items()
            if p.get("variant_write")
        },
        source_file=file,
    )


# ---------------------------------------------------------------------------------------------
# Mappings


def build_field(name: str, data: dict[str, Any]) -> FieldSpec:
    return FieldSpec(name=name, **{("source" if k == "from" else k): v for k, v in data.items()})


def build_mock_fields(fields: dict[str, Any]) -> tuple[MockFieldSpec, ...]:
    """`{name: {generator: params}}` -> MockFieldSpecs; nested field dicts stay plain dicts.

    Generator parameters get their schema defaults (`sequence` start and step, `decimal`
    places and as_string), nested ones too, so that `explain` shows them.
    """
    result = []
    for name, spec in fields.items():
        ((generator, params),) = spec.items()
        result.append(
            MockFieldSpec(name=name, generator=generator, params=_mock_params(generator, params))
        )
    return tuple(result)


def _mock_params(generator: str, params: Any) -> Any:
    from runner.spec.validate import mock_defaults

    def nested(fields: Any) -> Any:
        if not isinstance(fields, dict):
            return fields
        return {
            name: {gen: _mock_params(gen, p) for gen, p in spec.items()}
            if isinstance(spec, dict) and len(spec) == 1
            else spec
            for name, spec in fields.items()
        }

    if generator == "object":
        return nested(params)
    if generator == "list" and isinstance(params, dict) and "item" in params:
        return {**params, "item": nested(params["item"])}
    defaults = mock_defaults(generator)
    if defaults and (params is None or isinstance(params, dict)):
        return {**defaults, **(params or {})}
    return params


def build_mock(data: dict[str, Any]) -> MockSpec:
    return MockSpec(
        **{k: v for k, v in data.items() if k != "fields"},
        fields=build_mock_fields(data["fields"]),
    )


def build_mapping(data: dict[str, Any], file: str = "", stem: str = "") -> MappingSpec:
    return MappingSpec(
        name=data.get("name") or stem,
        target=data["target"],
        key=data["key"],
        fields=tuple(build_field(n, f) for n, f in data["fields"].items()),
        mock=build_mock(data["mock"]) if data.get("mock") else None,
        source_file=file,
    )


def _write(name: str, data: dict[str, Any]) -> WriteSpec:
    readback = data.get("readback")
    return WriteSpec(
        name=name,
        **{**data, "readback": ReadbackSpec(**readback) if readback else None},
    )


def _match(data: dict[str, Any]) -> MatchSpec:
    variations = data.get("variations")
    return MatchSpec(**{**data, "variations": VariationsSpec(**variations) if variations else None})
