"""Maintenance policies from specs/runner.yaml: retention and product scoring.

`sync-runner maintain` runs them, and `sync-runner run` runs them after draining the queue.

Retention deletes, per table, the rows older than the configured age, in bounded batches:

    DELETE FROM t WHERE id IN (SELECT id FROM t WHERE <too old> LIMIT :batch_size
                               FOR UPDATE SKIP LOCKED)      -- FOR UPDATE: Postgres only

Each batch is its own short transaction, so two pods running maintenance at once never hold
long locks and never fail: on Postgres they take disjoint batches (SKIP LOCKED); on SQLite
they take turns (every write transaction begins IMMEDIATE, see `runner.db.engine`).

Scoring sets `ai_score` of every product to `base` plus the points of every rule whose metric
lies in [min, max), clamped to 0..100. It is one UPDATE built from the rules as CASE
expressions, run over consecutive id ranges, and it writes only rows whose score changes.
A NULL metric (no stock known, no cost price, never synced) matches no rule. The clock is
the only input besides the rows, so two runs at the same time give identical scores.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Update
from sqlalchemy.sql.elements import ColumnElement

from runner.clock import Clock, SystemClock
from runner.db.tables import activity_logs, import_jobs, imported_products, sync_rejects
from runner.spec.model import RetentionSpec, ScoreRuleSpec, ScoringSpec, SpecSet
from runner.sync.seen import seen_expression

log = logging.getLogger("sync_runner.maintenance")

SCORE_MIN = 0.0
SCORE_MAX = 100.0
SCORE_BATCH_SIZE = 10_000  # products per UPDATE: bounded locks on big catalogues
MARGIN_DECIMALS = 4  # margin_pct is rounded so that both backends agree at rule boundaries


# SQLSTATEs worth one more try: deadlock_detected, serialization_failure (Postgres).
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_ATTEMPTS = 3

T = TypeVar("T")


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run one batch in its own transaction; retry it if Postgres picked it as a deadlock
    victim (a sync in another pod may lock the same product rows in another order)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in _RETRY_SQLSTATES or attempt == _ATTEMPTS:
                raise
            log.warning(
                "maintenance batch hit %s; retrying",
                sqlstate,
                extra={"event": "maintenance.retry", "attempt": attempt},
            )
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# Retention


def retention_conditions(
    retention: RetentionSpec, now: datetime
) -> dict[str, tuple[Table, ColumnElement[bool]]]:
    """Per policy: the table and the condition that selects its rows past their age."""

    def finished_before(days: int) -> ColumnElement[bool]:
        cutoff = now - timedelta(days=days)
        return or_(
            import_jobs.c.completed_at < cutoff,
            and_(import_jobs.c.completed_at.is_(None), import_jobs.c.updated_at < cutoff),
        )

    def older(table: Table, days: int) -> ColumnElement[bool]:
        return table.c.created_at < now - timedelta(days=days)

    completed_days = retention.completed_jobs_days
    return {
        "activity_logs": (activity_logs, older(activity_logs, retention.activity_logs_days)),
        "completed_jobs": (
            import_jobs,
            and_(import_jobs.c.status == "completed", finished_before(completed_days)),
        ),
        "cancelled_jobs": (
            import_jobs,
            and_(import_jobs.c.status == "cancelled", finished_before(completed_days)),
        ),
        "failed_jobs": (
            import_jobs,
            and_(import_jobs.c.status == "failed", finished_before(retention.failed_jobs_days)),
        ),
        "sync_rejects": (sync_rejects, older(sync_rejects, retention.rejects_days)),
    }


def delete_in_batches(
    engine: Engine, table: Table, condition: ColumnElement[bool], batch_size: int
) -> int:
    """Delete the rows matching `condition`, `batch_size` at a time; return how many."""
    batch = select(table.c.id).where(condition).limit(batch_size).with_for_update(skip_locked=True)
    statement = delete(table).where(table.c.id.in_(batch.scalar_subquery()))
    total = 0
    while True:
        deleted = _in_transaction(engine, lambda conn: conn.execute(statement).rowcount)
        total += deleted
        # A short batch means nothing else is left, or that another pod holds the rest.
        if deleted < batch_size:
            return total


def apply_retention(engine: Engine, retention: RetentionSpec, now: datetime) -> dict[str, int]:
    """Delete every row past its configured age; return the count per policy."""
    return {
        name: delete_in_batches(engine, table, condition, retention.batch_size)
        for name, (table, condition) in retention_conditions(retention, now).items()
    }


# ---------------------------------------------------------------------------------------------
# Scoring


def _in_range(value: ColumnElement[Any], rule: ScoreRuleSpec) -> list[ColumnElement[bool]]:
    parts: list[ColumnElement[bool]] = []
    if rule.min is not None:
        parts.append(value >= rule.min)
    if rule.max is not None:
        parts.append(value < rule.max)
    return parts or [value.is_not(None)]


def rule_condition(rule: ScoreRuleSpec, now: datetime) -> ColumnElement[bool]:
    """SQL that is true when the product's metric lies in [min, max) (never for NULL)."""
    p = imported_products.c
    if rule.metric == "stock":
        parts = _in_range(p.stock_quantity, rule)
    elif rule.metric == "price":
        parts = _in_range(p.price, rule)
    elif rule.metric == "margin_pct":
        margin = case(
            (p.price > 0, func.round((p.price - p.cost_price) * 100 / p.price, MARGIN_DECIMALS)),
            else_=None,
        )
        parts = _in_range(margin, rule)
    elif rule.metric == "days_since_sync":
        # days >= min  <=>  synced at or before now - min;  days < max  <=>  after now - max.
        # Comparing timestamps keeps it exact, portable and able to use an index.
        parts = []
        if rule.min is not None:
            parts.append(p.last_synced_at <= now - timedelta(days=rule.min))
        if rule.max is not None:
            parts.append(p.last_synced_at > now - timedelta(days=rule.max))
        parts = parts or [p.last_synced_at.is_not(None)]
    elif rule.metric == "days_since_seen":
        # Last seen = the later of when a listing last saw it (runner.sync.seen) and
        # last_synced_at (NULL when both are). days >= min: neither is after now - min (and
        # one is set); days < max: either is.
        seen = (seen_expression(imported_products, "supplier_id"), p.last_synced_at)
        parts = []
        if rule.min is not None:
            cut = now - timedelta(days=rule.min)
            parts += [or_(c.is_(None), c <= cut) for c in seen]
            parts.append(or_(*(c.is_not(None) for c in seen)))
        if rule.max is not None:
            cut = now - timedelta(days=rule.max)
            parts.append(or_(*(c > cut for c in seen)))
        parts = parts or [or_(*(c.is_not(None) for c in seen))]
    else:  # the schema allows no other metric
        raise ValueError(f"unknown scoring metric {rule.metric!r}")
    return and_(*parts)


def score_expression(scoring: ScoringSpec, now: datetime) -> ColumnElement[float]:
    """`base + Σ CASE WHEN <rule> THEN points ELSE 0 END`, clamped to 0..100."""
    total: ColumnElement[float] = literal(float(scoring.base))
    for rule in scoring.rules:
        total = total + case((rule_condition(rule, now), float(rule.points)), else_=0.0)
    return case(
        (total < SCORE_MIN, SCORE_MIN),
        (total > SCORE_MAX, SCORE_MAX),
        else_=total,
    )


def recompute_scores(
    engine: Engine,
    scoring: ScoringSpec,
    clock: Clock | None = None,
    *,
    batch_size: int = SCORE_BATCH_SIZE,
) -> dict[str, int]:
    """Set `ai_score` of every product from the rules; return products seen and updated."""
    now = (clock or SystemClock()).now()
    p = imported_products.c
    score = score_expression(scoring, now)
    statement = update(imported_products).values(ai_score=score)
    changed = p.ai_score.is_distinct_from(score)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(imported_products)).scalar_one()
    updated = 0
    start: int | None = None
    while True:
        batch_updated, start = _in_transaction(
            engine, functools.partial(_score_batch, statement, changed, start, batch_size)
        )
        updated += batch_updated
        if start is None:
            return {"products": count, "updated": updated}


def _score_batch(
    statement: Update,
    changed: ColumnElement[bool],
    start: int | None,
    batch_size: int,
    conn: Connection,
) -> tuple[int, int | None]:
    """Update the products with id in [start, stop), where stop is the id `batch_size` rows
    further on (None: to the end). Ids have gaps (Postgres upserts consume sequence values),
    so batches are counted in rows, not in ids. Returns (rows updated, stop)."""
    p = imported_products.c
    after = select(p.id).order_by(p.id).offset(batch_size).limit(1)
    bounds = []
    if start is not None:
        after = after.where(p.id >= start)
        bounds.append(p.id >= start)
    stop = conn.execute(after).scalar()
    if stop is not None:
        bounds.append(p.id < stop)
    return conn.execute(statement.where(*bounds, changed)).rowcount, stop


# ---------------------------------------------------------------------------------------------
# Both


def run_maintenance(engine: Engine, specs: SpecSet, clock: Clock | None = None) -> dict[str, Any]:
    """Apply retention, then recompute scores; return a summary for logs and the CLI.

    `{"deleted": {"activity_logs": n, "completed_jobs": n, "cancelled_jobs": n,
    "failed_jobs": n, "sync_rejects": n}, "scores": {"products": n, "updated": n},
    "duration_seconds": s}`
    """
    clock = clock or SystemClock()
    started = time.monotonic()
    log.info("maintenance started", extra={"event": "maintenance.started"})
    deleted = apply_retention(engine, specs.runner.retention, clock.now())
    scores = recompute_scores(engine, specs.runner.scoring, clock)
    summary = {
        "deleted": deleted,
        "scores": scores,
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    log.info(
        "maintenance finished: %d rows deleted, %d of %d scores changed",
        sum(deleted.values()),
        scores["updated"],
        scores["products"],
        extra={"event": "maintenance.finished", "counts": {**deleted, **scores}},
    )
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The summary of `run_maintenance` as a few readable lines (for `maintain`, `demo`)."""
    deleted = summary["deleted"]
    scores = summary["scores"]
    lines = [f"🧹 maintenance done in {summary['duration_seconds']:.2f}s"]
    lines += [f"  deleted {name}: {count}" for name, count in deleted.items()]
    lines.append(f"  ai_score: {scores['updated']} of {scores['products']} products changed")
    return "\n".join(lines)
