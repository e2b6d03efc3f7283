"""Checks of a connector's or an operation's auth: secrets are templates naming where they
live, never the secret; the templates each part may read; login and refresh requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.redact import is_secret_header
from runner.spec.checks.base import RESPONSE_VARIABLES, Checker
from runner.templating import CONNECTOR_VARIABLES, is_template

if TYPE_CHECKING:
    from runner.spec.load import Document, PathTuple

# Auth parameters that hold secrets: they must be templates naming where the secret lives.
SECRET_PARAMS = frozenset({"token", "value", "password", "client_secret", "app_secret"})


class AuthChecks(Checker):
    def auth_templates(self, doc: Document, path: PathTuple, auth: Any) -> None:
        """Templates of an auth section; a session token's `send` may also read `token`,
        its `refresh` `refresh_token`, and `dead_when` is an expression over the answer."""
        if not isinstance(auth, dict) or auth.get("type") != "session_token":
            self.templates_in(doc, path, auth, CONNECTOR_VARIABLES)
            return
        late = {"send": {"token"}, "refresh": {"refresh_token"}}
        for key, value in auth.items():
            if key == "dead_when" and isinstance(value, str):
                self.template(doc, (*path, key), value, RESPONSE_VARIABLES, expression=True)
            else:
                allowed = CONNECTOR_VARIABLES | late.get(key, set())
                self.templates_in(doc, (*path, key), value, allowed)

    def check_auth(self, doc: Document, path: PathTuple, auth: dict[str, Any]) -> None:
        for name in SECRET_PARAMS & set(auth):
            if auth["type"] != "none" and not is_template(auth[name]):
                self.add(
                    doc,
                    (*path, name),
                    f"{name} must be a template naming where the "
                    "secret lives, e.g. '{{ credentials.api_key }}', never the secret "
                    "itself",
                )
        if auth["type"] == "basic" and auth.get("fallback") == "query":
            for name in ("query_username", "query_password"):
                if name not in auth:
                    self.add(doc, (*path, "fallback"), f"fallback: query needs {name}")
        if auth["type"] == "oauth2_client_credentials":
            self.url(doc, (*path, "token_url"), auth["token_url"], CONNECTOR_VARIABLES)
        if auth["type"] == "session_token":
            for request in ("login", "refresh"):
                if isinstance(auth.get(request), dict):
                    self.check_session_request(doc, (*path, request), auth[request])

    def check_session_request(
        self, doc: Document, path: PathTuple, request: dict[str, Any]
    ) -> None:
        """A login or refresh request: an absolute path is an http(s) URL, and a body field
        named like a secret (apiKey, password, refreshToken) is a template."""
        target = request["path"]
        if target.startswith(("http:", "https:")) or "://" in target:
            self.url(doc, (*path, "path"), target, CONNECTOR_VARIABLES)
        for part in ("json", "form", "params"):
            fields = request.get(part)
            if not isinstance(fields, dict):
                continue
            for name, value in fields.items():
                if (
                    is_secret_header(str(name))
                    and isinstance(value, str)
                    and not is_template(value)
                ):
                    self.add(
                        doc,
                        (*path, part, name),
                        f"{name} must be a template naming where the secret lives, e.g. "
                        "'{{ credentials.api_key }}', never the secret itself",
                    )
