"""Fetch one feed: a conditional GET whose body is parsed while it streams.

`FeedRead(...).chunks()` sends the request (with the validators of the last complete sync:
`If-None-Match`, `If-Modified-Since`), retries what the HTTP client retries (timeouts,
connection errors, 429, 5xx, one auth fallback on 401) until the body starts, then streams
the body through `runner.feeds.decompress` and the format's parser, handing on records in
chunks of `FEED_PAGE_RECORDS`. Outcomes:

- 304 Not Modified: `FeedUnchanged` before any record.
- A 200 without validators, when the last complete sync stored the body's hash: the body is
  spooled (as received, compressed) to a temporary file while it is hashed; the same hash
  is `FeedUnchanged`, otherwise the file is parsed.
- A body cut off mid-way is a `TransientError` (the job is retried); an unreadable one is a
  `FeedError`. The HTTP client's deadlines hold (runner.http.client): the request, from
  connect to the feed's last byte (parsing and writing the records included, as they
  overlap the download), ends at `timeouts.request`, and the attempts until the body starts
  at `timeouts.page`, so that a server trickling bytes cannot hold the worker. A feed with
  fewer records than `min_records_ratio` of the last complete one is a `TruncatedFeed`.
- Complete: `state` holds what the next sync compares with. The caller saves it only once
  the records are written (`runner.feeds.state`).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import xxhash

from runner.errors import TransientError
from runner.feeds import FEED_PAGE_RECORDS, FeedError, FeedUnchanged, TruncatedFeed
from runner.feeds.decompress import Limits, decoded
from runner.feeds.formats import parse_records
from runner.feeds.state import FeedState
from runner.feeds.text import chunked
from runner.http.auth import Auth, Call
from runner.http.client import HttpClient, _Failure
from runner.mapping import Reject
from runner.redact import redact, redact_url
from runner.spec.model import FormatSpec

ERROR_BODY_BYTES = 64 * 1024  # read of a non-2xx answer, for its message
SPOOL_CHUNK = 1 << 20


@dataclass
class FeedChunk:
    records: list[Any]
    rejects: list[Reject]
    url: str  # redacted
    requests: int


@dataclass
class FeedRead:
    """One read of one feed; iterate `chunks()`, then read `state`."""

    client: HttpClient
    call: Call
    auth: Auth | None
    fmt: FormatSpec
    previous: FeedState | None
    label: str
    max_download: int
    state: FeedState | None = None
    requests: int = 0
    _hash: Any = field(default_factory=xxhash.xxh3_128)

    def chunks(self) -> Iterator[FeedChunk]:
        with self.client._clients.lease() as http:
            response, shown, deadline = self._open(http)
            try:
                yield from self._body(response, shown, deadline)
            finally:
                response.close()

    # -- the request --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "*/*", "Accept-Encoding": "gzip", **self.call.headers}
        previous = self.previous
        if previous is not None:
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        return headers

    def _open(self, http: httpx.Client) -> tuple[httpx.Response, str, float]:
        """The response whose body starts, its URL (redacted) and the request's deadline."""
        client = self.client
        attempt = 0
        resent_for_auth = False
        page_deadline = client.clock() + client.timeouts.page  # every attempt and wait
        while True:
            attempt += 1
            if client.limiter is not None:
                client.limiter.acquire()
            call = Call(self.call.method, self.call.url, dict(self.call.params), self._headers())
            if self.auth is not None:
                self.auth.apply(call)
            url = call.final_url()
            shown = redact_url(str(url))
            where = f"{client.name}: {call.method} {shown}"
            self.requests += 1
            with client._lock:
                client.requests += 1
            deadline = min(client.clock() + client.timeouts.request, page_deadline)
            try:
                request = http.build_request(call.method, url, headers=call.headers)
                response = http.send(request, stream=True)
            except httpx.TimeoutException as exc:
                failure = _Failure(f"timeout ({type(exc).__name__})", True)
            except httpx.TransportError as exc:
                failure = _Failure(
                    f"connection error ({type(exc).__name__}: {redact(str(exc))})", True
                )
            else:
                status = response.status_code
                ok = 200 <= status < 300
                if ok and client.clock() <= deadline:
                    return response, shown, deadline
                content = b"" if ok else _head(response, deadline, client.clock)
                response.close()
                if client.clock() > deadline:  # the headers or an error body trickled in
                    failure = _Failure(self._late(), True)
                elif status == 304 and self.previous is not None:
                    raise FeedUnchanged("not modified since the last complete sync (HTTP 304)")
                else:
                    outcome = client._classify(
                        url, status, response.headers, content, self.requests
                    )
                    if isinstance(outcome, _Failure):
                        failure = outcome
                    elif (  # 401: the auth kind may adapt once
                        self.auth is not None
                        and not resent_for_auth
                        and self.auth.on_unauthorized(
                            call, httpx.Response(status, headers=response.headers, content=content)
                        )
                    ):
                        resent_for_auth = True
                        attempt -= 1
                        continue
                    else:
                        failure = _Failure(
                            client._auth_message(status, content), False, status=status
                        )
            client._fail_or_wait(failure, where, attempt, shown, self.requests, page_deadline)

    def _late(self) -> str:
        return (
            f"timeout (over the {self.client.timeouts.request:g} s request deadline, "
            "connect to last byte)"
        )

    # -- the body -----------------------------------------------------------------------------

    def _body(self, response: httpx.Response, shown: str, deadline: float) -> Iterator[FeedChunk]:
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        previous = self.previous
        raw: Iterable[bytes] = self._hashed(self._raw(response, shown, deadline))
        with contextlib.ExitStack() as stack:
            if etag is None and last_modified is None and previous and previous.body_hash:
                spool = stack.enter_context(tempfile.TemporaryFile(prefix="sync-runner-feed-"))
                self._spool(raw, spool, previous.body_hash)
                raw = iter(lambda: spool.read(SPOOL_CHUNK), b"")
            limits = Limits(compressed=self.max_download, decompressed=self.fmt.max_bytes)
            plain = decoded(
                raw,
                content_encoding=response.headers.get("content-encoding", ""),
                compression=self.fmt.compression,
                member=self.fmt.member,
                limits=limits,
            )
            count = 0
            requests = self.requests
            for items in chunked(parse_records(plain, self.fmt), FEED_PAGE_RECORDS):
                records = [item for item in items if item.__class__ is not Reject]
                rejects = [item for item in items if item.__class__ is Reject]
                count += len(items)
                yield FeedChunk(records, rejects, shown, requests)
                requests = 0
        self._check_length(count)
        self.state = FeedState(etag, last_modified, self._hash.hexdigest(), count)

    def _spool(self, raw: Iterable[bytes], spool: Any, known_hash: str) -> None:
        """Write the body to `spool` while hashing it; the known hash means unchanged."""
        size = 0
        for data in raw:
            size += len(data)
            if size > self.max_download:
                raise FeedError(
                    f"the feed is over the {self.max_download} byte download limit "
                    "(max_response_bytes)"
                )
            spool.write(data)
        if self._hash.hexdigest() == known_hash:
            raise FeedUnchanged("the same body as at the last complete sync")
        spool.seek(0)

    def _raw(self, response: httpx.Response, shown: str, deadline: float) -> Iterator[bytes]:
        """The body as received; a transfer that breaks off or runs past the request's
        deadline is transient (the job is retried)."""
        clock = self.client.clock
        received = 0
        try:
            for data in response.iter_raw():
                received += len(data)
                if clock() > deadline:
                    raise TransientError(
                        f"{shown}: {self._late()} after {received} bytes of the feed; "
                        "a feed that takes longer needs a larger timeouts.request"
                    )
                yield data
        except httpx.TransportError as exc:
            raise TransientError(
                f"{shown}: the feed broke off after {received} bytes "
                f"({type(exc).__name__}: {redact(str(exc))})"
            ) from None

    def _hashed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self._hash.update(chunk)
            yield chunk

    def _check_length(self, count: int) -> None:
        """An empty feed, or one much shorter than the last complete one, is refused."""
        previous = self.previous
        ratio = self.fmt.min_records_ratio
        if count == 0 and ratio > 0:
            hint = {
                "xml": f"; no element matched record: {self.fmt.record!r}",
                "csv": " beyond its header",
            }.get(self.fmt.type, "")
            raise TruncatedFeed(
                f"{self.label}: the feed holds no records{hint}; refused as a truncated "
                "listing (min_records_ratio: 0 accepts an empty feed)"
            )
        if previous is None or not previous.record_count or count >= ratio * previous.record_count:
            return
        raise TruncatedFeed(
            f"{self.label}: truncated listing refused: {count} records where the last complete "
            f"feed had {previous.record_count} (under min_records_ratio {ratio:.0%})"
        )


def _head(response: httpx.Response, deadline: float, clock: Callable[[], float]) -> bytes:
    """The start of a non-2xx body, for its message (no further than the deadline)."""
    parts: list[bytes] = []
    size = 0
    with contextlib.suppress(httpx.HTTPError):
        for data in response.iter_bytes():
            parts.append(data)
            size += len(data)
            if size >= ERROR_BODY_BYTES or clock() > deadline:
                break
    response.close()
    return b"".join(parts)[:ERROR_BODY_BYTES]
