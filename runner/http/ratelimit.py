"""A sliding-window rate limiter in one process's memory (thread-safe).

Budgets live in the database (`runner.budgets.SharedBudget`), shared by every process; this
one serves budgets of many requests per second (see `runner.budgets.SHARED_MAX_RATE`) and
connectors run without a database (tests, `sync --offline`).

It never lets more than `requests` calls start in any window of `period` seconds: each call
records its start time, and a call that would be one too many waits until the oldest start
leaves the window. Lookups fan out over threads, so the log is guarded by a lock; the wait
itself happens outside the lock, and the slot is re-checked after waking.

A wait longer than `max_wait` raises `RetryLater` instead of blocking a worker for (say) the
hour BigBuy's 10-per-hour lists need: the queue defers the job and runs it again later.
`close(seconds)` (the server answered 429 with a reset time) makes every slot wait for it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from runner.errors import BudgetWait
from runner.spec.model import RateLimitSpec


class Limiter(Protocol):
    """A budget as the HTTP client spends it (this module's, or `runner.budgets`')."""

    name: str

    def acquire(self) -> float: ...

    def close(self, seconds: float) -> None: ...


class RateLimiter:
    def __init__(
        self,
        requests: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = float("inf"),
        name: str = "",
    ) -> None:
        if requests < 1 or period <= 0:
            raise ValueError("a rate limit needs requests >= 1 and period > 0")
        self.requests = requests
        self.period = period
        self.max_wait = max_wait
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: RateLimitSpec, **kwargs) -> RateLimiter:
        return cls(spec.requests, spec.period_seconds, **kwargs)

    def acquire(self) -> float:
        """Block until a request may start; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.period:
                    self._starts.popleft()
                if len(self._starts) < self.requests:
                    self._starts.append(now)
                    return waited
                wait = self._starts[0] + self.period - now
            if waited + wait > self.max_wait:
                raise BudgetWait(
                    f"{self.name or 'connector'}: rate limit of {self.requests} request(s) per "
                    f"{self.period:g} s reached; next slot in {wait:.0f} s",
                    wait,
                    budget=self.name or "connector",
                    until=datetime.now(UTC) + timedelta(seconds=wait),
                )
            self._sleep(wait)
            waited += wait

    def close(self, seconds: float) -> None:
        """The server refused: no request starts before `seconds` from now."""
        with self._lock:
            start = self._clock() + max(seconds, 0.0) - self.period
            kept = [max(s, start) for s in self._starts]
            self._starts = deque([start] * (self.requests - len(kept)) + kept)
