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

A feed operation (`format: csv | xml | jsonl`) is one file read by `runner.feeds.fetch`:
`list` yields its records in chunks as pages (malformed rows in `Page.rejects`), or raises
`FeedUnchanged` when the feed did not change since the state in `feed_state` (a
`FeedStateStore`); `commit_feed(op)` saves the new state once the step's writes are done.

Errors out of `list`/`lookup`: `TransientError` (retry budget spent), `RetryLater`,
`PermanentError` (401/403, 4xx, a broken response contract, a pagination guard). A 404 on a
one-id lookup means "no such id" and yields an empty page. A batched lookup (`batch_size` > 1,
ids joined in a query parameter: `ids=`, `include=`) that answers 404, or whose requests
together find none of the ids asked for, means a wrong URL or missing permission, never "no
such orders": `PermanentError` (one missing id among found ones is fine).

Why one module of this size: `list` and `lookup` share the compiled request templates, the
client, the budgets and the checks of an answer; the parts that stand alone already live
in `runner/http/`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from jinja2 import TemplateError

from runner.errors import PermanentError
from runner.feeds.fetch import FeedRead
from runner.http.auth import Auth, AuthContext, Call, auth_class, create_auth
from runner.http.client import MAX_BODY_BYTES, MAX_WAIT_SECONDS, HttpClient, HttpStatusError
from runner.http.paginate import PageRequest, WalkPosition, default_fingerprint, walk
from runner.http.ratelimit import Limiter, RateLimiter
from runner.http.response import RecordsMissing, Response, records_at
from runner.http.rules import compile_predicate
from runner.paths import compile_path, get_path
from runner.redact import SECRETS, in_current_scope, redact
from runner.spec.model import AuthSpec, ConnectorSpec, LookupSpec, OperationSpec, RateLimitSpec
from runner.templating import compile_template, is_template

# Why a batched lookup may find nothing at all, and what to check.
_CHECK_ACCOUNT = (
    "check the account's URL (shop_url or base_url: another shop, a wrong path, or a "
    "WordPress site without pretty permalinks) and that its credentials may read these records"
)

if TYPE_CHECKING:
    from runner.feeds.state import FeedState, FeedStateStore

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
    # What the API declares for the whole walk, when its pagination says where
    # (`total_path`, `total_pages_header`): the progress display's totals and ETA.
    total_records: int | None = None
    total_pages: int | None = None
    rejects: list = field(default_factory=list)  # a feed's malformed rows (mapping.Reject)
    position: dict | None = None  # where a list goes on after this page (None: it ended)


@dataclass
class _Batch:
    """The pages of one lookup request; for a batched lookup, how many ids it asked for and
    how many of them came back."""

    pages: list[Page]
    url: str  # redacted
    asked: int = 0
    found: int = 0


def _batched(lookup: LookupSpec) -> bool:
    """Many ids joined in one query parameter (Shopify `ids=`, WooCommerce `include=`): when
    none of them comes back, the account points at the wrong place or lacks a permission."""
    return lookup.id_param is not None and lookup.batch_size > 1


@dataclass
class _Prepared:
    """An operation with its templates rendered for this account."""

    op: OperationSpec
    params: dict[str, str]
    headers: dict[str, str]
    body: Any
    auth: Auth
    empty_when: Callable[[Mapping[str, Any]], bool] | None = None


def _declared_int(read: Callable[[Any, str], Any], source: Any, where: str | None) -> int | None:
    """An integer the API declares at `where` (a body path or a header), if it does."""
    if not where:
        return None
    try:
        value = int(str(read(source, where)).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


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
        token_store: Any = None,
        feed_state: FeedStateStore | None = None,
        budgets: BudgetFactory | None = None,
    ) -> None:
        self.spec = spec
        self._feed_state = feed_state  # feeds: what the last complete sync saw
        self._feed_done: dict[str, FeedState] = {}
        self._feed_versions: dict[str, str] = {}
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
        self._auth_context = AuthContext(
            fetch=self._client.request,
            clock=clock,
            wall=wall,
            render=lambda value, extra: self._render(value, "auth", extra),
            url=self._url,
            store=token_store,
        )
        self._auth = self._make_auth(spec.auth, "auth")

    # -- public -------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Total HTTP requests sent so far (retries included)."""
        return self._client.requests

    def list(
        self,
        operation: str,
        params: Mapping[str, str] | None = None,
        start: dict | None = None,
    ) -> Iterator[Page]:
        """Stream the records of an operation page by page; `params` go on the first request
        along with the operation's own (a `changed_since` bound); `start` is a saved
        `Page.position` to go on from (a feed, one file, always starts afresh)."""
        prepared = self._operation(operation)
        if "{id}" in prepared.op.path:
            raise PermanentError(f"{self.name}.{operation}: its path needs an id; use lookup()")
        if prepared.op.format.is_feed:
            yield from self._feed(prepared)
            return
        first = {**prepared.params, **(params or {})}
        yield from self._pages(prepared, self._url(prepared.op.path), first, start)

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
        running: set[Future[_Batch]] = set()
        lookup_batch = in_current_scope(self._lookup_batch)  # in the job's secret scope
        done_batches: list[_Batch] = []  # pages dropped once yielded: only the counts stay

        def pages_of(done: set[Future[_Batch]]) -> Iterator[Page]:
            for future in done:
                result = future.result()
                done_batches.append(replace(result, pages=[]))
                yield from result.pages

        try:
            for batch in batches:
                running.add(pool.submit(lookup_batch, prepared, lookup, batch))
                if len(running) >= workers * 2:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from pages_of(done)
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from pages_of(done)
        finally:
            for future in running:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        asked = sum(b.asked for b in done_batches)
        if _batched(lookup) and asked and not any(b.found for b in done_batches):
            # Every page was empty, so nothing was written.
            raise PermanentError(
                f"{self.name}.{operation}: a lookup of {asked} id(s) (one request: "
                f"{done_batches[0].url}) found none of them; {_CHECK_ACCOUNT}"
            )

    def send(self, method: str, path: str, body: Any, budget: str | None = None) -> Response:
        """Send one write (a push's batch) with the spec's auth, retries and `budget`
        (default: the `rate_limit` one); return the parsed 2xx answer or raise."""
        call = Call(method, self._url(path), {}, {}, body)
        return self._client.request(call, self._auth, self._budgets.get(budget or DEFAULT_BUDGET))

    def id_of(self, operation: str, record: Any) -> str | None:
        """The id of a record of this operation (`id_field`; "." is the record itself)."""
        value = get_path(record, self._op_spec(operation).id_field)
        if value is None or isinstance(value, (dict, list)):
            return None
        return str(value)

    def expect_feed_version(self, operation: str, version: str) -> None:
        """The version (mapping and format) the next read of a feed is for: a stored state of
        another version sends no validators, so the whole feed is read again."""
        self._feed_versions[operation] = version

    def commit_feed(self, operation: str) -> None:
        """Remember what a feed read completely showed (call once its records are written):
        the next sync asks for it conditionally and compares its length."""
        state = self._feed_done.pop(operation, None)
        if state is not None and self._feed_state is not None:
            self._feed_state.save(operation, state)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- templates ----------------------------------------------------------------------------

    def _render(self, value: Any, where: str, extra: Mapping[str, Any] | None = None) -> Any:
        """Render templates inside a value (strings, nested dicts and lists); `extra` adds
        variables (a session token's `token`, `refresh_token`)."""
        if isinstance(value, dict):
            return {k: self._render(v, f"{where}.{k}", extra) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v, f"{where}[{i}]", extra) for i, v in enumerate(value)]
        if not is_template(value):
            return value
        template = self._templates.get(value)
        try:
            if template is None:
                template = self._templates[value] = compile_template(value)
            return template({**self._variables, **extra} if extra else self._variables)
        except TemplateError as exc:
            raise PermanentError(
                f"{self.name}: cannot render {where}: {redact(str(exc))}"
            ) from None

    def _make_auth(self, spec: AuthSpec, where: str) -> Auth:
        late = auth_class(spec.type).late_params
        params = self._render({k: v for k, v in spec.params.items() if k not in late}, where)
        params.update({k: v for k, v in spec.params.items() if k in late})
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
                    empty_when=(
                        compile_predicate(op.empty_when, f"{self.name}.{operation}: empty_when")
                        if op.empty_when
                        else None
                    ),
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

        empty_when = prepared.empty_when

        def extract(response: Response) -> list:
            if empty_when is not None and empty_when(response.variables()):
                return []
            try:
                return records_at(response.data, op.records)
            except RecordsMissing as exc:
                hint = "; declare empty_when if it means 'no records'"
                hint = hint if exc.absent and empty_when is None else ""
                raise RecordsMissing(f"{label}: {response.url}: {exc}{hint}", exc.absent) from None

        id_of = compile_path(op.id_field) if op.id_field else None

        def fingerprint(records: list) -> bytes:
            if id_of is None:
                return default_fingerprint(records)
            ids = list(map(id_of, records))  # compiled once: a page's ids without a parse each
            if None in ids or any(i.__class__ is dict or i.__class__ is list for i in ids):
                return default_fingerprint(records)
            return "\x1f".join(map(str, ids)).encode()

        declared = dict(op.paginate.params) if op.paginate else {}
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
            yield Page(
                records=records,
                url=response.url,
                requests=response.requests,
                total_records=_declared_int(get_path, response.data, declared.get("total_path")),
                total_pages=_declared_int(
                    lambda headers, name: headers.get(name),
                    response.headers,
                    declared.get("total_pages_header"),
                ),
                position=position.after,
            )

    def _feed(self, prepared: _Prepared) -> Iterator[Page]:
        """A feed file: one conditional request, parsed while it streams (runner.feeds)."""
        op = prepared.op
        read = FeedRead(
            client=self._client,
            call=Call(op.method, self._url(op.path), dict(prepared.params), prepared.headers),
            auth=prepared.auth,
            fmt=op.format,
            previous=self._previous_feed(op.name),
            label=f"{self.name}.{op.name}",
            max_download=self._client.max_body_bytes,
        )
        self._feed_done.pop(op.name, None)
        for chunk in read.chunks():
            yield Page(chunk.records, chunk.url, chunk.requests, rejects=chunk.rejects)
        if read.state is not None:
            version = self._feed_versions.get(op.name, "")
            self._feed_done[op.name] = replace(read.state, version=version)

    def _previous_feed(self, operation: str) -> FeedState | None:
        """The stored state of a feed; under another version, only its record count."""
        if self._feed_state is None:
            return None
        previous = self._feed_state.load(operation)
        if previous is not None and previous.version != self._feed_versions.get(operation, ""):
            previous = replace(previous, etag=None, last_modified=None, body_hash=None)
        return previous

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

    def _lookup_batch(self, prepared: _Prepared, lookup: LookupSpec, batch: list[str]) -> _Batch:
        joined = lookup.separator.join(batch)
        params = dict(prepared.params)
        path = prepared.op.path
        if lookup.id_param is not None:
            params[lookup.id_param] = joined
        else:
            path = path.replace("{id}", quote(joined, safe=","))
        url = self._url(path)
        batched = _batched(lookup)
        try:
            pages = list(self._pages(prepared, url, params))
        except HttpStatusError as exc:
            if exc.status != 404:
                raise
            if not batched:  # one id at a time: no such id
                return _Batch([Page(records=[], url=exc.url, requests=exc.requests)], exc.url)
            raise PermanentError(
                f"{self.name}.{prepared.op.name}: HTTP 404 for a lookup of {len(batch)} id(s) "
                f"at {exc.url}: the endpoint does not exist; {_CHECK_ACCOUNT}"
            ) from None
        first = pages[0].url if pages else redact(str(url))
        if not batched:
            return _Batch(pages, first)
        wanted = set(batch)
        id_field = prepared.op.id_field
        found = sum(
            1
            for page in pages
            for record in page.records
            if str(get_path(record, id_field)) in wanted
        )
        return _Batch(pages, first, asked=len(batch), found=found)
