"""Keep-alive connections shared by threads: one `httpx.Client` per connection, lent per request.

Why not one `httpx.Client` with a pool of N connections: httpcore's sync connection pool
(1.0.9, the latest release) is not safe when several threads send through it. Whenever a
thread sends or finishes a request, it checks every pooled connection: it reads the
connection's state (IDLE) and then asks the socket whether it is readable, taking data on an
idle socket for a server-side close. Another thread may start its request on that connection
between the two reads, without the pool's lock; if the answer is already on the socket when
the check looks, the check closes the socket under the thread reading it, which then fails
(EBADF) or, when `poll` is not woken by the close, waits out its whole read timeout (the
AliExpress "30 s hang, then a retry" with a list walked while its lookups were in flight; see
encode/httpcore#1110 for a sibling of this race). A client used by one thread at a time has
nobody to race with, so each client here holds one keep-alive connection and is lent to one
thread for one request.

A freed client goes to the thread that has waited longest, so a thread that gives one back
and asks again at once cannot starve a waiting one (the caller's list request among busy
lookup threads). The wait is bounded: `httpx.PoolTimeout`, retried like any timeout.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx


class _Waiter:
    def __init__(self) -> None:
        self.ready = threading.Event()
        self.client: httpx.Client | None = None


class ClientPool:
    """Up to `size` clients made by `make` on demand; `lease()` lends one to the caller."""

    def __init__(
        self, size: int, make: Callable[[], httpx.Client], *, timeout: float | None
    ) -> None:
        if size < 1:
            raise ValueError("a client pool needs size >= 1")
        self.size = size
        self.timeout = timeout  # the longest wait for a free client; None waits forever
        self._make = make
        self._lock = threading.Lock()
        self._clients: list[httpx.Client] = []
        self._idle: list[
            httpx.Client
        ] = []  # the last one freed is lent first: its connection is warm
        self._waiters: deque[_Waiter] = deque()

    @contextmanager
    def lease(self) -> Iterator[httpx.Client]:
        """Lend a client to this thread until the block ends (read or close the response
        inside it: an unread response would hold the connection)."""
        client = self._acquire()
        try:
            yield client
        finally:
            self._release(client)

    def waiting(self) -> int:
        """Threads waiting for a client now."""
        with self._lock:
            return len(self._waiters)

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.close()

    def _acquire(self) -> httpx.Client:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if len(self._clients) < self.size:
                client = self._make()
                self._clients.append(client)
                return client
            waiter = _Waiter()
            self._waiters.append(waiter)
        waiter.ready.wait(self.timeout)
        with self._lock:
            if waiter.client is None:  # nobody handed one over in time
                self._waiters.remove(waiter)
                raise httpx.PoolTimeout(
                    f"no free connection within {self.timeout:g} s ({self.size} in use)"
                )
            return waiter.client

    def _release(self, client: httpx.Client) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.client = client
                waiter.ready.set()
            else:
                self._idle.append(client)
