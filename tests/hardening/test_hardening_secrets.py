"""Canary secrets: every credential is a unique marker, and no marker ever comes out.

One user has every kind of account, each pointed at a local fake that accepts only its
marker credentials: BigBuy (api_key), AliExpress (app_key, app_secret, access_token: signed
calls), Shopify (access token header), WooCommerce (consumer key and secret, with the
server dropping the Authorization header so that they travel in the query string), the
acme supplier (whose server echoes the key back in its error bodies), and a second BigBuy
account whose (marker) key the server refuses with 401. Webhooks carry a marker secret and
a marker token in their URL, one to a local receiver that fails once, one to the cloud
metadata address (refused). On Postgres the database URL carries a marker password.

Every sync type runs through the CLI, twice (human logs, then JSON logs, both at debug
level), with failures on purpose: a 401, a 503 burst within the retry budget, a supplier
down past it whose errors echo the key, a record that cannot be mapped. Then `sync`,
`jobs list/show`, `stats` and `explain` run too. No marker, nor the Basic credentials built
from two of them, appears in any output, in `import_jobs` (errors, result_data, metadata),
`activity_logs`, `sync_rejects`, the webhook requests, or a cassette recorded with the
project's recording hooks; URLs in messages show `***` for their secret query values.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from sqlalchemy import insert, select

from runner.connector import Account, Connector
from runner.db.tables import (
    activity_logs,
    import_jobs,
    marketplace_integrations,
    suppliers,
    sync_rejects,
)
from runner.spec.load import load_specs
from tests.fakes import catalog
from tests.fakes.aliexpress import AliExpressServer
from tests.fakes.base import FakeServer, Reply, Request
from tests.fakes.shopify import ShopifyServer
from tests.fakes.woocommerce import WooCommerceServer
from tests.hardening.hostile import CatalogServer
from tests.hardening.support import T0, acme_project, add_acme, cli
from tests.sync.support import EditedBigBuy, add_orders

M = {
    "bigbuy_api_key": "cnry-bb-apikey-41f7",
    "bigbuy_refused_key": "cnry-bb-refused-9a2c",
    "aliexpress_app_key": "cnry-ae-appkey-5d10",
    "aliexpress_app_secret": "cnry-ae-secret-77e3",
    "aliexpress_access_token": "cnry-ae-token-0c4b",
    "shopify_access_token": "shpat_cnry_3b8e1f",
    "woocommerce_consumer_key": "ck_cnry_8e61d2",
    "woocommerce_consumer_secret": "cs_cnry_2f90aa",
    "acme_api_key": "cnry-acme-key-5e0d",
    "webhook_secret": "cnry-hook-secret-6a3d",
    "webhook_token": "cnry-hook-token-1e5b",
    "database_password": "cnry-db-pass-4c7e",
}


def forms() -> dict[str, str]:
    """Every marker, and the encodings a leak could take."""
    found = dict(M)
    basic = f"{M['woocommerce_consumer_key']}:{M['woocommerce_consumer_secret']}"
    found["woocommerce_basic"] = base64.b64encode(basic.encode()).decode()
    for name, value in M.items():
        found[f"{name}_b64"] = base64.b64encode(value.encode()).decode()
        if quote(value, safe="") != value:
            found[f"{name}_quoted"] = quote(value, safe="")
    return found


class Receiver(FakeServer):
    """A webhook receiver that fails its first delivery with a 500, then accepts."""

    name = "receiver"

    def handle(self, request: Request) -> Reply:
        return Reply(500 if len(self.requests) == 1 else 204, b"")


def add_integration(engine, integration_id: str, platform: str, server, credentials) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(marketplace_integrations).values(
                id=integration_id,
                user_id="user-a",
                platform=platform,
                name=platform.title(),
                shop_url=server.base_url,
                credentials=credentials,
                settings={"rate_limit": False},
                created_at=T0,
                updated_at=T0,
            )
        )


def add_supplier(engine, supplier_id: str, kind: str, base_url: str, credentials) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(suppliers).values(
                id=supplier_id,
                user_id="user-a",
                name=kind.title(),
                supplier_type=kind,
                api_credentials=credentials,
                settings={"base_url": base_url, "rate_limit": False},
                created_at=T0,
                updated_at=T0,
            )
        )


JOBS = [
    ("supplier_api", "bb"),
    ("supplier_api", "bb-refused"),
    ("supplier_api", "ae"),
    ("supplier_api", "acme"),
    ("inventory_update", "bb"),
    ("inventory_update", "ae"),
    ("price_update", "bb"),
    ("price_update", "ae"),
    ("order_sync", "shop"),
    ("order_sync", "woo"),
]


EXPLAINED = [
    ("supplier", "bigbuy"),
    ("supplier", "aliexpress"),
    ("supplier", "acme"),
    ("marketplace", "shopify"),
    ("marketplace", "woocommerce"),
]


def scan(text: str, where: str, leaks: list[str]) -> int:
    """Record every marker form found in `text`; return how many forms were checked."""
    checked = 0
    for name, value in forms().items():
        checked += 1
        if value in text:
            leaks.append(f"{name} in {where}")
    return checked


@pytest.mark.slow
def test_no_canary_secret_leaks_anywhere(db_url, db_backend, engine, make_specs, tmp_path):
    if db_backend == "postgres":  # trust auth: any password is accepted, and must not show
        db_url = db_url.replace("postgres@", f"postgres:{M['database_password']}@", 1)
    receiver = Receiver().start()
    bigbuy = EditedBigBuy(products=12, api_key=M["bigbuy_api_key"]).start()
    bigbuy.edits[catalog.bigbuy_id(3)] = {"wholesalePrice": "n/a", "retailPrice": "n/a"}
    aliexpress = AliExpressServer(
        products=6,
        app_key=M["aliexpress_app_key"],
        app_secret=M["aliexpress_app_secret"],
        access_token=M["aliexpress_access_token"],
    ).start()
    aliexpress.faults.server_errors(2)  # a burst within the retry budget
    shopify = ShopifyServer(orders=8, access_token=M["shopify_access_token"]).start()
    woocommerce = WooCommerceServer(
        orders=8,
        consumer_key=M["woocommerce_consumer_key"],
        consumer_secret=M["woocommerce_consumer_secret"],
        drops_authorization=True,
    ).start()
    acme = CatalogServer(
        api_key=M["acme_api_key"],
        fail_all=True,
        error_body=json.dumps({"error": f"key {M['acme_api_key']} is over quota"}),
    ).start()
    servers = [receiver, bigbuy, aliexpress, shopify, woocommerce, acme]
    hook_url = f"http://127.0.0.1:{receiver.port}/hook?token={{{{ env.HOOK_TOKEN }}}}"
    webhooks = [
        {
            "name": "ops",
            "url": hook_url,
            "secret": "{{ env.HOOK_SECRET }}",
            "allow_hosts": ["127.0.0.1"],
            "events": ["job.completed", "job.failed"],
            "timeout_seconds": 5,
        },
        {
            "name": "metadata",
            "url": "http://169.254.169.254/latest?token={{ env.HOOK_TOKEN }}",
            "secret": "{{ env.HOOK_SECRET }}",
        },
    ]
    outputs: dict[str, str] = {}
    try:
        specs = acme_project(make_specs, {"webhooks": webhooks, "schedules": []})
        add_supplier(engine, "bb", "bigbuy", bigbuy.base_url, {"api_key": M["bigbuy_api_key"]})
        add_supplier(
            engine, "bb-refused", "bigbuy", bigbuy.base_url, {"api_key": M["bigbuy_refused_key"]}
        )
        add_supplier(
            engine,
            "ae",
            "aliexpress",
            aliexpress.base_url,
            {
                "app_key": M["aliexpress_app_key"],
                "app_secret": M["aliexpress_app_secret"],
                "access_token": M["aliexpress_access_token"],
            },
        )
        add_acme(engine, "acme", acme, credentials={"api_key": M["acme_api_key"]})
        add_integration(
            engine, "shop", "shopify", shopify, {"access_token": M["shopify_access_token"]}
        )
        add_integration(
            engine,
            "woo",
            "woocommerce",
            woocommerce,
            {
                "consumer_key": M["woocommerce_consumer_key"],
                "consumer_secret": M["woocommerce_consumer_secret"],
            },
        )
        add_orders(engine, "shop", [catalog.shopify_id(i) for i in range(8)])
        add_orders(engine, "woo", [catalog.woocommerce_id(i) for i in range(8)])

        env = {"HOOK_SECRET": M["webhook_secret"], "HOOK_TOKEN": M["webhook_token"]}
        common = ["--specs", str(specs), "--database-url", db_url]
        for log_format in ("human", "json"):
            for sync_type, account in JOBS:
                args = ["enqueue", "--user", "user-a", "--type", sync_type]
                done = cli(*args, "--account", account, *common, env=env)
                assert done.returncode == 0, done.stderr
            run = ["run", "--no-maintenance", "--log-format", log_format, "--log-level", "debug"]
            done = cli(*run, "--json", *common, env=env, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
            outputs[f"run ({log_format} logs)"] = done.stdout + done.stderr
            outcomes = {
                (j["sync_type"], j["supplier_id"]): j for j in json.loads(done.stdout)["jobs"]
            }
            assert outcomes[("supplier_api", "bb")]["outcome"] == "completed"
            assert outcomes[("supplier_api", "bb-refused")]["outcome"] == "failed"  # 401
            assert outcomes[("supplier_api", "acme")]["outcome"] in ("retry", "failed")
            assert outcomes[("order_sync", "woo")]["outcome"] == "completed"
        for extra in (
            [
                "sync",
                "--user",
                "user-a",
                "--type",
                "supplier_api",
                "--json",
                "--log-level",
                "debug",
            ],
            ["jobs", "list", "--json"],
            ["stats", "--json"],
        ):
            done = cli(*extra, *common, env=env, timeout=300)
            outputs[" ".join(extra[:2])] = done.stdout + done.stderr
        with engine.connect() as conn:
            job_ids = conn.scalars(select(import_jobs.c.id)).all()
        for job_id in job_ids:
            done = cli("jobs", "show", job_id, "--json", *common, env=env)
            assert done.returncode == 0, done.stderr
            outputs[f"jobs show {job_id[:8]}"] = done.stdout + done.stderr
        for kind, name in EXPLAINED:
            done = cli("explain", kind, name, "--specs", str(specs), env=env)
            assert done.returncode == 0, done.stderr
            outputs[f"explain {kind} {name}"] = done.stdout + done.stderr
        cassette_text = record_cassettes(tmp_path, bigbuy, aliexpress, shopify, woocommerce)
    finally:
        for server in servers:
            server.stop()

    leaks: list[str] = []
    checked = 0
    for where, text in outputs.items():
        checked += scan(text, where, leaks)
    with engine.connect() as conn:
        for table, columns in (
            (import_jobs, ("errors", "result_data", "metadata")),
            (activity_logs, ("message", "details")),
            (sync_rejects, ("reason", "payload", "external_id", "field")),
        ):
            rows = conn.execute(select(*(table.c[c] for c in columns))).all()
            assert rows, table.name
            text = json.dumps([list(r) for r in rows], default=str, ensure_ascii=False)
            checked += scan(text, table.name, leaks)
    assert len(receiver.requests) >= len(JOBS)  # a retry scheduled sends no event
    for request in receiver.requests:
        text = request.body.decode() + json.dumps(request.headers)
        checked += scan(text, "a webhook request", leaks)
    checked += scan(cassette_text, "the cassettes", leaks)
    assert leaks == [], leaks
    assert checked >= 500
    print(f"canary secrets: {len(M)} markers, {len(forms())} forms, {checked} checks, 0 leaks")

    # the failures really happened, and their messages still say what went wrong
    everything = "\n".join(outputs.values())
    assert "HTTP 401" in everything and "credentials refused" in everything
    assert "key *** is over quota" in everything  # the echoed key, masked
    assert any(  # the WooCommerce credentials really travelled in URLs
        r.query.get("consumer_key") == M["woocommerce_consumer_key"] for r in woocommerce.requests
    )
    assert "webhook metadata: job.completed not delivered: 169.254.169.254" in everything
    with engine.connect() as conn:
        assert conn.execute(select(sync_rejects)).first() is not None  # the bad record


KNOWN_IDS = {"shopify": catalog.shopify_id, "woocommerce": catalog.woocommerce_id}


def record_cassettes(tmp_path: Path, bigbuy, aliexpress, shopify, woocommerce) -> str:
    """Record each connector's calls (one 401 and one 503 burst included) with the project's
    recording hooks, as tests/http/test_http_cassettes.py does; return the cassettes' text."""
    from tests.http.test_http_cassettes import VCR

    specs = load_specs()
    accounts = [
        (
            "bigbuy",
            Account(
                "bb",
                {"api_key": M["bigbuy_api_key"]},
                {"rate_limit": False},
                base_url=bigbuy.base_url,
            ),
            "products",
            False,
        ),
        (
            "bigbuy",
            Account(
                "bb-refused",
                {"api_key": M["bigbuy_refused_key"]},
                {"rate_limit": False},
                base_url=bigbuy.base_url,
            ),
            "products",
            True,
        ),
        (
            "aliexpress",
            Account(
                "ae",
                {
                    "app_key": M["aliexpress_app_key"],
                    "app_secret": M["aliexpress_app_secret"],
                    "access_token": M["aliexpress_access_token"],
                },
                {"rate_limit": False},
                base_url=aliexpress.base_url,
            ),
            "feed_items",
            False,
        ),
        (
            "shopify",
            Account(
                "shop",
                {"access_token": M["shopify_access_token"]},
                {"rate_limit": False},
                integration={"shop_url": shopify.base_url},
            ),
            None,
            False,
        ),
        (
            "woocommerce",
            Account(
                "woo",
                {
                    "consumer_key": M["woocommerce_consumer_key"],
                    "consumer_secret": M["woocommerce_consumer_secret"],
                },
                {"rate_limit": False},
                integration={"shop_url": woocommerce.base_url},
            ),
            None,
            False,
        ),
    ]
    aliexpress.faults.server_errors(1)
    texts = []
    for index, (spec_name, account, operation, refused) in enumerate(accounts):
        pool = specs.suppliers if spec_name in specs.suppliers else specs.marketplaces
        spec = pool[spec_name]
        operation = operation or next(iter(spec.operations))
        ids = [str(KNOWN_IDS.get(spec_name, catalog.bigbuy_id)(i)) for i in range(3)]
        path = tmp_path / f"cassette-{index}-{spec_name}.yaml"
        connector = Connector(spec, account, sleep=lambda seconds: None)
        with VCR.use_cassette(str(path), record_mode="all"):
            try:
                if spec.operations[operation].kind == "lookup":
                    pages = connector.lookup(operation, ids)
                else:
                    pages = connector.list(operation)
                for _ in pages:
                    pass
            except Exception as exc:  # the refused account fails; its message is checked too
                assert refused, exc
                texts.append(str(exc))
            finally:
                connector.close()
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["interactions"], path.name
        texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def test_the_canaries_are_distinct_and_registered_forms_are_checked():
    values = list(M.values())
    assert len(set(values)) == len(values) == 12
    assert len(forms()) >= 2 * len(M)
    assert not any(value in os.environ.values() for value in values)
