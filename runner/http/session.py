"""The `session_token` auth kind: log in (or refresh) for a short-lived token, send it, renew it.

Many supplier APIs (CJdropshipping, wholesalers, ERPs) trade an API key or a username and
password for a session token. Parameters (see `docs/specs.md`):

- `login`: the request that gets a token: `path` (after base_url, or an absolute URL),
  `method` (default POST), and one of `json`, `form` or `params`, templated from the
  account (`{{ credentials.api_key }}`);
- `token_path`, and optionally `refresh_token_path`, `expires_at_path` (ISO 8601 or epoch
  seconds) or `expires_in_path` (seconds): where they sit in the login answer;
- `send`: `{in: header, name: CJ-Access-Token, value: "{{ token }}"}` (value defaults to
  the token itself) or `{in: query, name: access_token}`;
- `refresh` (optional): a request like `login` whose templates may read `refresh_token`;
- `dead_when` (optional): an expression over status, headers and body that means "this
  token died" (a 401 always does, and so does a `classify` rule `as: auth_expired`);
- `login_cooldown_seconds`: the least time between two logins of one account (CJ: 300).

On "token dead": refresh if it can, else log in again, then the request is sent once more.
Tokens live in a `TokenStore`, per account; the database store (`runner.db.sessions`) keeps
them across jobs and pods, so that a second job reuses a live token and the cooldown holds
for every worker, and it renews under a row lock, so that concurrent workers wait for one
login instead of stampeding the endpoint. A login the cooldown forbids raises `RetryLater`:
the job is deferred, its attempt not charged, until the next login is allowed. Every token
is registered with `runner.redact.SECRETS` the moment it is read, so it never reaches a log,
an error, a result or a cassette.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx

from runner.errors import PermanentError, RetryLater, SyncRunnerError
from runner.http.auth import Auth, AuthContext, Call, register_auth
from runner.http.rules import compile_predicate
from runner.paths import get_path
from runner.redact import SECRETS

EXPIRY_MARGIN = 60.0  # seconds before its stated expiry that a token is renewed


@dataclass(frozen=True)
class SessionState:
    """One account's session. Times are epoch seconds; None means unknown or never."""

    token: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None
    logged_in_at: float | None = None


class TokenStore(Protocol):
    """Where an account's session lives. `update` runs `change` on the stored state while
    holding this account's lock (no other worker renews meanwhile) and stores its result
    (None: nothing to store); it returns the state in effect afterwards."""

    def load(self) -> SessionState | None: ...

    def update(
        self, change: Callable[[SessionState | None], SessionState | None]
    ) -> SessionState | None: ...


class MemoryTokenStore:
    """A store for one process (a connector used without a database, and tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: SessionState | None = None

    def load(self) -> SessionState | None:
        with self._lock:
            return self.state

    def update(
        self, change: Callable[[SessionState | None], SessionState | None]
    ) -> SessionState | None:
        with self._lock:
            new = change(self.state)
            if new is not None:
                self.state = new
            return self.state


def _epoch(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)
    try:
        return datetime.fromisoformat(str(value).strip()).timestamp()
    except ValueError:
        try:
            return _epoch(float(str(value)))
        except ValueError:
            return None


@register_auth
class SessionTokenAuth(Auth):
    kind = "session_token"
    late_params: ClassVar[tuple[str, ...]] = ("send", "refresh")  # read token/refresh_token

    def __init__(self, params: Mapping[str, Any], context: AuthContext) -> None:
        super().__init__(params, context)
        self.login = dict(self.params.get("login") or {})
        if not self.login.get("path"):
            raise PermanentError("auth session_token: login.path is missing")
        self.token_path = self.require("token_path")
        self.send = dict(self.params.get("send") or {})
        if self.send.get("in", "header") not in ("header", "query") or not self.send.get("name"):
            raise PermanentError("auth session_token: send needs name and in: header or query")
        self.cooldown = float(self.params.get("login_cooldown_seconds") or 0)
        dead_when = self.params.get("dead_when")
        self._dead = compile_predicate(dead_when, "dead_when") if dead_when else None
        self.reads_answers = self._dead is not None
        self.store: TokenStore = context.store or MemoryTokenStore()
        self._lock = threading.Lock()
        self._state: SessionState | None = None
        self.logins = 0  # requests this connector sent to the login endpoint
        self.refreshes = 0

    # -- what the client asks -------------------------------------------------------------------

    def apply(self, call: Call) -> None:
        token = self.token()
        name = str(self.send["name"])
        if self.send.get("in", "header") == "query":
            call.params[name] = token
            return
        template = self.send.get("value")
        value = self.context.render(template, {"token": token}) if template else token
        call.headers[name] = str(value)

    def dead(self, variables: Mapping[str, Any]) -> bool:
        return self._dead is not None and self._dead(variables)

    def on_unauthorized(self, call: Call, response: httpx.Response) -> bool:
        name = str(self.send["name"])
        sent = str(call.params.get(name) or call.headers.get(name) or "")
        with self._lock:
            current = self._state.token if self._state else None
            if current is None or current in sent:  # not renewed since this call was sent
                self._renew(dead=current)
        return True

    # -- the token ------------------------------------------------------------------------------

    def token(self) -> str:
        with self._lock:
            state = self._state
            if state is None:
                state = self._state = self.store.load()
                if state is not None:  # a token another job obtained: a secret here too
                    SECRETS.add(state.token, state.refresh_token)
            if state is None or not state.token or self._expired(state):
                state = self._renew(dead=state.token if state else None)
            assert state is not None and state.token
            return state.token

    def _expired(self, state: SessionState) -> bool:
        return state.expires_at is not None and self.context.wall() >= state.expires_at

    def _renew(self, dead: str | None) -> SessionState:
        """Under the store's lock: take a live token another worker stored, else refresh,
        else log in (if the cooldown allows). Caller holds `self._lock`."""

        def change(stored: SessionState | None) -> SessionState | None:
            fresh = stored is not None and stored.token and stored.token != dead
            if fresh and not self._expired(stored):  # type: ignore[arg-type]
                return None  # someone renewed it meanwhile: use theirs
            return self._obtain(stored)

        state = self.store.update(change)
        if state is None or not state.token:
            raise PermanentError("auth session_token: no token after login")
        SECRETS.add(state.token, state.refresh_token)
        self._state = state
        return state

    def _obtain(self, stored: SessionState | None) -> SessionState:
        refresh = self.params.get("refresh")
        if refresh and stored is not None and stored.refresh_token:
            try:
                state = self._request(refresh, stored, {"refresh_token": stored.refresh_token})
                self.refreshes += 1
                return state
            except RetryLater:
                raise
            except SyncRunnerError:
                pass  # the refresh token died too: log in
        now = self.context.wall()
        if stored is not None and stored.logged_in_at is not None and self.cooldown:
            wait = stored.logged_in_at + self.cooldown - now
            if wait > 0:
                raise RetryLater(
                    f"auth session_token: the token was refused and the API allows one login "
                    f"per {self.cooldown:.0f} s; next login in {wait:.0f} s",
                    wait,
                )
        self.logins += 1
        state = self._request(self.login, stored, {})
        return replace(state, logged_in_at=now)

    def _request(
        self, spec: Mapping[str, Any], stored: SessionState | None, extra: Mapping[str, Any]
    ) -> SessionState:
        spec = self.context.render(dict(spec), extra) if extra else dict(spec)
        call = Call(str(spec.get("method") or "POST"), self.context.url(str(spec["path"])))
        if spec.get("params"):
            call.params.update({k: str(v) for k, v in spec["params"].items()})
        if spec.get("form"):
            call.data = {k: str(v) for k, v in spec["form"].items()}
        if spec.get("json") is not None:
            call.json = spec["json"]
        body = self.context.fetch(call).data
        token = get_path(body, self.token_path)
        if not isinstance(token, str) or not token:
            raise PermanentError(
                f"auth session_token: the login answer has no token at {self.token_path!r}"
            )
        refresh_path = self.params.get("refresh_token_path")
        refresh_token = get_path(body, refresh_path) if refresh_path else None
        SECRETS.add(token, refresh_token)
        expires_at = None
        if self.params.get("expires_at_path"):
            expires_at = _epoch(get_path(body, self.params["expires_at_path"]))
        elif self.params.get("expires_in_path"):
            lifetime = _epoch(get_path(body, self.params["expires_in_path"]))
            expires_at = self.context.wall() + lifetime if lifetime is not None else None
        if expires_at is not None:
            expires_at -= EXPIRY_MARGIN
        return SessionState(
            token=token,
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            expires_at=expires_at,
            logged_in_at=stored.logged_in_at if stored else None,
        )
