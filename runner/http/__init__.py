"""HTTP machinery of the connectors: client (retries, rules), auth kinds, pagination kinds,
rate limiter. `runner.connector.Connector` puts them together for one spec and account."""

from runner.http.auth import (
    AUTH_KINDS,
    Auth,
    Call,
    create_auth,
    iop_sign,
    iop_string,
    register_auth,
)
from runner.http.client import HttpClient, HttpStatusError
from runner.http.paginate import (
    PAGINATION_KINDS,
    PageRequest,
    PaginationError,
    Paginator,
    register_pagination,
    walk,
)
from runner.http.ratelimit import RateLimiter
from runner.http.response import Response
from runner.http.session import MemoryTokenStore, SessionTokenAuth, TokenStore
from runner.paths import get_path

__all__ = [
    "AUTH_KINDS",
    "PAGINATION_KINDS",
    "Auth",
    "Call",
    "HttpClient",
    "HttpStatusError",
    "MemoryTokenStore",
    "PageRequest",
    "PaginationError",
    "Paginator",
    "RateLimiter",
    "Response",
    "SessionTokenAuth",
    "TokenStore",
    "create_auth",
    "get_path",
    "iop_sign",
    "iop_string",
    "register_auth",
    "register_pagination",
    "walk",
]
