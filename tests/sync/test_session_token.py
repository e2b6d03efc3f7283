"""Session-token auth end to end: a CJ-like envelope API (tests/fakes/cj.py) synced from the
YAML of docs/specs.md's second worked example, on SQLite and Postgres.

The token is obtained once and kept in `auth_sessions`; a token revoked mid-walk is renewed
(refresh, or one more login) and the walk goes on; a second job reuses the stored token;
concurrent workers log in once; the login cooldown defers a job instead of hammering the
endpoint; and no token reaches a result, a log line or an activity entry.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from runner.config import load_specs
from runner.connector import Account, Connector
from runner.db.sessions import DatabaseTokenStore
from runner.db.tables import activity_logs, auth_sessions
from runner.errors import BudgetWait
from runner.sync.engine import SyncRequest, run_sync
from tests.fakes.cj import CJServer, cj_product
from tests.spec.test_spec_docs import FILES
from tests.sync.support import add_supplier, products_of

SUPPLIER = "specs/suppliers/cjdropshipping.yaml"
MAPPING = "mappings/cjdropshipping_product.yaml"


def project(make_specs, **auth_overrides) -> Path:
    specs = make_specs()
    data = yaml.safe_load(FILES[SUPPLIER])
    for key, value in auth_overrides.items():
        if value is None:
            data["auth"].pop(key, None)
        else:
            data["auth"][key] = value
    (specs / "suppliers" / "cjdropshipping.yaml").write_text(yaml.safe_dump(data))
    (specs.parent / MAPPING).write_text(FILES[MAPPING])
    return specs


def sync(engine, specs, account_id="cj"):
    return run_sync(engine, specs, SyncRequest("user-a", "supplier_api", account_id=account_id))


def add_cj(engine, server: CJServer, supplier_id="cj", **settings) -> None:
    add_supplier(
        engine,
        supplier_id,
        "cjdropshipping",
        base_url=server.base_url,
        credentials={"api_key": server.api_key},
        settings=settings,
    )


def stored(engine):
    with engine.connect() as conn:
        return conn.execute(select(auth_sessions)).all()


def test_a_token_revoked_mid_walk_is_refreshed_and_the_sync_is_exact(
    engine, make_specs, start_server, caplog
):
    server = start_server(CJServer(products=450, revoke_after_pages=1))
    specs = load_specs(project(make_specs))
    add_cj(engine, server, currency="EUR")
    with caplog.at_level(logging.DEBUG):
        result = sync(engine, specs)

    assert result["accounts"]["cj"]["status"] == "ok"
    rows = products_of(engine, "cj")
    expected = {p["pid"]: p for p in server.catalogue()}
    assert set(rows) == set(expected) and len(rows) == 450
    assert str(rows[cj_product(7)["pid"]].price) == cj_product(7)["sellPrice"]
    assert {row.currency for row in rows.values()} == {"EUR"}  # settings.currency
    assert (server.logins, server.refreshes) == (1, 1)  # revocation survived, no extra login
    # three product pages, one of them sent twice (with the dead token, then the new one)
    assert server.pages_served == 3
    assert result["totals"]["requests"] == 1 + 1 + 4  # login, refresh, 4 page requests

    (session,) = stored(engine)
    assert session.token in server.access and session.refresh_token in server.refresh_tokens
    with engine.connect() as conn:
        activity = json.dumps(
            [dict(r._mapping) for r in conn.execute(select(activity_logs))], default=str
        )
    shown = json.dumps(result) + activity + caplog.text
    for secret in (session.token, session.refresh_token, server.api_key):
        assert secret not in shown

    # The next job reuses the stored token: no login, no refresh.
    sync(engine, specs)
    assert (server.logins, server.refreshes) == (1, 1)


def test_without_a_refresh_the_token_is_renewed_by_one_more_login(engine, make_specs, start_server):
    server = start_server(CJServer(products=450, revoke_after_pages=2, login_cooldown=0))
    specs = load_specs(project(make_specs, login_cooldown_seconds=0, refresh=None))
    add_cj(engine, server)
    result = sync(engine, specs)
    assert result["accounts"]["cj"]["status"] == "ok"
    assert len(products_of(engine, "cj")) == 450
    assert (server.logins, server.refreshes) == (2, 0)  # exactly one extra login


def test_the_login_cooldown_defers_instead_of_hammering(engine, make_specs, start_server):
    server = start_server(CJServer(products=450, revoke_after_pages=1))
    specs = load_specs(project(make_specs, refresh=None))
    add_cj(engine, server)
    with pytest.raises(BudgetWait) as waiting:
        sync(engine, specs)
    # Deferred, not failed: the job waits (no attempt charged) until the next login is allowed.
    assert 0 < waiting.value.delay_seconds <= 300
    account = waiting.value.result_data["accounts"]["cj"]
    assert account["status"] == "waiting" and account["waiting_for"] == "cjdropshipping"
    assert server.logins == 1  # the dead token did not trigger a second login


def test_concurrent_workers_log_in_once(engine, make_specs, start_server):
    server = start_server(CJServer(products=5))
    spec = load_specs(project(make_specs)).suppliers["cjdropshipping"]
    account = Account("cj", {"api_key": server.api_key}, {"base_url": server.base_url})
    records: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        store = DatabaseTokenStore(engine, "user-a", "cj", account.credentials)
        with Connector(spec, account, token_store=store) as connector:
            barrier.wait()
            records.append(sum(len(page.records) for page in connector.list("products")))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert records == [5, 5, 5, 5]
    assert server.logins == 1
