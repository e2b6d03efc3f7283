"""Errors inside an answer, found by value: the `response` rules of a connector, compiled once.

Two forms, one per connector (the spec checker refuses a mix):
- by value: `error_when` is an expression over `status`, `headers` (lower-case names) and
  `body` (the parsed JSON) that is true when a 2xx answer is an error (CJ:
  `body.result == false or body.code != 200`); `error_code` and `error_message` are
  expressions for the error's code and message; `classify` rules (first true `when` wins,
  reading also `code` and `message`) say whether it is `transient`, `permanent`,
  `retry_after` (after `delay` seconds, an expression) or `auth_expired`. No rule: permanent.
- by presence (older): `error_path` present means an error, `error_code_path` and
  `error_message_path` name its parts, `retryable_error_pattern` (a regex over code and
  message) makes it transient, and "ban will last N seconds" in it states the delay.

Expressions run in the same sandbox as mappings (`runner.templating`); one that fails to
evaluate is itself a permanent error naming the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runner.errors import PermanentError
from runner.paths import get_path
from runner.redact import redact
from runner.spec.model import ResponseSpec
from runner.templating import compile_expression

SNIPPET = 300
BAN_SECONDS = re.compile(r"(?:ban will last|last for)\D{0,12}(\d+(?:\.\d+)?)\s*(?:more\s+)?s", re.I)

Kind = Literal["transient", "permanent", "retry_after", "auth_expired"]


@dataclass(frozen=True)
class Verdict:
    """An error found inside an answer: its one-line message, how to handle it, and the
    delay the answer stated (seconds), if any."""

    message: str
    kind: Kind
    delay: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in ("transient", "retry_after")


class Expression:
    """A compiled expression that names itself when it fails."""

    def __init__(self, source: str, where: str) -> None:
        self.source = source
        self.where = where
        self._evaluate = compile_expression(source)

    def __call__(self, variables: Mapping[str, Any]) -> Any:
        try:
            return self._evaluate(variables)
        except Exception as exc:  # the sandbox, a filter, arithmetic on odd data
            raise PermanentError(
                f"{self.where} {self.source!r} failed: {type(exc).__name__}: {redact(str(exc))}"
            ) from None


@dataclass(frozen=True)
class _Rule:
    when: Expression
    kind: Kind
    delay: Expression | None


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN: no delay stated


class ResponseRules:
    """`error(variables)` -> a `Verdict` when a 2xx answer carries an error, else None."""

    def __init__(self, spec: ResponseSpec) -> None:
        self.spec = spec
        self._when = Expression(spec.error_when, "error_when") if spec.error_when else None
        self._code = Expression(spec.error_code, "error_code") if spec.error_code else None
        self._message = (
            Expression(spec.error_message, "error_message") if spec.error_message else None
        )
        self._rules = tuple(
            _Rule(
                Expression(rule.when, f"classify[{i}].when"),
                rule.as_,
                Expression(rule.delay, f"classify[{i}].delay") if rule.delay else None,
            )
            for i, rule in enumerate(spec.classify)
        )
        pattern = spec.retryable_error_pattern
        self._retryable = re.compile(pattern, re.I) if pattern else None

    @property
    def active(self) -> bool:
        return self._when is not None or self.spec.error_path is not None

    def error(self, variables: Mapping[str, Any]) -> Verdict | None:
        if self._when is not None:
            return self._by_value(variables) if self._when(variables) else None
        return self._by_presence(variables["body"])

    def _by_value(self, variables: Mapping[str, Any]) -> Verdict:
        code = self._code(variables) if self._code is not None else None
        message = self._message(variables) if self._message is not None else None
        text = " ".join(str(part) for part in (code, message) if part is not None)
        if not text:
            text = _snippet(variables["body"])
        kind: Kind = "permanent"
        delay = None
        scope = {**variables, "code": code, "message": message}
        for rule in self._rules:
            if rule.when(scope):
                kind = rule.kind
                if rule.delay is not None:
                    delay = _seconds(rule.delay(scope))
                break
        return Verdict(f"API error: {redact(text)}", kind, delay)

    def _by_presence(self, data: Any) -> Verdict | None:
        spec = self.spec
        if not spec.error_path or not isinstance(data, dict):
            return None
        if get_path(data, spec.error_path) is None:
            return None
        code = get_path(data, spec.error_code_path) if spec.error_code_path else None
        message = get_path(data, spec.error_message_path) if spec.error_message_path else None
        if code is None and message is None:
            message = _snippet(get_path(data, spec.error_path))
        text = " ".join(str(part) for part in (code, message) if part is not None)
        if not (self._retryable and self._retryable.search(text)):
            return Verdict(f"API error: {redact(text)}", "permanent")
        match = BAN_SECONDS.search(text)
        delay = float(match.group(1)) if match else None
        return Verdict(f"API error: {redact(text)}", "transient", delay)


def _snippet(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:SNIPPET]


def compile_predicate(source: str, where: str) -> Callable[[Mapping[str, Any]], bool]:
    """A yes/no expression over a response's variables (`empty_when`, `dead_when`)."""
    expression = Expression(source, where)
    return lambda variables: bool(expression(variables))
