"""The HTTP client of one connector account for one run: httpx, retries, rate limit, rules.

Keep-alive connections (explicit connect/read timeouts, no cookies, no redirects) serve every
request of the account; each is its own `httpx.Client`, lent to one thread per request
(`runner.http.pool` says why one shared httpx pool is not used). Each logical call goes
through `HttpClient.request`:

1. wait for a rate-limit slot; let the auth kind add headers, params or a signature;
2. send, streaming the body into memory up to `max_body_bytes` (bigger bodies are refused);
3. classify the outcome:
   - 2xx: an empty body is "no data" (`response.empty_body: no_data`, BigBuy) or a retryable
     fault; the body must be JSON (an HTML page or truncated JSON is a retryable fault whose
     message names the URL, redacted); an error envelope (`response.error_path`, AliExpress
     `error_response`, BigBuy's soft `{"code": 409, ...}`) is retryable when its code or
     message matches `retryable_error_pattern`, otherwise permanent;
   - 401 / 403: permanent at once (after at most one auth fallback, see `runner.http.auth`);
   - 408, 429, 5xx, timeouts, connection errors: retryable;
   - other 3xx / 4xx: permanent;
4. retry with exponential backoff (`RetrySpec`: base * 2^(n-1), capped, with +-jitter), or
   after the delay the server stated: `Retry-After` (seconds or an HTTP date), the spec's
   `rate_limit_reset_header` (epoch seconds, BigBuy `X-Ratelimit-Reset`), or AliExpress's
   "ban will last N seconds". A stated delay longer than `max_wait` raises `RetryLater` so the
   queue defers the job instead of blocking a worker; so does a 429 on the last attempt.

Every error is one line: connector name, method, redacted URL, what went wrong.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from runner import __version__
from runner.errors import PermanentError, RetryLater, TransientError
from runner.http.auth import Auth, Call
from runner.http.body import ACCEPT_ENCODING, BadEncoding, RequestDeadline, read_body
from runner.http.body import BodyTooLarge as _BodyOverCap
from runner.http.pool import ClientPool
from runner.http.ratelimit import Limiter
from runner.http.response import Response
from runner.http.rules import BAN_SECONDS, ResponseRules
from runner.redact import redact, redact_url
from runner.spec.model import ResponseSpec, RetrySpec, TimeoutSpec

log = logging.getLogger("sync_runner.http")

MAX_BODY_BYTES = 256 * 1024 * 1024  # a BigBuy page of 10,000 products is ~30 MB
MAX_WAIT_SECONDS = 120.0  # longer waits become RetryLater (the job is deferred)
SNIPPET = 300

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


class HttpStatusError(PermanentError):
    """A non-retryable HTTP status (401, 403, 404, 4xx). `status` lets callers tell a 404."""

    def __init__(self, message: str, status: int, url: str = "", requests: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.url = url  # redacted
        self.requests = requests


class BodyTooLarge(PermanentError):
    pass


@dataclass
class _Failure:
    message: str
    retryable: bool
    delay: float | None = None  # the server said how long to wait
    status: int | None = None


_RESEND = object()


@dataclass
class _AuthExpired:
    """The answer says the credentials or token died (a `classify` rule): like a 401, the
    auth kind may renew them once and the request is sent again."""

    message: str


_DECODER = msgspec.json.Decoder()


def parse_json(content: bytes) -> Any:
    """A JSON body as Python data, exactly as `json.loads` reads it, twice as fast.

    msgspec reads valid JSON to the same values (integers of any size included); what it
    refuses (NaN, an unpaired surrogate, a syntax error) goes to `json.loads`, which accepts
    the same as ever or raises its own error, with the position the caller reports.
    """
    try:
        return _DECODER.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(content)


def _snippet(content: bytes) -> str:
    if not content:
        return "(empty body)"
    title = _TITLE.search(content[:4096])
    if title:
        text = "HTML page: " + title.group(1).decode("utf-8", "replace")
    else:
        text = content[: SNIPPET * 2].decode("utf-8", "replace")
    text = " ".join(text.split())
    return redact(text[:SNIPPET] + ("..." if len(text) > SNIPPET else ""))


class HttpClient:
    def __init__(
        self,
        *,
        name: str,
        retry: RetrySpec | None = None,
        timeouts: TimeoutSpec | None = None,
        response: ResponseSpec | None = None,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_wait: float = MAX_WAIT_SECONDS,
        pool_size: int = 10,
    ) -> None:
        self.name = name
        self.retry = retry or RetrySpec()
        self.rules = response or ResponseSpec()
        self.limiter = limiter
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self.rng = rng or random.Random()
        self.max_body_bytes = max_body_bytes
        self.max_wait = max_wait
        self._rules = ResponseRules(self.rules)
        timeouts = timeouts or TimeoutSpec()
        self.timeouts = timeouts
        timeout = httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.read
        )
        verify = httpx.create_ssl_context()  # loaded once, shared by the clients
        headers = {
            "User-Agent": f"sync-runner/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }

        def make() -> httpx.Client:
            no_cookies = http.cookiejar.CookieJar(
                policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            )
            return httpx.Client(
                timeout=timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                headers=headers,
                cookies=no_cookies,
                follow_redirects=False,
                verify=verify,
                transport=transport,  # a given transport is shared: it must be thread-safe
            )

        self._clients = ClientPool(pool_size, make, timeout=timeouts.read)
        self._lock = threading.Lock()
        self.requests = 0

    # -- public -------------------------------------------------------------------------------

    def request(
        self, call: Call, auth: Auth | None = None, budget: Limiter | None = None
    ) -> Response:
        """Send one logical call with retries; return the parsed 2xx response or raise.

        Every attempt spends a slot of `budget` (default: the client's `limiter`)."""
        attempt = 0
        sent = 0
        resent_for_auth = False
        page_deadline = self.clock() + self.timeouts.page  # every attempt and wait included
        limiter = budget or self.limiter
        while True:
            attempt += 1
            if limiter is not None:
                limiter.acquire()
            prepared = Call(
                call.method,
                call.url,
                dict(call.params),
                dict(call.headers),
                call.json,
                dict(call.data) if call.data is not None else None,
            )
            if auth is not None:
                auth.apply(prepared)
            url = prepared.final_url()
            shown = redact_url(str(url))
            where = f"{self.name}: {prepared.method} {shown}"
            sent += 1
            with self._lock:
                self.requests += 1
            deadline = min(self.clock() + self.timeouts.request, page_deadline)
            try:
                status, headers, content = self._send(prepared, url, deadline)
            except RequestDeadline:
                outcome: Any = _Failure(
                    f"timeout (over the {self.timeouts.request:g} s request deadline, "
                    "connect to last byte)",
                    True,
                )
            except httpx.TimeoutException as exc:
                outcome = _Failure(f"timeout ({type(exc).__name__})", True)
            except httpx.TransportError as exc:
                outcome = _Failure(
                    f"connection error ({type(exc).__name__}: {redact(str(exc))})", True
                )
            except BodyTooLarge as exc:
                raise BodyTooLarge(f"{where}: {exc}") from None
            else:
                outcome = self._classify(url, status, headers, content, sent, auth)
                if outcome is _RESEND or isinstance(outcome, _AuthExpired):
                    probe = httpx.Response(status, headers=headers, content=content)
                    if (
                        auth is not None
                        and not resent_for_auth
                        and auth.on_unauthorized(prepared, probe)
                    ):
                        resent_for_auth = True
                        attempt -= 1
                        continue
                    if isinstance(outcome, _AuthExpired):
                        outcome = _Failure(outcome.message, False, status=status)
                    else:
                        outcome = _Failure(
                            self._auth_message(status, content), False, status=status
                        )
            if isinstance(outcome, Response):
                return outcome
            if limiter is not None and outcome.status == 429 and outcome.delay is not None:
                # The server's word wins: the budget is closed for every process until the
                # stated time, and the next attempt's slot waits for it (or defers the job).
                limiter.close(outcome.delay)
                if attempt < self.retry.max_attempts:
                    continue
            self._fail_or_wait(outcome, where, attempt, shown, sent, page_deadline)

    def close(self) -> None:
        self._clients.close()

    # -- internals ----------------------------------------------------------------------------

    def _send(
        self, call: Call, url: httpx.URL, deadline: float
    ) -> tuple[int, httpx.Headers, bytes]:
        with self._clients.lease() as client:
            request = client.build_request(
                call.method, url, headers=call.headers, json=call.json, data=call.data
            )
            response = client.send(request, stream=True)
            try:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise BodyTooLarge(self._too_large(int(declared)))
                content = read_body(response, self.max_body_bytes, deadline, self.clock)
            except _BodyOverCap as exc:
                raise BodyTooLarge(self._too_large(exc.size)) from None
            except BadEncoding as exc:
                raise BodyTooLarge(str(exc)) from None
            finally:
                response.close()
        return response.status_code, response.headers, content

    def _too_large(self, size: int) -> str:
        return (
            f"response body over the {self.max_body_bytes} byte limit ({size}+ bytes); "
            "lower the page size"
        )

    def _auth_message(self, status: int, content: bytes) -> str:
        return (
            f"HTTP {status} (credentials refused; check the account's credentials): "
            f"{_snippet(content)}"
        )

    def _classify(
        self,
        url: httpx.URL,
        status: int,
        headers: httpx.Headers,
        content: bytes,
        sent: int,
        auth: Auth | None = None,
    ) -> Any:
        watch = auth if auth is not None and auth.reads_answers else None
        if watch is not None and status >= 400 and status != 401 and content[:1] in b"{[":
            dead = self._dead(watch, url, status, headers, content)
            if dead is not None:
                return dead
        if status == 401:
            return _RESEND  # the auth kind may adapt once (basic -> query, a new token)
        if status == 403:
            return _Failure(self._auth_message(status, content), False, status=status)
        if status == 429 or status == 408 or status >= 500:
            delay = self._stated_delay(headers, content)
            return _Failure(f"HTTP {status}: {_snippet(content)}", True, delay, status)
        if status >= 300:
            extra = f" to {redact_url(headers['location'])}" if "location" in headers else ""
            what = "unexpected redirect" + extra if status < 400 else _snippet(content)
            return _Failure(f"HTTP {status}: {what}", False, status=status)
        data = self._parse(status, headers, content)
        if isinstance(data, _Failure):
            return data
        response = Response(status, headers, redact_url(str(url)), url, data, sent)
        if watch is not None and watch.dead(response.variables()):
            return _AuthExpired(f"HTTP {status}: the API refused the token: {_snippet(content)}")
        verdict = self._rules.error(response.variables()) if self._rules.active else None
        if verdict is None:
            return response
        if verdict.kind == "auth_expired":
            return _AuthExpired(verdict.message)
        delay = verdict.delay
        if verdict.kind == "retry_after" and delay is None:
            delay = self._stated_delay(headers, content)
        return _Failure(verdict.message, verdict.retryable, delay, status)

    def _dead(
        self, auth: Auth, url: httpx.URL, status: int, headers: httpx.Headers, content: bytes
    ) -> _AuthExpired | None:
        """An error status whose JSON body the auth's `dead_when` reads as "token dead"."""
        try:
            data = parse_json(content)
        except (ValueError, RecursionError):
            return None
        response = Response(status, headers, "", url, data, 0)
        if auth.dead(response.variables()):
            return _AuthExpired(f"HTTP {status}: the API refused the token: {_snippet(content)}")
        return None

    def _parse(self, status: int, headers: httpx.Headers, content: bytes) -> Any:
        if not content.strip():
            if status == 204 or self.rules.empty_body == "no_data":
                return None
            return _Failure(f"HTTP {status} with an empty body", True, status=status)
        head = content.lstrip()[:1]
        if head == b"<":
            return _Failure(f"HTTP {status} but not JSON: {_snippet(content)}", True, status=status)
        try:
            return parse_json(content)
        except RecursionError:
            # A hostile or broken body like [[[[...]]]]: the same on every try.
            return _Failure(f"HTTP {status} but JSON nested too deeply", False, status=status)
        except ValueError as exc:
            pos = getattr(exc, "pos", None)
            if pos is None:  # e.g. an integer with more digits than Python converts
                message = " ".join(str(exc).split(":")[0].split())
                return _Failure(f"HTTP {status} but invalid JSON: {message}", False, status=status)
            cut = head in (b"{", b"[") and getattr(exc, "msg", "") != "Extra data"
            kind = "truncated JSON" if cut else "not JSON"
            detail = f"{kind} ({len(content)} bytes, error at byte {pos})"
            if kind == "not JSON":
                detail += f": {_snippet(content)}"
            return _Failure(f"HTTP {status} but {detail}", True, status=status)

    def _stated_delay(self, headers: httpx.Headers, content: bytes) -> float | None:
        retry_after = headers.get("retry-after")
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(retry_after)
                    return max(0.0, when.timestamp() - self.wall())
                except (TypeError, ValueError):
                    pass
        reset_header = self.rules.rate_limit_reset_header
        if reset_header and headers.get(reset_header):
            try:
                reset = float(headers[reset_header])
            except ValueError:
                reset = None
            if reset is not None:
                # Epoch seconds (BigBuy); small values are read as a delay in seconds.
                return max(0.0, reset - self.wall()) if reset > 1e9 else max(0.0, reset)
        match = BAN_SECONDS.search(content[:2048].decode("utf-8", "replace"))
        return float(match.group(1)) if match else None

    def _backoff(self, attempt: int) -> float:
        spec = self.retry
        base = min(spec.max_backoff_seconds, spec.backoff_seconds * 2 ** (attempt - 1))
        jittered = base * (1 + spec.jitter * self.rng.uniform(-1.0, 1.0))
        return max(0.0, min(spec.max_backoff_seconds, jittered))

    def _fail_or_wait(
        self,
        failure: _Failure,
        where: str,
        attempt: int,
        shown: str,
        sent: int,
        page_deadline: float = float("inf"),
    ) -> None:
        message = f"{where}: {failure.message}"
        if not failure.retryable:
            raise HttpStatusError(message, failure.status or 0, shown, sent)
        delay = failure.delay
        if delay is not None and delay > self.max_wait:
            raise RetryLater(f"{message}; the server asks to wait {delay:.0f} s", delay)
        if attempt >= self.retry.max_attempts:
            if delay is not None and failure.status == 429:
                raise RetryLater(f"{message}; still rate limited after {attempt} attempts", delay)
            raise TransientError(f"{message} (gave up after {attempt} attempts)")
        wait = self._backoff(attempt) if delay is None else delay
        if self.clock() + wait >= page_deadline:
            raise TransientError(
                f"{message} (gave up after {attempt} attempts: over the "
                f"{self.timeouts.page:g} s page deadline)"
            )
        log.debug(
            "%s; retry %d of %d in %.2f s (%s)",
            message,
            attempt,
            self.retry.max_attempts - 1,
            wait,
            "the delay the server stated" if delay is not None else "backoff",
            extra={"event": "http.retry", "delay_seconds": round(wait, 3)},
        )
        self.sleep(wait)
