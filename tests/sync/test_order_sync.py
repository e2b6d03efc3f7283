"""order_sync against the Shopify and WooCommerce fakes: the status rules, tracking from the
latest live shipment, which orders are refreshed, and a wrong shop URL. SQLite and Postgres.

The expected values come from `shopify_expected` and `woocommerce_expected` below, a plain
Python reading of the rules in docs/specs.md (independent of the mappings' expressions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from runner.clock import SystemClock
from runner.db.tables import activity_logs, import_jobs
from runner.errors import JobFailed
from runner.queue import Queue
from runner.worker import Worker, WorkerOptions
from tests.fakes import catalog
from tests.fakes.catalog import TRACKING_META, shopify_fulfillment, woocommerce_tracking_item
from tests.fakes.shopify import ShopifyServer
from tests.fakes.woocommerce import WooCommerceServer
from tests.sync.support import T0, add_integration, add_orders, orders_of
from tests.sync.test_engine import step, sync

FINAL = ("delivered", "cancelled", "refunded", "failed")
DEAD_FULFILLMENT = ("cancelled", "error", "failure")
WOO_STATUS = {
    "pending": "pending",
    "on-hold": "pending",
    "processing": "processing",
    "partial-shipped": "processing",
    "completed": "shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "trash": "cancelled",
    "refunded": "refunded",
    "failed": "failed",
}
SHOP_ORDERS = 40
WOO_ORDERS = 40


def shopify_expected(order: dict) -> tuple:
    """(status, tracking number, carrier, URL) as a shop owner reads the order page."""
    live = [f for f in order["fulfillments"] if f["status"] not in DEAD_FULFILLMENT]
    financial, fulfillment = order["financial_status"], order["fulfillment_status"]
    if order["cancelled_at"]:
        status = "cancelled"
    elif financial == "refunded":
        status = "refunded"
    elif financial == "voided":
        status = "cancelled"
    elif fulfillment == "fulfilled":
        every = live and all(f["shipment_status"] == "delivered" for f in live)
        status = "delivered" if every else "shipped"
    elif fulfillment == "partial" or financial in ("paid", "partially_refunded"):
        status = "processing"
    else:
        status = "pending"
    latest = live[-1] if live else {}
    number = latest.get("tracking_number") or next(iter(latest.get("tracking_numbers") or []), None)
    url = latest.get("tracking_url") or next(iter(latest.get("tracking_urls") or []), None)
    return status, number, latest.get("tracking_company"), url


def woocommerce_expected(order: dict) -> tuple:
    status = WOO_STATUS.get(order["status"], "processing")
    items = next((m["value"] for m in order["meta_data"] if m["key"] == TRACKING_META), [])
    latest = max(items, key=lambda item: int(item["date_shipped"]), default={})
    carrier = latest.get("tracking_provider") or latest.get("custom_tracking_provider") or None
    return (
        status,
        latest.get("tracking_number"),
        carrier,
        latest.get("custom_tracking_link") or None,
    )


def _latest_shopify_change() -> datetime:
    """The latest `updated_at` of the fake's orders (the issue's cases), as UTC."""
    return max(
        datetime.fromisoformat(o["updated_at"]) for o in shopify_cases().values()
    ).astimezone(UTC)


def _latest_woo(woo: WooCommerceServer) -> datetime:
    latest = max(o["date_modified_gmt"] for o in woo._all())
    return datetime.strptime(latest, WP_TIME)


def stored(row) -> tuple:
    return row.status, row.tracking_number, row.carrier, row.tracking_url


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+01:00")


NOW = datetime(2025, 1, 14, 9, 0, tzinfo=UTC)  # after every generated order
WP_TIME = "%Y-%m-%dT%H:%M:%S"  # WordPress's `_gmt` dates
SHOPIFY_TIME = "%Y-%m-%dT%H:%M:%S+00:00"
OVERLAP = timedelta(minutes=10)  # the bundled specs' changed_since default


def shopify_cases() -> dict[str, dict]:
    """The Shopify cases of issue 21, as orders.json returns them."""

    def order(number: int, **fields) -> dict:
        oid = 5609000000000 + number
        base = {
            "id": oid,
            "name": f"#9{number:03d}",
            "updated_at": _iso(NOW),
            "financial_status": "paid",
            "fulfillment_status": "fulfilled",
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "fulfillments": [],
        }
        return {**base, **fields}

    def parcel(number: int, k: int, **fields) -> dict:
        return shopify_fulfillment(5609000000000 + number, k, NOW - timedelta(days=3 - k), **fields)

    return {
        "latest cancelled": order(
            1,
            fulfillments=[
                parcel(1, 0, shipment_status="in_transit", tracking="LIVE1"),
                parcel(1, 1, status="cancelled", shipment_status=None, tracking="DEAD1", carrier=2),
            ],
        ),
        "delivered then in transit": order(
            2,
            fulfillments=[
                parcel(2, 0, shipment_status="delivered", tracking="FIRST2"),
                parcel(2, 1, shipment_status="in_transit", tracking="SECOND2", carrier=1),
            ],
        ),
        "partial, first delivered": order(
            3,
            fulfillment_status="partial",
            fulfillments=[parcel(3, 0, shipment_status="delivered", tracking="ONLY3")],
        ),
        "delivered then refunded": order(
            4,
            financial_status="refunded",
            fulfillments=[parcel(4, 0, shipment_status="delivered", tracking="BACK4")],
        ),
        "every parcel delivered": order(
            5,
            fulfillments=[
                parcel(5, 0, shipment_status="delivered", tracking="A5"),
                parcel(5, 1, status="failure", shipment_status=None, tracking="B5"),
                parcel(5, 2, shipment_status="delivered", tracking="C5", carrier=1),
            ],
        ),
        "tracking_numbers only": order(
            6,
            fulfillments=[
                {
                    **parcel(6, 0, shipment_status="in_transit", tracking="N6"),
                    "tracking_number": None,
                    "tracking_url": None,
                }
            ],
        ),
        "voided": order(7, financial_status="voided", fulfillment_status=None),
        "unknown financial status": order(8, financial_status="on_hold", fulfillment_status=None),
        "cancelled": order(
            9, financial_status="refunded", cancelled_at=_iso(NOW), fulfillment_status=None
        ),
    }


def woocommerce_cases() -> dict[str, dict]:
    def order(number: int, status: str, *items: dict) -> dict:
        base = catalog.woocommerce_order(0, 0)
        meta = [{"id": 14000 + number, "key": "_edit_lock", "value": "1736850000:1"}]
        if items:
            meta.append({"id": 15000 + number, "key": TRACKING_META, "value": list(items)})
        oid = 9000 + number
        modified = NOW.strftime("%Y-%m-%dT%H:%M:%S")
        return {
            **base,
            "id": oid,
            "number": str(oid),
            "status": status,
            "date_modified": modified,
            "date_modified_gmt": modified,
            "meta_data": meta,
        }

    day = int(NOW.timestamp()) - 86400 * 5
    return {
        "completed": order(1, "completed", woocommerce_tracking_item("W1", day, carrier=0)),
        "plugin delivered": order(
            2, "delivered", woocommerce_tracking_item("W2", str(day), carrier=1)
        ),
        "plugin partial-shipped": order(
            3,
            "partial-shipped",
            # added later but shipped earlier: the latest date_shipped wins, not the last item
            woocommerce_tracking_item("W3-LATE", day + 86400 * 2, carrier=2),
            woocommerce_tracking_item("W3-EARLY", day, carrier=0),
        ),
        "custom status": order(4, "awaiting-pickup"),
        "custom carrier": order(
            5,
            "completed",
            woocommerce_tracking_item("W5-OLD", day, carrier=0),
            woocommerce_tracking_item("W5", day + 86400, carrier=len(catalog.CARRIERS)),
        ),
        "on hold": order(6, "on-hold"),
        "refunded after shipping": order(
            7, "refunded", woocommerce_tracking_item("W7", day, carrier=1)
        ),
    }


@pytest.fixture
def shops(engine, start_server):
    """Both fakes with generated orders plus the issue's cases, and every order known as
    `pending` (orders come from the shop's own import; order_sync only updates them)."""
    shopify = start_server(ShopifyServer(orders=SHOP_ORDERS))
    woo = start_server(WooCommerceServer(orders=WOO_ORDERS))
    for case in shopify_cases().values():
        shopify.set_order(case)
    for case in woocommerce_cases().values():
        woo.set_order(case)
    add_integration(engine, "shop", "shopify", shopify.base_url)
    add_integration(engine, "woo", "woocommerce", woo.base_url)
    add_orders(engine, "shop", [o["id"] for o in shopify._all()])
    add_orders(engine, "woo", [o["id"] for o in woo._all()])
    return shopify, woo


def check_all(engine, shopify, woo) -> None:
    shop_rows = orders_of(engine, "shop")
    for order in shopify._all():
        assert stored(shop_rows[str(order["id"])]) == shopify_expected(order), order["name"]
    woo_rows = orders_of(engine, "woo")
    for order in woo._all():
        assert stored(woo_rows[str(order["id"])]) == woocommerce_expected(order), order["id"]


def test_every_order_follows_the_status_and_tracking_rules(engine, specs, shops):
    shopify, woo = shops
    others = [o["id"] for o in shopify._all()]
    add_orders(engine, "shop", others, user_id="user-b")  # same ids, another user
    result = sync(engine, specs, "order_sync")
    check_all(engine, shopify, woo)
    untouched = orders_of(engine, "shop", user_id="user-b").values()
    assert {r.status for r in untouched} == {"pending"} and len(untouched) == len(others)
    assert all(r.updated_at == T0 and r.last_synced_at is None for r in untouched)

    shop = {k: stored(r) for k, r in orders_of(engine, "shop").items()}
    cases = {name: str(order["id"]) for name, order in shopify_cases().items()}
    assert shop[cases["latest cancelled"]][:2] == ("shipped", "LIVE1")
    assert shop[cases["delivered then in transit"]][:3] == ("shipped", "SECOND2", "SEUR")
    assert shop[cases["partial, first delivered"]][:2] == ("processing", "ONLY3")
    assert shop[cases["delivered then refunded"]][:2] == ("refunded", "BACK4")
    assert shop[cases["every parcel delivered"]][:2] == ("delivered", "C5")
    assert shop[cases["tracking_numbers only"]][1] == "N6"
    assert shop[cases["tracking_numbers only"]][3].endswith("N6")
    assert shop[cases["voided"]][0] == "cancelled"
    assert shop[cases["unknown financial status"]][0] == "pending"

    woo_rows = {k: stored(r) for k, r in orders_of(engine, "woo").items()}
    wcases = {name: str(order["id"]) for name, order in woocommerce_cases().items()}
    assert woo_rows[wcases["completed"]] == ("shipped", "W1", "correos-express", None)
    assert woo_rows[wcases["plugin delivered"]][:3] == ("delivered", "W2", "seur")
    assert woo_rows[wcases["plugin partial-shipped"]][:3] == ("processing", "W3-LATE", "dhl")
    assert woo_rows[wcases["custom status"]][0] == "processing"
    assert woo_rows[wcases["custom carrier"]] == (
        "shipped",
        "W5",
        catalog.CUSTOM_CARRIER[0],
        catalog.CUSTOM_CARRIER[1].format("W5"),
    )

    # Unknown values get the declared default and are counted, never rejected.
    lookup = step(result, "shop", "orders")
    assert lookup["rejected"] == 0
    assert lookup["defaulted_values"] == {"status": {"on_hold": 1}}
    woo_lookup = step(result, "woo", "orders")
    assert woo_lookup["rejected"] == 0
    custom = sum(1 for o in woo._all() if o["status"] not in WOO_STATUS)
    assert woo_lookup["defaulted"] == custom and custom >= 2
    assert set(woo_lookup["defaulted_values"]["status"]) == {"awaiting-pickup"}
    assert result["totals"]["defaulted"] >= custom + 1
    with engine.connect() as conn:
        logged = conn.execute(
            select(activity_logs.c.message).where(activity_logs.c.event == "step.finished")
        ).scalars()
        notes = [m for m in logged if "unknown values given their map_default" in m]
    assert any("woocommerce/orders finished" in m and "'awaiting-pickup'" in m for m in notes)
    # One batched request per marketplace for the lookups (ids= / include=).
    assert lookup["requests"] == 1
    assert woo_lookup["requests"] == 1
    # The statuses really vary: the fakes cover every rule.
    statuses = {row[0] for row in shop.values()}
    assert statuses == {"pending", "processing", "shipped", "delivered", "cancelled", "refunded"}
    assert {row[0] for row in woo_rows.values()} >= {*statuses, "failed"}


def test_a_second_sync_rewrites_nothing_and_five_changes_rewrite_five(engine, specs, shops):
    shopify, woo = shops
    sync(engine, specs, "order_sync")
    before = {**orders_of(engine, "shop"), **orders_of(engine, "woo")}

    again = sync(engine, specs, "order_sync")
    assert again["totals"]["updated"] == 0
    assert again["totals"]["rejected"] == 0
    after = {**orders_of(engine, "shop"), **orders_of(engine, "woo")}
    assert all(after[k].updated_at == before[k].updated_at for k in before)

    # Five changes: a refund after delivery (a final order), a parcel delivered, a parcel
    # cancelled, a WooCommerce order completed with tracking, a custom carrier added.
    cases = shopify_cases()
    refund = {**cases["every parcel delivered"], "financial_status": "refunded"}
    arrived = cases["delivered then in transit"]
    arrived = {
        **arrived,
        "fulfillments": [
            arrived["fulfillments"][0],
            {**arrived["fulfillments"][1], "shipment_status": "delivered"},
        ],
    }
    dead = cases["partial, first delivered"]
    dead = {**dead, "fulfillments": [{**dead["fulfillments"][0], "status": "cancelled"}]}
    for order in (refund, arrived, dead):
        shopify.set_order({**order, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")})
    woo_latest = _latest_woo(woo)
    wcases = woocommerce_cases()
    day = int(NOW.timestamp())
    done = {**wcases["on hold"], "status": "completed"}
    done["meta_data"] = [
        *done["meta_data"],
        {"id": 16006, "key": TRACKING_META, "value": [woocommerce_tracking_item("N6", day)]},
    ]
    custom = wcases["custom status"]
    custom = {
        **custom,
        "meta_data": [
            {
                "id": 16004,
                "key": TRACKING_META,
                "value": [woocommerce_tracking_item("N4", day, carrier=len(catalog.CARRIERS))],
            }
        ],
    }
    for order in (done, custom):
        woo.set_order({**order, "date_modified_gmt": datetime.now(UTC).strftime(WP_TIME)})
    changed = {str(o["id"]) for o in (refund, arrived, dead, done, custom)}

    third = sync(engine, specs, "order_sync")
    assert third["totals"]["updated"] == 5
    # The changed lists asked from the latest change the earlier syncs saw (minus the
    # overlap): the cases, changed or not, and nothing older.
    assert step(third, "shop", "orders_changed")["changed_since"] == {
        "updated_at_min": (_latest_shopify_change() - OVERLAP).strftime(SHOPIFY_TIME)
    }
    assert step(third, "shop", "orders_changed")["fetched"] == len(shopify_cases())
    assert step(third, "woo", "orders_changed")["changed_since"] == {
        "modified_after": (woo_latest - OVERLAP).strftime(WP_TIME)
    }
    assert 2 <= step(third, "woo", "orders_changed")["fetched"] < WOO_ORDERS
    latest = {**orders_of(engine, "shop"), **orders_of(engine, "woo")}
    rewritten = {k for k in before if latest[k].updated_at != before[k].updated_at}
    assert rewritten == changed
    check_all(engine, shopify, woo)
    assert latest[str(refund["id"])].status == "refunded"  # a final order, seen again
    assert latest[str(arrived["id"])].status == "delivered"
    assert latest[str(dead["id"])].tracking_number is None  # its only parcel was cancelled


def test_final_orders_are_asked_for_only_when_changed_since_the_last_job(engine, specs, shops):
    """Through the queue: the second job's lookups skip final orders, and its changed-since
    list asks from the first job's step start (minus the overlap): only a change comes back."""
    shopify, woo = shops
    clock = SystemClock()
    queue = Queue(engine, clock=clock)
    options = WorkerOptions(schedules=False, maintenance=False)

    def run_job() -> dict:
        job_id = queue.enqueue("user-a", "order_sync").job_id
        Worker(engine, specs, clock=clock, options=options).run()
        with engine.connect() as conn:
            job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()
        assert job.status == "completed", job.errors
        return job

    first = run_job()
    assert step(first.result_data, "shop", "orders_changed")["changed_since"] == {}
    check_all(engine, shopify, woo)
    final = sum(1 for r in orders_of(engine, "shop").values() if r.status in FINAL)
    assert final >= 5

    shopify.requests.clear()
    woo.requests.clear()
    refund = {**shopify_cases()["every parcel delivered"], "financial_status": "refunded"}
    shopify.set_order({**refund, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")})
    second = run_job()
    check_all(engine, shopify, woo)
    assert orders_of(engine, "shop")[str(refund["id"])].status == "refunded"

    since = step(second.result_data, "shop", "orders_changed")["changed_since"]
    assert since == {"updated_at_min": (_latest_shopify_change() - OVERLAP).strftime(SHOPIFY_TIME)}
    listed = [r for r in shopify.requests if "ids" not in r.query]
    assert [r.query.get("updated_at_min") for r in listed] == [since["updated_at_min"]]
    assert step(second.result_data, "shop", "orders_changed")["fetched"] == len(shopify_cases())
    asked = {i for r in shopify.requests if "ids" in r.query for i in r.query["ids"].split(",")}
    open_orders = {k for k, r in orders_of(engine, "shop").items() if r.status not in FINAL}
    assert str(refund["id"]) not in asked and asked <= open_orders | {str(refund["id"])}

    woo_since = step(second.result_data, "woo", "orders_changed")["changed_since"]
    assert woo_since == {"modified_after": (_latest_woo(woo) - OVERLAP).strftime(WP_TIME)}
    assert step(second.result_data, "woo", "orders_changed")["fetched"] < WOO_ORDERS


@pytest.mark.parametrize(
    "platform, wrong",
    [
        ("shopify", "a path that is not the shop"),
        ("shopify", "another shop"),
        ("woocommerce", "no pretty permalinks"),
        ("woocommerce", "another shop"),
    ],
)
def test_a_wrong_shop_url_fails_the_job_with_a_clear_error(
    engine, specs, start_server, platform, wrong
):
    if platform == "shopify":
        server = start_server(ShopifyServer(orders=5))
        ids = [o["id"] for o in server._all()]
        if wrong == "another shop":
            server = start_server(ShopifyServer(orders=5, seed=9))
            server.changed = {o["id"] + 10**6: {**o, "id": o["id"] + 10**6} for o in server._all()}
            server.orders = 0
    else:
        server = start_server(
            WooCommerceServer(orders=5, pretty_permalinks=wrong != "no pretty permalinks")
        )
        ids = [o["id"] for o in server._all()]
        if wrong == "another shop":
            server.changed = {o["id"] + 500: {**o, "id": o["id"] + 500} for o in server._all()}
            server.orders = 0
    url = server.base_url + ("/not-the-shop" if wrong.startswith("a path") else "")
    add_integration(engine, "acct", platform, url)
    add_orders(engine, "acct", ids)

    with pytest.raises(JobFailed) as failure:
        sync(engine, specs, "order_sync")
    message = str(failure.value)
    assert "check the account's URL" in message
    expected = (
        "404" if wrong in ("no pretty permalinks", "a path that is not the shop") else "found none"
    )
    assert expected in message
    result = failure.value.result_data["accounts"]["acct"]
    assert result["status"] == "failed" and result["failed_step"] == "orders"
    assert {r.status for r in orders_of(engine, "acct").values()} == {"pending"}


def test_a_batch_with_some_ids_missing_is_fine(engine, specs, start_server):
    """An order deleted in the shop is simply not found; the others are synced."""
    server = start_server(ShopifyServer(orders=6))
    add_integration(engine, "shop", "shopify", server.base_url)
    ids = [o["id"] for o in server._all()]
    add_orders(engine, "shop", [*ids, 5601234599999])
    result = sync(engine, specs, "order_sync")
    assert step(result, "shop", "orders")["fetched"] == 6
    rows = orders_of(engine, "shop")
    assert rows["5601234599999"].status == "pending"
