"""Tenants: each job reads and writes only its own user's rows (a seeded property test).

Several users each get a random set of accounts (BigBuy, acme, Shopify, WooCommerce; some in
mock mode) that point at the same fake servers, so their external ids collide across users,
plus random products and orders of their own under colliding ids. Random jobs then run
through the real queue and worker (claimed, run by the sync engine, finished): every sync
type, for one account or all of a user's, and hostile ones that name another user's
account. Around each job:

- every other user's rows (products, orders, accounts, rejects, activity) are snapshotted
  before and after: they never change;
- every statement the job sends is captured: none binds another user's id, and every
  statement on a tenant table binds the job's own user id.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from runner.db.tables import (
    activity_logs,
    imported_products,
    marketplace_integrations,
    orders,
    suppliers,
    sync_rejects,
)
from runner.queue import Queue
from runner.spec.load import load_specs
from runner.worker import Worker, WorkerOptions
from tests.fakes import catalog
from tests.fakes.bigbuy import BigBuyServer
from tests.fakes.shopify import ShopifyServer
from tests.fakes.woocommerce import WooCommerceServer
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import T0, acme_project

SEED = 4242
USERS = ["user-1", "user-2", "user-3", "user-4"]
TENANT_TABLES = (
    imported_products,
    orders,
    suppliers,
    marketplace_integrations,
    sync_rejects,
    activity_logs,
)
# Postgres staging: an empty temp table shaped like the target, and COPY into it (no rows read)
NO_ROWS = ("CREATE TEMP", "COPY ", "DROP ", "TRUNCATE ")
SCENARIOS = {"sqlite": 6, "postgres": 3}
JOBS_PER_SCENARIO = 8


def rows_of(engine, user: str) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            table.name: sorted(
                tuple(map(repr, row))
                for row in conn.execute(select(table).where(table.c.user_id == user))
            )
            for table in TENANT_TABLES
        }


def seed_scenario(engine, rng: random.Random, servers: dict[str, Any]) -> list[tuple]:
    """Accounts and rows for every user; returns (user, kind, account id) per account."""
    accounts = []
    with engine.begin() as conn:
        for user in USERS:
            for kind in rng.sample(
                ["bigbuy", "acme", "shopify", "woocommerce"], k=rng.randint(1, 4)
            ):
                account = f"{user}-{kind}"
                mode = "mock" if rng.random() < 0.25 else "live"
                server = servers[kind]
                if kind in ("bigbuy", "acme"):
                    base = server.base_url
                    credentials = {"api_key": server.api_key}
                    conn.execute(
                        insert(suppliers).values(
                            id=account,
                            user_id=user,
                            name=kind,
                            supplier_type=kind,
                            mode=mode,
                            api_credentials=credentials,
                            settings={"base_url": base, "rate_limit": False, "mock_seed": 3},
                            created_at=T0,
                            updated_at=T0,
                        )
                    )
                    ids = (
                        [str(catalog.bigbuy_id(i)) for i in range(12)]
                        if kind == "bigbuy"
                        else [f"AC-{n:06d}" for n in range(1, 30)]
                    )
                    picked = [*rng.sample(ids, k=rng.randint(0, 6)), f"only-{user}-{kind}"]
                    conn.execute(
                        insert(imported_products),
                        [
                            {
                                "user_id": user,
                                "supplier_id": account,
                                "external_id": ext,
                                "name": f"{user} own {ext}",
                                "price": rng.randint(1, 99),
                                "stock_quantity": rng.randint(0, 9),
                                "created_at": T0,
                                "updated_at": T0,
                            }
                            for ext in picked
                        ],
                    )
                else:
                    credentials = (
                        {"access_token": server.access_token}
                        if kind == "shopify"
                        else {
                            "consumer_key": server.consumer_key,
                            "consumer_secret": server.consumer_secret,
                        }
                    )
                    conn.execute(
                        insert(marketplace_integrations).values(
                            id=account,
                            user_id=user,
                            platform=kind,
                            name=kind,
                            shop_url=server.base_url,
                            mode=mode,
                            credentials=credentials,
                            settings={"rate_limit": False},
                            created_at=T0,
                            updated_at=T0,
                        )
                    )
                    make_id = catalog.shopify_id if kind == "shopify" else catalog.woocommerce_id
                    picked = rng.sample(range(8), k=rng.randint(1, 5))
                    conn.execute(
                        insert(orders),
                        [
                            {
                                "user_id": user,
                                "integration_id": account,
                                "platform_order_id": str(make_id(i)),
                                "status": rng.choice(["pending", "processing", "delivered"]),
                                "created_at": T0,
                                "updated_at": T0,
                            }
                            for i in picked
                        ],
                    )
                accounts.append((user, kind, account))
    return accounts


def random_job(rng: random.Random, accounts: list[tuple]) -> tuple[str, str, str | None]:
    user, kind, account = rng.choice(accounts)
    if kind in ("shopify", "woocommerce"):
        sync_type = "order_sync"
    else:
        sync_type = rng.choice(["supplier_api", "inventory_update", "price_update"])
    roll = rng.random()
    if roll < 0.2:  # hostile: this user's job names another user's account
        others = [a for a in accounts if a[0] != user]
        if others:
            return user, sync_type, rng.choice(others)[2]
    if roll < 0.5:
        return user, sync_type, None  # every active account of the user
    return user, sync_type, account


def flatten(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in flatten(item)]
    if isinstance(value, list | tuple):
        return [v for item in value for v in flatten(item)]
    return [value]


@pytest.mark.slow
def test_jobs_touch_only_their_own_users_rows(db_backend, engine, make_specs):
    servers = {
        "bigbuy": BigBuyServer(products=12).start(),
        "acme": CatalogServer(products=30).start(),
        "shopify": ShopifyServer(orders=8).start(),
        "woocommerce": WooCommerceServer(orders=8).start(),
    }
    specs = load_specs(acme_project(make_specs))
    captured: list[tuple[str, list[Any]]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, flatten(parameters)))

    jobs_run, outcomes = 0, {}
    try:
        for scenario in range(SCENARIOS[db_backend]):
            rng = random.Random(f"{SEED}-{db_backend}-{scenario}")
            with engine.begin() as conn:
                for table in TENANT_TABLES:
                    conn.execute(table.delete())
            accounts = seed_scenario(engine, rng, servers)
            worker = Worker(
                engine, specs, options=WorkerOptions(schedules=False, maintenance=False)
            )
            for step in range(JOBS_PER_SCENARIO):
                user, sync_type, account = random_job(rng, accounts)
                where = f"seed {SEED} {db_backend} scenario {scenario} job {step}: "
                where += f"{user} {sync_type} {account}"
                job_id = Queue(engine).enqueue(user, sync_type, account_id=account).job_id
                others = [u for u in USERS if u != user]
                before = {u: rows_of(engine, u) for u in others}
                captured.clear()
                event.listen(engine, "before_cursor_execute", capture)
                try:
                    done = worker.run_job(job_id)
                finally:
                    event.remove(engine, "before_cursor_execute", capture)
                assert done is not None, where
                outcomes[done.outcome] = outcomes.get(done.outcome, 0) + 1
                jobs_run += 1
                for other in others:
                    assert rows_of(engine, other) == before[other], f"{where}: {other} changed"
                for statement, params in captured:
                    for other in others:
                        assert other not in params, f"{where}: binds {other}: {statement[:200]}"
                    touched = [t.name for t in TENANT_TABLES if t.name in statement]
                    reads_rows = not statement.lstrip().upper().startswith(NO_ROWS)
                    if touched and reads_rows and "import_jobs" not in statement:
                        assert user in params, f"{where}: not scoped by user: {statement[:200]}"
    finally:
        for server in servers.values():
            server.stop()
    assert jobs_run == SCENARIOS[db_backend] * JOBS_PER_SCENARIO
    assert outcomes.get("completed", 0) >= jobs_run // 2, outcomes
