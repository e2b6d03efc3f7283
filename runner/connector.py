"""A connector: one spec + one account -> streams of source records over real HTTP.

`Connector(spec, account).list("products")` walks a list operation page by page;
`lookup("product", ids)` fans known ids out over threads (one request per id, or batches
joined by the lookup's separator), each batch paginated if the operation paginates. Both yield
`Page`s and never hold more than the pages in flight.

Templates in `base_url`, operation params, headers, body and auth params are compiled once per
connector and rendered with `credentials`, `env`, `settings` and `integration`. Every resolved
credential is registered with `runner.redact.SECRETS`, so no error or log line can show it.

Account settings the connector reads (all optional):
- `base_url`: overrides the spec's (BigBuy's sandbox, a proxy, a fake server); so does
  `Account.base_url`, which wins.
- `rate_limit`: `{requests: N, per: second|minute|hour|day}` (or `seconds: S`) replaces the
  spec's default budget; `false` turns every budget off (a local fake server, a benchmark).
- `budgets`: `{name: {requests: N, per: ...}}` replaces named budgets of the spec (an
  account on another plan).
- `max_wait_seconds`: the longest wait (Retry-After, a budget's next slot) served
  in-process; longer waits raise `RetryLater` (`BudgetWait`) and the queue defers the job.
  Default 120.

Budgets are made by `budgets(name, spec, max_wait, sleep)` (the sync engine passes
`runner.budgets.BudgetStore.make`, shared in the database); without it they live in this
connector's memory. Each operation spends its `budget` (default: the `rate_limit` one).
- `max_response_bytes`: the response size cap. Default 256 MiB.

Errors out of `list`/`lookup`: `TransientError` (retry budget spent), `RetryLater`,
`PermanentError` (401/403, 4xx, a broken response contract, a pagination guard). A 404 on a
lookup means "no such id" and yields an empty page.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from jinja2 import TemplateError

from runner.errors import PermanentError
from runner.http.auth import Auth, AuthContext, Call, create_auth
from runner.http.client import MAX_BODY_BYTES, MAX_WAIT_SECONDS, HttpClient, HttpStatusError
from runner.http.paginate import PageRequest, WalkPosition, default_fingerprint, walk
from runner.http.ratelimit import Limiter, RateLimiter
from runner.http.response import Response, as_records
from runner.paths import get_path
from runner.redact import SECRETS, redact
from runner.spec.model import AuthSpec, ConnectorSpec, LookupSpec, OperationSpec, RateLimitSpec
from runner.templating import compile_template, is_template

BudgetFactory = Callable[[str, RateLimitSpec, float, Callable[[float], None]], Limiter]
DEFAULT_BUDGET = "default"  # the name of the spec's `rate_limit` budget


@dataclass(frozen=True)
class Account:
    """One supplier account or marketplace integration, as the connector needs it."""

    id: str
    credentials: dict
    settings: dict
    integration: dict | None = None  # marketplace row fields for templates: {"shop_url": ...}
    base_url: str | None = None  # overrides the spec's base_url


@dataclass
class Page:
    records: list
    url: str  # redacted
    requests: int  # HTTP requests this page took, retries included
    position: dict | None = None  # where a list goes on after this page (None: it ended)


@dataclass
class _Prepared:
    """An operation with its templates rendered for this account."""

    op: OperationSpec
    params: dict[str, str]
    headers: dict[str, str]
    body: Any
    auth: Auth


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


class Connector:
    def __init__(
        self,
        spec: ConnectorSpec,
        account: Account,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        budgets: BudgetFactory | None = None,
    ) -> None:
        self.spec = spec
        self.account = account
        self.name = spec.name
        SECRETS.add_all(account.credentials)
        self._variables = {
            "credentials": account.credentials,
            "env": dict(os.environ if env is None else env),
            "settings": account.settings or {},
            "integration": account.integration or {},
        }
        self._templates: dict[str, Callable[[Mapping[str, Any]], str]] = {}
        self._prepared: dict[str, _Prepared] = {}
        self._lock = threading.Lock()
        settings = account.settings or {}
        base = (
            account.base_url or settings.get("base_url") or self._render(spec.base_url, "base_url")
        )
        self.base_url = httpx.URL(str(base).rstrip("/"))
        wall = time.time
        max_wait = settings.get("max_wait_seconds")
        max_wait = MAX_WAIT_SECONDS if max_wait is None else float(max_wait)
        self._budgets = self._make_budgets(settings, clock, sleep, max_wait, budgets)
        self._client = HttpClient(
            name=spec.name,
            retry=spec.retry,
            timeouts=spec.timeouts,
            response=spec.response,
            limiter=self._budgets.get(DEFAULT_BUDGET),
            sleep=sleep,
            clock=clock,
            wall=wall,
            transport=transport,
            max_body_bytes=int(settings.get("max_response_bytes") or MAX_BODY_BYTES),
            max_wait=max_wait,
            pool_size=max(
                [4] + [op.lookup.concurrency for op in spec.operations.values() if op.lookup]
            ),
        )
        self._auth_context = AuthContext(fetch=self._client.request, clock=clock, wall=wall)
        self._auth = self._make_auth(spec.auth, "auth")

    # -- public -------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Total HTTP requests sent so far (retries included)."""
        return self._client.requests

    def list(self, operation: str, start: dict | None = None) -> Iterator[Page]:
        """Stream the records of an operation page by page (from a saved `Page.position`)."""
        prepared = self._operation(operation)
        if "{id}" in prepared.op.path:
            raise PermanentError(f"{self.name}.{operation}: its path needs an id; use lookup()")
        url = self._url(prepared.op.path)
        yield from self._pages(prepared, url, dict(prepared.params), start)

    def lookup(self, operation: str, ids: Iterable[str]) -> Iterator[Page]:
        """Fetch the records of known ids, `LookupSpec.concurrency` requests at a time.

        Pages come out as their batches complete (not in id order).
        """
        prepared = self._operation(operation)
        lookup = prepared.op.lookup or LookupSpec()
        if lookup.id_param is None and "{id}" not in prepared.op.path:
            raise PermanentError(
                f"{self.name}.{operation}: a lookup needs `lookup.id_param` or {{id}} in the path"
            )
        batches = self._batches(ids, max(1, lookup.batch_size))
        workers = max(1, lookup.concurrency)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.name}-lookup")
        running: set[Future[list[Page]]] = set()
        try:
            for batch in batches:
                running.add(pool.submit(self._lookup_batch, prepared, lookup, batch))
                if len(running) >= workers * 2:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield from future.result()
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:
            for future in running:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def id_of(self, operation: str, record: Any) -> str | None:
        """The id of a record of this operation (`id_field`; "." is the record itself)."""
        value = get_path(record, self._op_spec(operation).id_field)
        if value is None or isinstance(value, (dict, list)):
            return None
        return str(value)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- templates ----------------------------------------------------------------------------

    def _render(self, value: Any, where: str) -> Any:
        """Render templates inside a value (strings, nested dicts and lists)."""
        if isinstance(value, dict):
            return {k: self._render(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not is_template(value):
            return value
        template = self._templates.get(value)
        try:
            if template is None:
                template = self._templates[value] = compile_template(value)
            return template(self._variables)
        except TemplateError as exc:
            raise PermanentError(
                f"{self.name}: cannot render {where}: {redact(str(exc))}"
            ) from None

    def _make_auth(self, spec: AuthSpec, where: str) -> Auth:
        params = self._render(dict(spec.params), where)
        return create_auth(spec.type, params, self._auth_context)

    def _op_spec(self, operation: str) -> OperationSpec:
        try:
            return self.spec.operations[operation]
        except KeyError:
            known = ", ".join(sorted(self.spec.operations))
            raise PermanentError(
                f"{self.name}: no operation {operation!r} (known: {known})"
            ) from None

    def _operation(self, operation: str) -> _Prepared:
        with self._lock:
            prepared = self._prepared.get(operation)
            if prepared is None:
                op = self._op_spec(operation)
                where = f"operations.{operation}"
                params = self._render(op.params, f"{where}.params")
                prepared = _Prepared(
                    op=op,
                    params={k: _param_text(v) for k, v in params.items() if v is not None},
                    headers={k: str(v) for k, v in self._render(op.headers, where).items()},
                    body=self._render(op.body, f"{where}.body") if op.body is not None else None,
                    auth=self._make_auth(op.auth, f"{where}.auth") if op.auth else self._auth,
                )
                self._prepared[operation] = prepared
            return prepared

    def _make_budgets(
        self,
        settings: Mapping,
        clock: Callable,
        sleep: Callable,
        max_wait: float,
        make: BudgetFactory | None,
    ) -> dict[str, Limiter]:
        """The account's budgets by name (the default one under DEFAULT_BUDGET)."""
        override = settings.get("rate_limit")
        if override is False or override in ("none", "off"):
            return {}
        specs = dict(self.spec.budgets)
        for name, value in (settings.get("budgets") or {}).items():
            if isinstance(value, dict):
                specs[name] = RateLimitSpec(**value)
        default = RateLimitSpec(**override) if isinstance(override, dict) else self.spec.rate_limit
        if default is not None:
            specs[DEFAULT_BUDGET] = default

        def local(name: str, spec: RateLimitSpec, wait: float, pause: Callable) -> Limiter:
            return RateLimiter.from_spec(spec, clock=clock, sleep=pause, max_wait=wait, name=name)

        make = make or local
        return {
            name: make(f"{self.name}/{name}", spec, max_wait, sleep) for name, spec in specs.items()
        }

    # -- requests -----------------------------------------------------------------------------

    def _url(self, path: str) -> httpx.URL:
        if path.startswith(("http://", "https://")):
            return httpx.URL(path)
        return httpx.URL(str(self.base_url) + "/" + path.lstrip("/"))

    def _pages(
        self,
        prepared: _Prepared,
        url: httpx.URL,
        params: dict[str, str],
        start: dict | None = None,
    ) -> Iterator[Page]:
        op = prepared.op
        label = f"{self.name}.{op.name}"
        budget = self._budgets.get(op.budget or DEFAULT_BUDGET)
        position = WalkPosition()

        def fetch(request: PageRequest) -> Response:
            if request.url is not None:  # a followed link: sent unchanged
                call = Call(op.method, request.url, {}, dict(prepared.headers))
            else:
                call = Call(op.method, url, {**params, **request.params}, dict(prepared.headers))
            call.json = prepared.body
            return self._client.request(call, prepared.auth, budget)

        def extract(response: Response) -> list:
            return as_records(get_path(response.data, op.records))

        def fingerprint(records: list) -> bytes:
            ids = [get_path(r, op.id_field) for r in records]
            if any(i is None or isinstance(i, (dict, list)) for i in ids):
                return default_fingerprint(records)
            return "\x1f".join(map(str, ids)).encode()

        for response, records in walk(
            op.paginate,
            fetch,
            extract,
            origin=url,
            fingerprint=fingerprint,
            label=label,
            start=start,
            position=position,
        ):
            yield Page(records, response.url, response.requests, position.after)

    @staticmethod
    def _batches(ids: Iterable[Any], size: int) -> Iterator[list[str]]:
        batch: list[str] = []
        for raw in ids:
            if raw is None or raw == "":
                continue
            batch.append(str(raw))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _lookup_batch(
        self, prepared: _Prepared, lookup: LookupSpec, batch: list[str]
    ) -> list[Page]:
        joined = lookup.separator.join(batch)
        params = dict(prepared.params)
        path = prepared.op.path
        if lookup.id_param is not None:
            params[lookup.id_param] = joined
        else:
            path = path.replace("{id}", quote(joined, safe=","))
        url = self._url(path)
        try:
            return list(self._pages(prepared, url, params))
        except HttpStatusError as exc:
            if exc.status == 404:
                return [Page(records=[], url=exc.url, requests=exc.requests)]
            raise
