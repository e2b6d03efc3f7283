"""Request budgets shared by every job, process and pod, in the table `rate_budget_slots`.

A budget allows `requests` in any sliding window of `window` seconds, per account (a
supplier row or a marketplace integration row) and budget name (`bigbuy/products`). It is
stored as `requests` rows, one per request it allows, each holding when that request last
started. A slot is free once its start has left the window (plus a margin: the server counts
a request when it arrives, a moment after its slot was taken); taking one is a single
conditional UPDATE of the oldest free slot to now (Postgres: its pick is `FOR UPDATE SKIP
LOCKED`, so concurrent takers get different slots; SQLite: inside `BEGIN IMMEDIATE`), so two
workers never overspend together. When no slot is free the next one opens when the oldest
start leaves the window.

The server's word wins: `close(seconds)` (a 429 with `Retry-After` or a reset header) moves
every slot of the budget forward, so that none is free before the stated time, for every
process.

A wait longer than `max_wait` raises `BudgetWait` (a `RetryLater`): the queue defers the job
to the moment the slot opens instead of blocking a worker for the hour a BigBuy list needs.
A budget of more than `SHARED_MAX_RATE` requests per second stays in process memory
(`runner.http.ratelimit.RateLimiter`): see docs/architecture.md, "Budgets and checkpoints",
for the measure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, select, update

from runner.clock import Clock
from runner.db.engine import read_only
from runner.db.tables import import_jobs, rate_budget_slots
from runner.errors import BudgetWait
from runner.http.ratelimit import Limiter, RateLimiter
from runner.spec.model import RateLimitSpec

# Budgets allowing more requests per second than this stay in one process's memory: a slot
# taken in the database costs about a millisecond (benchmarks/budget_bench.py), a tenth of
# the 10 ms between requests at this rate, and an API that allows more per second counts
# them by the second, where a local limiter per pod is what its clients do.
SHARED_MAX_RATE = 100.0
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
MARGIN, MAX_MARGIN = 0.1, 1.0  # a slot is reused after its window + 10% (at most 1 s)


@cache
def _take_statement(postgres: bool) -> Any:
    """UPDATE the oldest free slot of a budget to `now`, RETURNING it (none if all taken)."""
    t = rate_budget_slots
    pick = (
        select(t.c.slot)
        .where(
            t.c.account_id == bindparam("b_account"),
            t.c.budget == bindparam("b_budget"),
            t.c.taken_at <= bindparam("b_cutoff", type_=t.c.taken_at.type),
        )
        .order_by(t.c.taken_at, t.c.slot)
        .limit(1)
    )
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(t)
        .where(
            t.c.account_id == bindparam("b_account"),
            t.c.budget == bindparam("b_budget"),
            t.c.slot == pick.scalar_subquery(),
        )
        .values(taken_at=bindparam("b_now", type_=t.c.taken_at.type))
        .returning(t.c.slot)
    )


class SharedBudget:
    """One account's budget in the database (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        account_id: str,
        name: str,
        spec: RateLimitSpec,
        *,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = float("inf"),
    ) -> None:
        self.engine = engine
        self.account_id = account_id
        self.name = name
        self.requests = spec.requests
        self.window = spec.period_seconds
        # A slot is reused a little after its window: the server counts a request when it
        # arrives, a moment after its slot was taken, and that moment varies.
        self.reuse_after = reuse_after(self.window)
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self._ready = False
        self._keys = {"b_account": account_id, "b_budget": name}

    def acquire(self) -> float:
        """Take a slot, waiting up to `max_wait`; return the seconds waited."""
        self._ensure()
        waited = 0.0
        postgres = self.engine.dialect.name == "postgresql"
        while True:
            now = self.clock.now()
            params = {
                **self._keys,
                "b_now": now,
                "b_cutoff": now - timedelta(seconds=self.reuse_after),
            }
            with self.engine.begin() as conn:
                taken = conn.execute(_take_statement(postgres), params).first()
            if taken is not None:
                return waited
            opens = self.next_free()
            wait = (opens - now).total_seconds()
            if wait <= 0:
                continue  # a slot freed meanwhile
            if waited + wait > self.max_wait:
                raise BudgetWait(
                    f"budget {self.name} spent ({self.requests} request(s) per "
                    f"{self.window:g} s); next slot at {opens:%H:%M:%S} UTC",
                    wait,
                    budget=self.name,
                    until=opens,
                )
            self.sleep(wait)
            waited += wait

    def next_free(self) -> datetime:
        """When the next slot opens (now or in the past if one is free)."""
        t = rate_budget_slots
        with self.engine.connect() as conn:
            oldest = (
                read_only(conn)
                .execute(
                    select(func.min(t.c.taken_at)).where(
                        t.c.account_id == self.account_id, t.c.budget == self.name
                    )
                )
                .scalar()
            )
        return (oldest or NEVER) + timedelta(seconds=self.reuse_after)

    def close(self, seconds: float) -> None:
        """The server refused: no slot of this budget frees before `seconds` from now."""
        self._ensure()
        t = rate_budget_slots
        until = self.clock.now() + timedelta(seconds=max(seconds, 0.0))
        start = until - timedelta(seconds=self.reuse_after)
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(
                    t.c.account_id == self.account_id,
                    t.c.budget == self.name,
                    t.c.taken_at < start,
                )
                .values(taken_at=start)
            )

    def _ensure(self) -> None:
        """Make the stored slots match the spec (once per instance): one row per request."""
        if self._ready:
            return
        t = rate_budget_slots
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t.c.slot, t.c.window_seconds).where(
                    t.c.account_id == self.account_id, t.c.budget == self.name
                )
            ).all()
            have = {row.slot for row in rows}
            missing = [
                {**self._row(), "slot": slot, "taken_at": NEVER}
                for slot in range(self.requests)
                if slot not in have
            ]
            if missing:
                conn.execute(_insert_ignore(conn).values(missing))
            if any(slot >= self.requests for slot in have):
                conn.execute(
                    delete(t).where(
                        t.c.account_id == self.account_id,
                        t.c.budget == self.name,
                        t.c.slot >= self.requests,
                    )
                )
            if any(row.window_seconds != self.window for row in rows):
                conn.execute(
                    update(t)
                    .where(t.c.account_id == self.account_id, t.c.budget == self.name)
                    .values(window_seconds=self.window)
                )
        self._ready = True

    def _row(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "budget": self.name, "window_seconds": self.window}


def _insert_ignore(conn: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(rate_budget_slots).on_conflict_do_nothing()


def reuse_after(window: float) -> float:
    """Seconds after which a slot is free again: its window and a margin."""
    return window + min(MAX_MARGIN, window * MARGIN)


def is_shared(spec: RateLimitSpec) -> bool:
    """Whether a budget lives in the database (see SHARED_MAX_RATE)."""
    return spec.requests / spec.period_seconds <= SHARED_MAX_RATE


# ---------------------------------------------------------------------------------------------
# What `sync-runner budgets` shows


@dataclass(frozen=True)
class BudgetUsage:
    account_id: str
    budget: str
    used: int  # slots taken within the window (or closed by the server)
    limit: int
    window_seconds: float
    next_free: datetime | None  # None: a slot is free now

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "budget": self.budget,
            "used": self.used,
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "next_free": self.next_free.isoformat().replace("+00:00", "Z")
            if self.next_free
            else None,
        }


def budget_usage(engine: Engine, now: datetime, account_id: str | None = None) -> list[BudgetUsage]:
    """Per account and budget: slots used in the window, limit, window, next free slot."""
    t = rate_budget_slots
    stmt = select(t.c.account_id, t.c.budget, t.c.window_seconds, t.c.taken_at).order_by(
        t.c.account_id, t.c.budget, t.c.slot
    )
    if account_id is not None:
        stmt = stmt.where(t.c.account_id == account_id)
    groups: dict[tuple[str, str], list[Any]] = {}
    with engine.connect() as conn:
        for row in read_only(conn).execute(stmt):
            groups.setdefault((row.account_id, row.budget), []).append(row)
    usage = []
    for (account, budget), rows in groups.items():
        window = rows[0].window_seconds
        cutoff = now - timedelta(seconds=reuse_after(window))
        used = sum(row.taken_at > cutoff for row in rows)
        oldest = min(row.taken_at for row in rows)
        opens = oldest + timedelta(seconds=reuse_after(window))
        usage.append(
            BudgetUsage(
                account, budget, used, len(rows), window, opens if used >= len(rows) else None
            )
        )
    return usage


@dataclass(frozen=True)
class BudgetStore:
    """Makes the budgets of one account for a connector (`Connector(budgets=store.make)`)."""

    engine: Engine
    account_id: str
    clock: Clock

    def make(
        self, name: str, spec: RateLimitSpec, max_wait: float, sleep: Callable[[float], None]
    ) -> Limiter:
        if not is_shared(spec):
            return RateLimiter.from_spec(spec, sleep=sleep, max_wait=max_wait, name=name)
        return SharedBudget(
            self.engine,
            self.account_id,
            name,
            spec,
            clock=self.clock,
            sleep=sleep,
            max_wait=max_wait,
        )


def jobs_waiting_for_budget(engine: Engine, now: datetime) -> int:
    """Pending jobs deferred until a budget's slot opens (their result says which)."""
    j = import_jobs.c
    with engine.connect() as conn:
        return (
            read_only(conn)
            .execute(
                select(func.count()).where(
                    j.status == "pending",
                    j.scheduled_at > now,
                    j.result_data["waiting_for"].as_string().is_not(None),
                )
            )
            .scalar_one()
        )
