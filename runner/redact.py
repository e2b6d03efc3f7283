"""One place for secret redaction: URLs, headers, and known secret values in any text.

Three layers, used together by `redact()`:
- query keys that always carry secrets (`sign`, `access_token`, `session`, `consumer_key`, ...)
  have their values replaced in URLs, whatever the value;
- header names that carry secrets (`Authorization`, `X-Shopify-Access-Token`, cookies, and any
  name mentioning token/secret/key/password/signature) have their values replaced;
- known secret values (the resolved credentials a connector registers with `SECRETS.add`) are
  replaced wherever they appear: in messages, bodies, URLs, percent-encoded or not.

Known secret values live in a *scope* (`secret_scope()`), not in the process: the worker
enters one around each job and the one-off commands around their work, so a job's
credentials are forgotten when it ends. `SECRETS` is the handle every caller uses; it reads
and writes the scope of the current context (a `contextvars.ContextVar`).

Threads do not inherit a context. A thread a job starts sees the job's scope when its target
is wrapped with `in_current_scope(fn)` (or runs in `contextvars.copy_context()`); a thread
that was started without one (no scope in its context) redacts with every scope open at that
moment and registers in the innermost ones (the running jobs', not the command's around
them): masking another job's secret too is harmless, and nothing outlives its job.
Only with no scope open at all (a library embedder that never enters one) do values go to
the unscoped registry, which lives as long as the process, as before scopes existed.

Values shorter than `MIN_SECRET_LENGTH` are not registered: redacting "1" or "es"
everywhere would destroy messages and protect nothing.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET_LENGTH = 6

SECRET_QUERY_KEYS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "app_key",
        "app_secret",
        "client_secret",
        "code",
        "consumer_key",
        "consumer_secret",
        "key",
        "password",
        "refresh_token",
        "secret",
        "session",
        "sign",
        "signature",
        "token",
    }
)
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "proxy-authorization",
        "set-cookie",
        "x-shopify-access-token",
    }
)
_SECRET_HEADER_WORDS = re.compile(r"token|secret|api[-_]?key|password|signature|auth", re.I)
# Rate-limit and paging headers mention none of those words, but keep an explicit allow list so
# that a header like `X-Ratelimit-Reset` is never hidden by a future word.
_PUBLIC_HEADERS = frozenset({"www-authenticate"})


class SecretRegistry:
    """Known secret values, replaced by `MASK` wherever they appear. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: object) -> None:
        """Register secret values (non-strings and short values are ignored)."""
        fresh = set()
        for value in values:
            if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
                continue
            # The same secret may appear percent-encoded in a URL or a form body.
            fresh.update({value, quote(value, safe=""), quote_plus(value, safe="")})
        with self._lock:
            if fresh <= self._values:
                return
            self._values = self._values | fresh
            ordered = sorted(self._values, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def add_all(self, mapping: Mapping[str, object] | Iterable[object]) -> None:
        """Register every string found in a (nested) mapping or iterable, e.g. credentials."""
        stack = [mapping]
        while stack:
            item = stack.pop()
            if isinstance(item, Mapping):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple, set, frozenset)):
                stack.extend(item)
            else:
                self.add(item)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def text(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None and text else text

    def clear(self) -> None:
        """Forget every value (tests only)."""
        with self._lock:
            self._values = frozenset()
            self._pattern = None


class _Scopes:
    """The open scopes and the context's own one (see the module docstring)."""

    def __init__(self) -> None:
        self.current: contextvars.ContextVar[SecretRegistry | None] = contextvars.ContextVar(
            "sync_runner_secret_scope", default=None
        )
        self.unscoped = SecretRegistry()
        self._lock = threading.Lock()
        # (scope, the scope it was entered in): a command's scope holds its jobs' scopes.
        self._open: tuple[tuple[SecretRegistry, SecretRegistry | None], ...] = ()

    def open(self, registry: SecretRegistry, outer: SecretRegistry | None) -> None:
        with self._lock:
            self._open = (*self._open, (registry, outer))

    def close(self, registry: SecretRegistry) -> None:
        with self._lock:
            self._open = tuple(pair for pair in self._open if pair[0] is not registry)

    def targets(self, *, adding: bool = False) -> tuple[SecretRegistry, ...]:
        """Where the current context's values are looked up, or (`adding`) registered. A
        thread without a scope of its own registers in the innermost open scopes only (a
        job's, not the command's around it, which outlives the job)."""
        registry = self.current.get()
        if registry is not None:
            return (registry,)
        opened = self._open
        if not opened:
            return (self.unscoped,)
        if adding:
            outers = {id(outer) for _, outer in opened if outer is not None}
            return tuple(scope for scope, _ in opened if id(scope) not in outers)
        return tuple(scope for scope, _ in opened)


_SCOPES = _Scopes()


class ScopedSecrets:
    """`SECRETS`: the registry API, on the current context's scope (or, in a thread started
    without a scope, on every open scope)."""

    def add(self, *values: object) -> None:
        for registry in _SCOPES.targets(adding=True):
            registry.add(*values)

    def add_all(self, mapping: Mapping[str, object] | Iterable[object]) -> None:
        for registry in _SCOPES.targets(adding=True):
            registry.add_all(mapping)

    def __contains__(self, value: object) -> bool:
        return any(value in registry for registry in _SCOPES.targets())

    def text(self, text: str) -> str:
        for registry in _SCOPES.targets():
            text = registry.text(text)
        return text

    def clear(self) -> None:
        """Forget every value of the current scope (tests only)."""
        for registry in _SCOPES.targets():
            registry.clear()


SECRETS = ScopedSecrets()


@contextmanager
def secret_scope() -> Iterator[SecretRegistry]:
    """A scope for the secrets registered inside it (a job, a one-off command): they are
    redacted within it and forgotten when it ends. A scope entered inside another one
    starts with the outer scope's values (they are still secret in there)."""
    outer = _SCOPES.current.get()
    registry = SecretRegistry()
    if outer is not None:
        registry.add_all(list(outer._values))
    token = _SCOPES.current.set(registry)
    _SCOPES.open(registry, outer)
    try:
        yield registry
    finally:
        _SCOPES.close(registry)
        _SCOPES.current.reset(token)
        registry.clear()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_current_scope(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """`fn`, run in a copy of the caller's context: give it as a thread's target (or to an
    executor) so that the thread registers and redacts in the job's own scope."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        # A copy per call: one context cannot be entered by two threads at once.
        return context.copy().run(fn, *args, **kwargs)

    return run


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    if lowered in _PUBLIC_HEADERS:
        return False
    return lowered in SECRET_HEADERS or bool(_SECRET_HEADER_WORDS.search(lowered))


def redact_url(url: str, registry: SecretRegistry | ScopedSecrets = SECRETS) -> str:
    """The URL with secret query values masked and userinfo dropped."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return registry.text(str(url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs],
            safe="*,:/",
        )
    return registry.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    registry: SecretRegistry | ScopedSecrets = SECRETS,
) -> dict[str, str]:
    """A copy of the headers with secret values masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {
        name: MASK if is_secret_header(name) else registry.text(str(value)) for name, value in items
    }


_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+")
# A JSON string field whose name says it holds a secret (accessToken, refresh_token,
# apiKey, client_secret, password, ...): its value is masked wherever the JSON appears.
_SECRET_JSON_FIELD = re.compile(
    r'("[A-Za-z_-]*(?:token|secret|password|api[-_]?key|signature)[A-Za-z_-]*"\s*:\s*")'
    r'((?:[^"\\]|\\.)*)(")',
    re.I,
)


# Characters no database can store in a text column (NUL in Postgres, unpaired surrogates in
# UTF-8): a supplier's error body may carry them into a message, so they are escaped.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode()


def redact(text: str, registry: SecretRegistry | ScopedSecrets = SECRETS) -> str:
    """Any message: URLs inside it are redacted, JSON string fields named like secrets
    (`"accessToken": "..."`, a login answer read before its token is registered) masked,
    then every known secret value is masked, and characters that no text column can store
    are escaped (`\\x00`)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0), registry), str(text))
    text = _SECRET_JSON_FIELD.sub(rf"\1{MASK}\3", text)
    return _UNSTORABLE.sub(_escape, registry.text(text))


def redact_data(value: Any, registry: SecretRegistry | ScopedSecrets = SECRETS) -> Any:
    """Plain JSON data (a rejected record) with `redact()` applied to every string in it,
    keys included: its JSON text is redacted and read back (one pass in C each way, and no
    recursion however deep the record is nested)."""
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False)
    redacted = redact(text, registry)
    return value if redacted == text else json.loads(redacted)
