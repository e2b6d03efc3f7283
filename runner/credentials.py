"""Account credentials: the secret itself, or a reference to where it lives.

Each value of an account's stored credentials (`suppliers.api_credentials`,
`marketplace_integrations.credentials`) is one of:

- `{"env": "NAME"}`: read from the environment variable NAME when the account runs (a
  Kubernetes Secret mounted with `envFrom`);
- `{"file": "/path"}`: read from a file when the account runs (a Secret mounted as a volume);
- a plain string: the secret itself, stored in the database (`accounts add` warns).

`spec_needs` reads, once per spec, which `credentials.X` and `env.Y` its request templates
use (a value under `| default(...)` is optional); `missing_secrets` says, by name, what an
account needs and lacks, and `resolve_account` turns references into values or raises
`MissingSecret` with those lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, nodes

from runner.errors import PermanentError
from runner.spec.model import ConnectorSpec
from runner.templating import check_source, is_template

REFERENCE_KINDS = ("env", "file")


class MissingSecret(PermanentError):
    """An account needs a credential or environment variable that is not there."""

    def __init__(self, message: str, missing: list[Missing]) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Needs:
    """What a connector spec's request templates read: credential keys and env names."""

    credentials: frozenset[str]
    env: frozenset[str]


@dataclass(frozen=True)
class Missing:
    """One thing an account needs and lacks: `env BIGBUY_API_KEY`, `not set`."""

    what: str
    why: str

    def line(self, spec_name: str, account_name: str) -> str:
        return f"{spec_name} account {account_name!r} needs {self.what}: {self.why}"


# ---------------------------------------------------------------------------------------------
# Stored values


def parse_credential(text: str) -> tuple[str, Any, bool]:
    """`KEY=env:NAME`, `KEY=file:/path`, `KEY=literal:VALUE` or `KEY=VALUE` -> (key, stored
    value, whether the secret itself will be stored). Raises ValueError on a bad form."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{text!r}: expected KEY=env:NAME, KEY=file:/path or KEY=VALUE")
    kind, colon, rest = value.partition(":")
    if colon and kind in REFERENCE_KINDS:
        if not rest:
            raise ValueError(f"{key}: {kind}: needs a name after the colon")
        return key, {kind: rest}, False
    if colon and kind == "literal":
        return key, rest, True
    return key, value, True


def describe(value: Any) -> str:
    """How a stored credential is shown: the reference, never a stored secret."""
    reference = _reference(value)
    if reference is not None:
        return f"{reference[0]}:{reference[1]}"
    return "(stored value)" if value not in (None, "") else "(empty)"


def _reference(value: Any) -> tuple[str, str] | None:
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, name),) = value.items()
        if kind in REFERENCE_KINDS and isinstance(name, str):
            return kind, name
    return None


def _resolve_one(key: str, value: Any, environ: Mapping[str, str]) -> tuple[Any, Missing | None]:
    reference = _reference(value)
    if reference is None:
        if value in (None, ""):
            return None, Missing(f"credential {key}", "empty")
        return value, None
    kind, name = reference
    if kind == "env":
        found = environ.get(name)
        return (found, None) if found else (None, Missing(f"env {name}", "not set"))
    try:
        text = Path(name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        return None, Missing(f"file {name}", exc.strerror or "not readable")
    return (text, None) if text else (None, Missing(f"file {name}", "empty"))


# ---------------------------------------------------------------------------------------------
# What a spec needs


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _read_names(tree: nodes.Node, found: dict[str, set[str]]) -> None:
    """Add to `found` every `credentials.X` / `env.Y` read outside a `default` filter."""
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
            stack.extend(n for n in node.iter_child_nodes() if n is not node.node)
            continue
        root = getattr(node, "node", None)
        if isinstance(root, nodes.Name) and root.name in found:
            if isinstance(node, nodes.Getattr):
                found[root.name].add(node.attr)
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                found[root.name].add(str(node.arg.value))
        stack.extend(node.iter_child_nodes())


def spec_needs(spec: ConnectorSpec) -> Needs:
    """The credential keys and env names the spec's request templates read."""
    found: dict[str, set[str]] = {"credentials": set(), "env": set()}
    parts: list[Any] = [spec.base_url, spec.auth.params]
    for op in spec.operations.values():
        parts += [op.params, op.headers, op.body, op.auth.params if op.auth else None]
    if spec.check is not None:
        parts.append(spec.check.params)
    for text in _strings(parts):
        if not is_template(text):
            continue
        try:
            _read_names(check_source(text), found)
        except TemplateError:
            continue  # the spec checker reports it
    return Needs(frozenset(found["credentials"]), frozenset(found["env"]))


# ---------------------------------------------------------------------------------------------
# One account


def missing_secrets(
    spec: ConnectorSpec, credentials: Mapping[str, Any], environ: Mapping[str, str]
) -> list[Missing]:
    """Everything the account needs and lacks, in a stable order."""
    needs = spec_needs(spec)
    missing = []
    for key in sorted(needs.credentials):
        if key not in credentials:
            missing.append(Missing(f"credential {key}", "not set"))
            continue
        _, problem = _resolve_one(key, credentials[key], environ)
        if problem is not None:
            missing.append(problem)
    missing += [
        Missing(f"env {name}", "not set") for name in sorted(needs.env) if not environ.get(name)
    ]
    return missing


def resolve_account(
    spec: ConnectorSpec, name: str, credentials: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    """The credentials with every reference read. Raises `MissingSecret` naming each thing
    the account needs and lacks (one line each, joined by "; ")."""
    missing = missing_secrets(spec, credentials, environ)
    if missing:
        raise MissingSecret("; ".join(m.line(spec.name, name) for m in missing), missing)
    resolved = {}
    for key, value in credentials.items():
        found, _ = _resolve_one(key, value, environ)
        if found is not None:
            resolved[key] = found
    return resolved
