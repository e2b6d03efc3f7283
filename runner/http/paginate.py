"""Pagination kinds: one small class per `PaginateSpec.type`, registered by name, and `walk()`.

A kind says what the first request adds (`first`) and, from a page just read, what the next
request is (`next`, None to stop). `walk()` drives any kind and owns what they all share:
- stop after an empty page (every kind);
- totals: where the API announces one (`total_path` or `total_header`: records;
  `total_pages_header` or `total_pages_path`: pages; read from the latest page), a walk
  that ends short of it is an error, whatever ended it (an empty or short page, a missing
  cursor);
- a hard cap: needing more than `max_pages` pages is an error, not a silent truncation;
- a repeat guard: a page request (URL + params, i.e. the page token) sent twice, or a page
  whose records (by id) equal an earlier page's, stops the walk with an error. That catches a
  server that ignores the page parameter, a cursor that never advances and link loops.

Kinds and their params (see `PaginateSpec`):
- `none`: one request.
- `page_number`: page_param, start (first page number, BigBuy 0, most 1), size_param, size,
  stop_on_short_page (default true when size is set), total_pages_header (stop after that
  many pages, WooCommerce `X-WP-TotalPages`), total_pages_path (the same, from the body),
  total_path (stop once that many records read).
- `offset`: offset_param, limit_param, size, start, stop_on_short_page, total_path. The next
  offset advances by the records actually received (a server capping the size loses nothing).
- `cursor`: cursor_param, cursor_path (AliExpress `search_id`); stops when the body has none.
- `next_url`: next_path; the URL in the body (absolute or relative) is followed as is.
- `link_header`: rel (default next); the RFC 8288 `Link` URL is followed unchanged, because
  Shopify refuses any filter other than limit/fields next to `page_info`.
Followed URLs must stay on the origin of the first request (credentials never leave it).

Resuming (`runner.sync.checkpoint`): before yielding a page, `walk()` puts the position after
it in `WalkPosition.after` (the next request, the kind's counters from `state()`, and the
pages walked); `walk(start=that position)` goes on from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from runner.errors import PermanentError, SyncRunnerError
from runner.http.response import Response
from runner.paths import get_path
from runner.redact import redact_url
from runner.spec.model import PaginateSpec


class PaginationError(PermanentError):
    """The walk cannot go on safely: a repeat, a cap, a foreign next URL."""


@dataclass
class PageRequest:
    """The next page: `url` None means the operation's own URL and params."""

    url: httpx.URL | None = None
    params: dict[str, str] = field(default_factory=dict)

    def key(self) -> tuple:
        return (str(self.url) if self.url is not None else None, tuple(sorted(self.params.items())))


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@dataclass
class WalkPosition:
    """Filled by `walk()`: the position after the page it just yielded (None: the last)."""

    after: dict[str, Any] | None = None


class Paginator:
    kind: ClassVar[str] = ""
    counters: ClassVar[tuple[str, ...]] = ()  # what state() saves besides the next request

    def __init__(self, spec: PaginateSpec) -> None:
        self.spec = spec
        self.params = dict(spec.params)

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.counters}

    def restore(self, state: dict[str, Any]) -> None:
        for name in self.counters:
            if name in state:
                setattr(self, name, state[name])

    def first(self) -> PageRequest:
        return PageRequest()

    def next(self, request: PageRequest, response: Response, records: list) -> PageRequest | None:
        return None

    def announced(self, response: Response) -> tuple[int | None, int | None]:
        """The (records, pages) totals this page announces, where the spec says they are."""
        total_path = self.params.get("total_path")
        total_header = self.params.get("total_header")
        header = self.params.get("total_pages_header")
        pages_path = self.params.get("total_pages_path")
        records = _as_int(get_path(response.data, total_path)) if total_path else None
        if records is None and total_header:
            records = _as_int(response.headers.get(total_header))
        pages = _as_int(response.headers.get(header)) if header else None
        if pages is None and pages_path:
            pages = _as_int(get_path(response.data, pages_path))
        return records, pages

    def _short(self, records: list) -> bool:
        size = self.params.get("size")
        stop = self.params.get("stop_on_short_page")
        if stop is None:
            stop = size is not None
        return bool(stop and size and len(records) < int(size))


PAGINATION_KINDS: dict[str, type[Paginator]] = {}


def register_pagination(cls: type[Paginator]) -> type[Paginator]:
    PAGINATION_KINDS[cls.kind] = cls
    return cls


def create_paginator(spec: PaginateSpec | None) -> Paginator:
    spec = spec or PaginateSpec(type="none", max_pages=1)
    try:
        cls = PAGINATION_KINDS[spec.type]
    except KeyError:
        known = ", ".join(sorted(PAGINATION_KINDS))
        raise PermanentError(f"unknown pagination type {spec.type!r} (known: {known})") from None
    return cls(spec)


@register_pagination
class NoPagination(Paginator):
    kind = "none"


@register_pagination
class PageNumber(Paginator):
    kind = "page_number"
    counters = ("read",)

    def __init__(self, spec: PaginateSpec) -> None:
        super().__init__(spec)
        self.page_param = self.params.get("page_param", "page")
        self.start = int(self.params.get("start", 1))
        self.read = 0

    def _request(self, page: int) -> PageRequest:
        params = {self.page_param: str(page)}
        if self.params.get("size_param") and self.params.get("size"):
            params[self.params["size_param"]] = str(self.params["size"])
        return PageRequest(params=params)

    def first(self) -> PageRequest:
        return self._request(self.start)

    def next(self, request: PageRequest, response: Response, records: list) -> PageRequest | None:
        self.read += len(records)
        page = int(request.params[self.page_param])
        if self._short(records):
            return None
        _, total_pages = self.announced(response)
        if total_pages is not None and page - self.start + 1 >= total_pages:
            return None
        total, _ = self.announced(response)
        if total is not None and self.read >= total:
            return None
        return self._request(page + 1)


@register_pagination
class Offset(Paginator):
    kind = "offset"
    counters = ("offset",)

    def __init__(self, spec: PaginateSpec) -> None:
        super().__init__(spec)
        self.offset_param = self.params.get("offset_param", "offset")
        self.offset = int(self.params.get("start", 0))

    def _request(self) -> PageRequest:
        params = {self.offset_param: str(self.offset)}
        if self.params.get("limit_param") and self.params.get("size"):
            params[self.params["limit_param"]] = str(self.params["size"])
        return PageRequest(params=params)

    def first(self) -> PageRequest:
        return self._request()

    def next(self, request: PageRequest, response: Response, records: list) -> PageRequest | None:
        self.offset += len(records)
        if self._short(records):
            return None
        total, _ = self.announced(response)
        if total is not None and self.offset >= total:
            return None
        return self._request()


@register_pagination
class Cursor(Paginator):
    kind = "cursor"

    def next(self, request: PageRequest, response: Response, records: list) -> PageRequest | None:
        cursor = get_path(response.data, self.params["cursor_path"])
        if cursor is None or cursor == "":
            return None
        return PageRequest(params={self.params["cursor_param"]: str(cursor)})


def _follow(response: Response, target: str) -> PageRequest:
    return PageRequest(url=response.request_url.join(target))


@register_pagination
class NextUrl(Paginator):
    kind = "next_url"

    def next(self, request: PageRequest, response: Response, records: list) -> PageRequest | None:
        target = get_path(response.data, self.params["next_path"])
        if not isinstance(target, str) or not target:
            return None
        return _follow(response, target)


@register_pagination
class LinkHeader(Paginator):
    kind = "link_header"

    def next(self, request: PageRequest, response: Response, records: list) -> PageRequest | None:
        rel = self.params.get("rel", "next")
        links = httpx.Response(200, headers=response.headers).links
        target = links.get(rel, {}).get("url")
        if not target:
            return None
        return _follow(response, target)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def default_fingerprint(records: list) -> bytes:
    text = json.dumps(records, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _annotate(exc: BaseException, note: str) -> None:
    """Append `note` to a runner error's one-line message (its class and fields stay)."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} ({note})", *exc.args[1:])


@dataclass
class _Progress:
    """How far a walk got, and what the API said it would hold."""

    pages: int = 0
    records: int = 0
    total: int | None = None
    total_pages: int | None = None

    def describe(self) -> str:
        text = f"the walk stopped after {self.records} records on {self.pages} pages"
        if self.total is not None:
            text += f" of the {self.total} records announced"
        elif self.total_pages is not None:
            text += f" of the {self.total_pages} pages announced"
        return text

    def shortfall(self) -> str | None:
        if self.total is not None and self.records < self.total:
            return f"the walk ended after {self.records} of the {self.total} records announced"
        if self.total_pages is not None and self.pages < self.total_pages:
            return f"the walk ended after {self.pages} of the {self.total_pages} pages announced"
        return None


def walk(
    spec: PaginateSpec | None,
    fetch: Callable[[PageRequest], Response],
    extract: Callable[[Response], list],
    *,
    origin: httpx.URL,
    fingerprint: Callable[[list], bytes] = default_fingerprint,
    label: str = "",
    start: dict[str, Any] | None = None,
    position: WalkPosition | None = None,
) -> Iterator[tuple[Response, list]]:
    """Yield (response, records) page by page until the kind or an empty page says stop.

    Raises `PaginationError` when the walk cannot end cleanly (see the module docstring);
    an error out of `fetch` or `extract` is raised with how far the walk got. `start`: a
    position saved from `position.after`, to go on from there (with the pages and records
    read before it, so that a resumed walk is held to the announced total as a whole).
    """
    pager = create_paginator(spec)
    max_pages = spec.max_pages if spec is not None else 1
    seen_requests: set[tuple] = set()
    seen_pages: dict[bytes, int] = {}
    request: PageRequest | None = pager.first()
    progress = _Progress()
    if start is not None:
        pager.restore(start.get("state") or {})
        url = start.get("url")
        request = PageRequest(httpx.URL(url) if url else None, dict(start.get("params") or {}))
        progress.pages = int(start.get("pages") or 0)
        progress.records = int(start.get("records") or 0)
    position = position or WalkPosition()
    while request is not None:
        shown = redact_url(str(request.url)) if request.url is not None else str(request.params)
        if request.url is not None and _origin(request.url) != _origin(origin):
            raise PaginationError(
                f"{label}: next page {shown} is on another origin than {redact_url(str(origin))}; "
                "refusing to send credentials there"
            )
        key = request.key()
        if key in seen_requests:
            raise PaginationError(
                f"{label}: page request repeats ({shown}); stopping a loop ({progress.describe()})"
            )
        seen_requests.add(key)
        if progress.pages >= max_pages:
            raise PaginationError(
                f"{label}: more than max_pages={max_pages} pages; "
                f"raise max_pages or narrow the query ({progress.describe()})"
            )
        try:
            response = fetch(request)
            progress.pages += 1
            records = extract(response)
        except SyncRunnerError as exc:
            if progress.pages > 1 or progress.records:
                _annotate(exc, progress.describe())
            raise
        total, total_pages = pager.announced(response)
        progress.total = total if total is not None else progress.total
        progress.total_pages = total_pages if total_pages is not None else progress.total_pages
        progress.records += len(records)
        if not records:
            _check_complete(progress, label)
            position.after = None
            yield response, records
            return
        digest = fingerprint(records)
        if digest in seen_pages:
            raise PaginationError(
                f"{label}: page {progress.pages} ({response.url}) repeats the records of page "
                f"{seen_pages[digest]}; the server ignores the page parameter or the first page "
                f"number is wrong ({progress.describe()})"
            )
        seen_pages[digest] = progress.pages
        request = pager.next(request, response, records)
        if request is None:
            _check_complete(progress, label)
        position.after = _position(request, pager, progress)
        yield response, records


def _check_complete(progress: _Progress, label: str) -> None:
    short = progress.shortfall()
    if short is not None:
        raise PaginationError(f"{label}: {short}; the listing is incomplete")


def _position(request: PageRequest | None, pager: Paginator, progress: _Progress) -> dict | None:
    if request is None:
        return None
    url = str(request.url) if request.url is not None else None
    return {
        "url": url,
        "params": dict(request.params),
        "state": pager.state(),
        "pages": progress.pages,
        "records": progress.records,
    }
