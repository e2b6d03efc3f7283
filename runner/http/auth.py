"""Auth kinds: one small class per `AuthSpec.type`, registered by name.

An auth kind gets its spec params already rendered (credentials resolved) and two hooks:
- `apply(call)` adds what the request needs (a header, query params, a signature). It runs
  before every attempt, so a signature always covers the final params and a fresh timestamp.
- `on_unauthorized(call, response)` is asked after a 401; returning True means "I changed
  something, send it again" (the client resends at most once per call). Anything else is a
  permanent error: a 401 or 403 is never retried.

Kinds (params; every value may be a template in the spec):
- `none`
- `api_key`: name, value, in ("header" | "query", default header)
- `bearer`: token
- `basic`: username, password, fallback ("none" | "query"), query_username, query_password.
  The rule for `fallback: query` (WooCommerce): the pair goes in the
  `Authorization` header first; some servers drop that header and answer 401, so on a 401 the
  same request is sent once more with the pair as query parameters (`consumer_key`,
  `consumer_secret` by default). If that succeeds the connector stays in query mode for the
  rest of its life; if it fails too, the 401 is permanent. Secrets go in a query string only
  over HTTPS or to a loopback host (WooCommerce allows the query form over HTTPS only).
- `oauth2_client_credentials`: token_url, client_id, client_secret, scope. The client
  authenticates with HTTP Basic (RFC 6749 2.3.1). The token is cached until `expires_in`
  (less a margin) runs out, fetched once even under concurrent lookups, and fetched again
  after a 401.
- `iop_hmac_sha256` (AliExpress IOP): app_key, app_secret, token, token_param ("session" |
  "access_token", default session), api_name. Adds app_key, timestamp (epoch ms),
  sign_method=sha256 and the token, then signs every sent parameter: sorted by name,
  name+value concatenated, the API name prepended iff it contains "/", HMAC-SHA256 with the
  app secret, uppercase hex. The API name is `api_name` if given, else the `method` param.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from runner.errors import PermanentError
from runner.redact import SECRETS

# ---------------------------------------------------------------------------------------------
# The request being built


@dataclass
class Call:
    """One logical request. `url` may already carry a query (a followed `next` link); `params`
    are merged into it. Auth kinds add to `params` and `headers`."""

    method: str
    url: httpx.URL
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None  # form body (token requests)

    def sent_params(self) -> dict[str, str]:
        """Every query parameter that will be sent (URL query, then `params`)."""
        merged = dict(self.url.params.multi_items())
        merged.update(self.params)
        return merged

    def final_url(self) -> httpx.URL:
        # A URL without extra params is sent byte for byte (Shopify's page_info links).
        return self.url.copy_merge_params(self.params) if self.params else self.url


def _no_render(value: Any, extra: Mapping[str, Any]) -> Any:
    return value


@dataclass(frozen=True)
class AuthContext:
    """What an auth kind may use: `fetch` sends an unauthenticated request through the same
    client (rate limit and retries included); `clock` is monotonic, `wall` is epoch seconds;
    `render` renders the templates in a value with the account's variables plus `extra`;
    `url` resolves a path against the connector's base URL; `store` keeps session tokens
    (`runner.http.session.TokenStore`; None: in memory)."""

    fetch: Callable[[Call], Any]
    clock: Callable[[], float]
    wall: Callable[[], float]
    render: Callable[[Any, Mapping[str, Any]], Any] = _no_render
    url: Callable[[str], httpx.URL] = httpx.URL
    store: Any = None


# ---------------------------------------------------------------------------------------------
# Registry


class Auth:
    kind: ClassVar[str] = ""
    secret_params: ClassVar[tuple[str, ...]] = ()
    # Parameters rendered by the kind itself, later (they read values such as `token`).
    late_params: ClassVar[tuple[str, ...]] = ()
    reads_answers: bool = False  # True when `dead()` must see the answers

    def __init__(self, params: Mapping[str, Any], context: AuthContext) -> None:
        self.params = dict(params)
        self.context = context
        SECRETS.add(*(self.params.get(name) for name in self.secret_params))

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise PermanentError(f"auth {self.kind}: parameter {name!r} is empty or missing")
        return str(value)

    def apply(self, call: Call) -> None:
        raise NotImplementedError

    def on_unauthorized(self, call: Call, response: httpx.Response) -> bool:
        return False

    def dead(self, variables: Mapping[str, Any]) -> bool:
        """Whether an answer (status, headers, body) says the credentials died."""
        return False


AUTH_KINDS: dict[str, type[Auth]] = {}


def register_auth(cls: type[Auth]) -> type[Auth]:
    AUTH_KINDS[cls.kind] = cls
    return cls


def auth_class(kind: str) -> type[Auth]:
    try:
        return AUTH_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(AUTH_KINDS))
        raise PermanentError(f"unknown auth type {kind!r} (known: {known})") from None


def create_auth(kind: str, params: Mapping[str, Any], context: AuthContext) -> Auth:
    return auth_class(kind)(params, context)


def _secure_for_query(url: httpx.URL) -> bool:
    if url.scheme == "https":
        return True
    host = url.host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# Kinds


@register_auth
class NoAuth(Auth):
    kind = "none"

    def apply(self, call: Call) -> None:
        return None


@register_auth
class ApiKeyAuth(Auth):
    kind = "api_key"
    secret_params = ("value",)

    def __init__(self, params: Mapping[str, Any], context: AuthContext) -> None:
        super().__init__(params, context)
        self.name = self.require("name")
        self.value = self.require("value")
        self.where = self.params.get("in", "header")
        if self.where not in ("header", "query"):
            raise PermanentError(f"auth api_key: 'in' must be header or query, not {self.where!r}")

    def apply(self, call: Call) -> None:
        if self.where == "header":
            call.headers[self.name] = self.value
        else:
            call.params[self.name] = self.value


@register_auth
class BearerAuth(Auth):
    kind = "bearer"
    secret_params = ("token",)

    def apply(self, call: Call) -> None:
        call.headers["Authorization"] = f"Bearer {self.require('token')}"


@register_auth
class BasicAuth(Auth):
    kind = "basic"
    secret_params = ("username", "password")

    def __init__(self, params: Mapping[str, Any], context: AuthContext) -> None:
        super().__init__(params, context)
        self.username = self.require("username")
        self.password = str(self.params.get("password") or "")
        self.fallback = self.params.get("fallback", "none")
        if self.fallback not in ("none", "query"):
            raise PermanentError(
                f"auth basic: fallback must be none or query, not {self.fallback!r}"
            )
        self.query_username = self.params.get("query_username", "consumer_key")
        self.query_password = self.params.get("query_password", "consumer_secret")
        self.in_query = False  # True once a 401 switched this connector to the query form
        pair = f"{self.username}:{self.password}".encode()
        self._header = "Basic " + base64.b64encode(pair).decode("ascii")
        SECRETS.add(self._header.split(" ", 1)[1])

    def apply(self, call: Call) -> None:
        if not self.in_query:
            call.headers["Authorization"] = self._header
            return
        if not _secure_for_query(call.url):
            raise PermanentError(
                "auth basic: refusing to send credentials in the query string over plain "
                f"HTTP to {call.url.host}"
            )
        call.headers.pop("Authorization", None)
        call.params[self.query_username] = self.username
        call.params[self.query_password] = self.password

    def on_unauthorized(self, call: Call, response: httpx.Response) -> bool:
        if self.fallback != "query" or not _secure_for_query(call.url):
            return False
        if "Authorization" not in call.headers:
            return False  # the query form itself was refused
        # Sticky: a server that drops the header always drops it. Concurrent lookups that
        # were sent with the header before the switch are all resent in the query form.
        self.in_query = True
        return True


@register_auth
class OAuth2ClientCredentials(Auth):
    kind = "oauth2_client_credentials"
    secret_params = ("client_secret",)
    EXPIRY_MARGIN = 30.0  # seconds before `expires_in` runs out that the token is renewed

    def __init__(self, params: Mapping[str, Any], context: AuthContext) -> None:
        super().__init__(params, context)
        self.token_url = self.require("token_url")
        self.client_id = self.require("client_id")
        self.client_secret = self.require("client_secret")
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = float("inf")
        self.fetches = 0

    def _fetch_token(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self.params.get("scope"):
            data["scope"] = str(self.params["scope"])
        call = Call("POST", httpx.URL(self.token_url), data=data)
        pair = f"{self.client_id}:{self.client_secret}".encode()
        call.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        body = self.context.fetch(call).data
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PermanentError(
                "auth oauth2_client_credentials: token response has no access_token"
            )
        SECRETS.add(token)
        self.fetches += 1
        self._token = token
        expires_in = body.get("expires_in")
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            lifetime = float("inf")
        margin = min(self.EXPIRY_MARGIN, lifetime / 10)
        self._expires_at = self.context.clock() + lifetime - margin

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.context.clock() >= self._expires_at:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def apply(self, call: Call) -> None:
        call.headers["Authorization"] = f"Bearer {self.token()}"

    def on_unauthorized(self, call: Call, response: httpx.Response) -> bool:
        sent = call.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            if self._token == sent:
                self._token = None  # revoked or expired early: fetch a new one
        return True


def iop_string(params: Mapping[str, object], api_name: str | None = None) -> str:
    """The string AliExpress IOP signs: sorted name+value pairs, the API name in front iff it
    contains "/" (system APIs such as /auth/token/create; never the dotted business methods)."""
    base = "".join(f"{name}{params[name]}" for name in sorted(params) if name != "sign")
    return api_name + base if api_name and "/" in api_name else base


def iop_sign(secret: str, params: Mapping[str, object], api_name: str | None = None) -> str:
    """AliExpress IOP signature of exactly the params that are sent (minus `sign`)."""
    message = iop_string(params, api_name).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest().upper()


@register_auth
class IopHmacSha256(Auth):
    kind = "iop_hmac_sha256"
    secret_params = ("app_secret", "token")

    def __init__(self, params: Mapping[str, Any], context: AuthContext) -> None:
        super().__init__(params, context)
        self.app_key = self.require("app_key")
        self.app_secret = self.require("app_secret")
        self.token = str(self.params.get("token") or "")
        self.token_param = self.params.get("token_param", "session")
        if self.token_param not in ("session", "access_token"):
            raise PermanentError(
                f"auth iop_hmac_sha256: token_param must be session or access_token, "
                f"not {self.token_param!r}"
            )

    def apply(self, call: Call) -> None:
        call.params.pop("sign", None)
        call.params["app_key"] = self.app_key
        call.params["timestamp"] = str(int(self.context.wall() * 1000))
        call.params["sign_method"] = "sha256"
        if self.token:
            call.params[self.token_param] = self.token
        sent = call.sent_params()
        api_name = self.params.get("api_name") or sent.get("method")
        call.params["sign"] = iop_sign(self.app_secret, sent, api_name)
