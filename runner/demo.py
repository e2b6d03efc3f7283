"""`sync-runner demo`: a demo shop synced offline through the real queue and worker.

Seeds one user with a BigBuy and an AliExpress supplier account, one account of every other
supplier spec found (a feed supplier added by YAML, say), and a Shopify and a WooCommerce
integration (all `mode = mock`: records come from the mappings' `mock:` sections), plus
orders whose platform ids are the ids the mock order generators produce. Every row has a
fixed id and is inserted only if missing, so running the demo again does no harm. Then it
enqueues one job of each sync type (the pushes last, to the mock shops) and drains the queue
offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from runner.clock import SystemClock
from runner.db.engine import make_engine
from runner.db.tables import imported_products, marketplace_integrations, orders, suppliers
from runner.spec.model import ConnectorSpec, SpecSet
from runner.sync.report import format_table, summary_rows

DEMO_USER = "demo-user"
SUPPLIERS = (
    ("demo-bigbuy", "BigBuy (demo)", "bigbuy"),
    ("demo-aliexpress", "AliExpress (demo)", "aliexpress"),
)
INTEGRATIONS = (
    ("demo-shopify", "Demo Shopify shop", "shopify", "https://demo-shop.myshopify.com"),
    ("demo-woocommerce", "Demo WooCommerce shop", "woocommerce", "https://shop.example.com"),
)
ORDER_MAPPINGS = {"demo-shopify": "shopify_order", "demo-woocommerce": "woocommerce_order"}
OPEN_STATUSES = ("pending", "processing", "shipped")
# (sync type, priority, metadata): the catalogue first; refreshes look at every product.
JOBS = (
    ("supplier_api", 10, {}),
    ("inventory_update", 0, {"stale_after_seconds": 0}),
    ("price_update", 0, {"stale_after_seconds": 0}),
    ("order_sync", 0, {}),
    ("stock_push", 0, {}),  # then out to the (offline) shops: runner.push.mock
    ("price_push", 0, {}),
)


def _insert_missing(conn: Connection, table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(index_elements=keys), rows)


def demo_suppliers(specs: SpecSet) -> list[tuple[str, str, str]]:
    """(id, name, supplier spec) of the demo's supplier accounts: the bundled two, and one
    for every other supplier spec whose mappings can make mock records, so that a supplier
    added by YAML is in the offline demo too."""
    bundled = {kind for _, _, kind in SUPPLIERS}
    others = [
        (f"demo-{name}"[:36], f"{spec.title} (demo)", name)
        for name, spec in sorted(specs.suppliers.items())
        if name not in bundled and _runs_offline(spec, specs)
    ]
    return [*SUPPLIERS, *others]


def _runs_offline(spec: ConnectorSpec, specs: SpecSet) -> bool:
    """Every mapping the spec's steps use declares a `mock:` section."""
    names = {
        step.mapping or spec.operations[step.operation].mapping
        for steps in spec.syncs.values()
        for step in steps
    }
    return all(name in specs.mappings and specs.mappings[name].mock is not None for name in names)


def seed_demo(engine: Engine, specs: SpecSet) -> None:
    """Insert the demo accounts and orders that are not there yet."""
    from runner.mock import mock_ids

    now = SystemClock().now()
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        _insert_missing(
            conn,
            suppliers,
            [
                {
                    "id": sid,
                    "user_id": DEMO_USER,
                    "name": name,
                    "supplier_type": kind,
                    "status": "active",
                    "mode": "mock",
                    "api_credentials": {},
                    "settings": {},
                    **stamps,
                }
                for sid, name, kind in demo_suppliers(specs)
            ],
            ["id"],
        )
        _insert_missing(
            conn,
            marketplace_integrations,
            [
                {
                    "id": iid,
                    "user_id": DEMO_USER,
                    "name": name,
                    "platform": platform,
                    "shop_url": url,
                    "status": "active",
                    "mode": "mock",
                    "credentials": {},
                    "settings": {},
                    **stamps,
                }
                for iid, name, platform, url in INTEGRATIONS
            ],
            ["id"],
        )
        order_rows = [
            {
                "user_id": DEMO_USER,
                "integration_id": iid,
                "platform_order_id": pid,
                "status": OPEN_STATUSES[n % len(OPEN_STATUSES)],
                **stamps,
            }
            for iid, mapping in ORDER_MAPPINGS.items()
            for n, pid in enumerate(mock_ids(specs.mappings[mapping]))
        ]
        _insert_missing(
            conn, orders, order_rows, ["user_id", "integration_id", "platform_order_id"]
        )


def run_demo(
    specs: SpecSet, database_url: str | None = None, *, echo: Callable[[str], None] = print
) -> bool:
    """Upgrade the database, seed, enqueue one job per sync type, drain offline, print a
    summary. Returns whether every job completed."""
    from runner.db.migrations import upgrade
    from runner.queue import Queue
    from runner.worker import Worker, WorkerOptions

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        seed_demo(engine, specs)
        queue = Queue(engine, specs.runner.queue)
        for sync_type, priority, metadata in JOBS:
            queue.enqueue(
                DEMO_USER,
                sync_type,
                priority=priority,
                metadata=metadata,
                dedupe_key=f"demo:{sync_type}",
            )
        options = WorkerOptions(offline=True, schedules=False, maintenance=True)
        report = Worker(engine, specs, options=options).run()
        with engine.connect() as conn:
            products = conn.execute(
                select(func.count()).where(imported_products.c.user_id == DEMO_USER)
            ).scalar_one()
            order_count = conn.execute(
                select(func.count()).where(orders.c.user_id == DEMO_USER)
            ).scalar_one()
    finally:
        engine.dispose()

    rows = []
    for outcome in report.outcomes:
        rows += summary_rows(
            outcome.result_data,
            sync_type=outcome.sync_type,
            job_status=outcome.outcome,
            error=None if outcome.outcome == "completed" else outcome.message,
        )
    url = engine.url.render_as_string(hide_password=True)
    echo(f"Demo shop of user {DEMO_USER!r} in {url}: {len(report.outcomes)} job(s) run offline")
    echo(format_table(rows))
    if report.maintenance is not None:
        from runner.maintenance import format_summary

        echo(format_summary(report.maintenance))
    echo(f"{products} products, {order_count} orders. Look around:")
    echo(f"  sync-runner jobs list --database-url {url}")
    for sync_type in ("price_update", "stock_push"):
        echo(
            f"  sync-runner sync --user {DEMO_USER} --type {sync_type} --offline --dry-run "
            f"--database-url {url}"
        )
    return bool(report.outcomes) and all(o.outcome == "completed" for o in report.outcomes)
