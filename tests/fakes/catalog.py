"""Deterministic fake catalogues and orders: the same (seed, index) always gives the same item.

Every item is computed from its own `random.Random(f"{kind}:{seed}:{index}")`, so a server
with a million products holds nothing in memory, any page can be produced in any order, and
the parallel BigBuy lists (products, information, images, prices, stock) agree on ids, SKUs and
prices. Prices keep cost below retail.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

ADJECTIVES = [
    "Compact",
    "Classic",
    "Premium",
    "Portable",
    "Ergonomic",
    "Smart",
    "Vintage",
    "Foldable",
    "Wireless",
    "Stainless",
    "Eco",
    "Deluxe",
    "Mini",
    "Heavy-duty",
]
NOUNS = [
    "Kettle",
    "Desk Lamp",
    "Backpack",
    "Yoga Mat",
    "Coffee Grinder",
    "Bluetooth Speaker",
    "Water Bottle",
    "Office Chair",
    "Phone Stand",
    "Blender",
    "T-Shirt",
    "Sneakers",
    "Cutting Board",
    "Plant Pot",
    "Wall Clock",
    "Headphones",
    "Toaster",
    "Umbrella",
]
MATERIALS = ["steel", "bamboo", "cotton", "glass", "aluminium", "oak", "silicone", "ceramic"]
NOUNS_ES = {
    "Kettle": "Hervidor",
    "Desk Lamp": "Lámpara de escritorio",
    "Backpack": "Mochila",
    "Yoga Mat": "Esterilla de yoga",
    "Coffee Grinder": "Molinillo de café",
    "Bluetooth Speaker": "Altavoz Bluetooth",
    "Water Bottle": "Botella de agua",
    "Office Chair": "Silla de oficina",
    "Phone Stand": "Soporte de móvil",
    "Blender": "Batidora",
    "T-Shirt": "Camiseta",
    "Sneakers": "Zapatillas",
    "Cutting Board": "Tabla de cortar",
    "Plant Pot": "Maceta",
    "Wall Clock": "Reloj de pared",
    "Headphones": "Auriculares",
    "Toaster": "Tostadora",
    "Umbrella": "Paraguas",
}
TAXONOMIES = [2399, 2400, 2401, 2402]
EPOCH = datetime(2025, 1, 14, 6, 0, 0, tzinfo=UTC)


def rng(kind: str, seed: int, index: int) -> random.Random:
    return random.Random(f"{kind}:{seed}:{index}")


def _name(r: random.Random, iso: str = "en") -> tuple[str, str, str]:
    adjective, noun, material = r.choice(ADJECTIVES), r.choice(NOUNS), r.choice(MATERIALS)
    if iso == "es":
        return f"{NOUNS_ES[noun]} {adjective.lower()} de {material}", noun, material
    return f"{adjective} {noun} ({material})", noun, material


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------------------------
# BigBuy: parallel lists sharing the product id


def bigbuy_id(index: int) -> int:
    return 400001 + index


def bigbuy_product(seed: int, index: int) -> dict:
    r = rng("bigbuy", seed, index)
    wholesale = round(r.uniform(2.0, 250.0), 2)
    retail = round(wholesale * r.uniform(1.35, 2.4), 2)
    added = EPOCH - timedelta(days=r.randint(30, 900), seconds=r.randint(0, 86399))
    updated = EPOCH - timedelta(seconds=r.randint(0, 86400 * 20))
    parent = TAXONOMIES[index % len(TAXONOMIES)]
    return {
        "id": bigbuy_id(index),
        "sku": f"S{7100000 + index * 3 + seed % 3:07d}",
        "active": 1,
        "attributes": False,
        "categories": True,
        "images": True,
        "tags": False,
        "category": 2600 + r.randint(0, 40),
        "taxonomy": parent * 10 + r.randint(1, 9),
        "condition": "NEW",
        "dateAdd": _stamp(added),
        "dateUpd": _stamp(updated),
        "dateUpdDescription": _stamp(added),
        "dateUpdImages": _stamp(added),
        "dateUpdStock": _stamp(updated),
        "dateUpdCategories": None,
        "dateUpdProperties": None,
        "width": round(r.uniform(2, 60), 1),
        "height": round(r.uniform(2, 60), 1),
        "depth": round(r.uniform(2, 60), 1),
        "weight": round(r.uniform(0.05, 12), 2),
        "ean13": f"84{r.randrange(10**10, 10**11):011d}",
        "partNumber": f"PN-{r.randint(100, 999)}",
        "manufacturer": r.randint(900, 1300),
        "intrastat": "85165000",
        "logisticClass": r.choice("ABC"),
        "wholesalePrice": wholesale,
        "retailPrice": retail,
        "inShopsPrice": round(retail * 0.92, 2),
        "canon": None,
        "taxId": 1,
        "taxRate": 21,
        "priceLargeQuantities": [],
        "video": "0",
    }


def bigbuy_parent_taxonomy(index: int) -> int:
    return TAXONOMIES[index % len(TAXONOMIES)]


def bigbuy_information(seed: int, index: int, iso: str = "en") -> dict:
    product = bigbuy_product(seed, index)
    name, _, material = _name(rng("bigbuy-name", seed, index), iso)
    slug = name.lower().replace(" ", "-").replace("(", "").replace(")", "")
    return {
        "id": product["id"],
        "sku": product["sku"],
        "name": name,
        "isoCode": iso,
        "description": f"<p>{name}. Made of {material}.</p>",
        "url": f"https://www.bigbuy.eu/{iso}/{slug}.html",
        "dateUpdDescription": product["dateUpdDescription"],
    }


def bigbuy_images(seed: int, index: int) -> dict:
    product = bigbuy_product(seed, index)
    r = rng("bigbuy-images", seed, index)
    images = []
    for n in range(1, r.randint(1, 4) + 1):
        images.append(
            {
                "id": product["id"] * 10 + n,
                "isCover": n == 1,
                "name": f"{product['sku']}_{n}",
                "url": f"https://cdnbigbuy.com/images/{product['sku']}_{n}.jpg",
                "logo": False,
                "whiteBackground": n == 1,
                "position": n,
                "energyEfficiency": 0,
                "icon": 0,
                "marketingPhoto": int(n == 2),
                "packagingPhoto": 0,
                "brand": 0,
                "gpsrLabel": False,
                "gpsrWarning": False,
            }
        )
    return {"id": product["id"], "images": images}


def bigbuy_prices(seed: int, index: int) -> dict:
    p = bigbuy_product(seed, index)
    return {
        "id": p["id"],
        "sku": p["sku"],
        "wholesalePrice": p["wholesalePrice"],
        "retailPrice": p["retailPrice"],
        "inShopsPrice": p["inShopsPrice"],
    }


def bigbuy_stock(seed: int, index: int) -> dict:
    p = bigbuy_product(seed, index)
    r = rng("bigbuy-stock", seed, index)
    stocks = []
    for warehouse in r.sample([1, 3, 5], r.choice([0, 1, 1, 2, 2, 3])):
        low = r.randint(0, 3)
        stocks.append(
            {
                "quantity": r.randint(0, 400),
                "minHandlingDays": low,
                "maxHandlingDays": low + r.randint(1, 3),
                "warehouse": warehouse,
            }
        )
    return {"id": p["id"], "sku": p["sku"], "stocks": sorted(stocks, key=lambda s: s["warehouse"])}


# ---------------------------------------------------------------------------------------------
# AliExpress DS


def aliexpress_id(index: int) -> int:
    return 1005006000000000 + index * 1013


def aliexpress_index(product_id: int, size: int) -> int | None:
    offset = product_id - 1005006000000000
    if offset < 0 or offset % 1013:
        return None
    index = offset // 1013
    return index if index < size else None


def aliexpress_product(seed: int, index: int, currency: str = "EUR", country: str = "ES") -> dict:
    """`result` of aliexpress.ds.product.get, non-simplified (list wrappers kept)."""
    r = rng("aliexpress", seed, index)
    title, noun, _ = _name(r)
    product_id = aliexpress_id(index)
    base_price = round(r.uniform(1.5, 120.0), 2)
    skus = []
    colors = r.sample(
        [("175", "Black"), ("193", "Silver"), ("29", "White"), ("10", "Red")], r.randint(1, 3)
    )
    for n, (value_id, color) in enumerate(colors, start=1):
        list_price = round(base_price * r.uniform(1.0, 1.1), 2)
        sale = round(list_price * r.uniform(0.55, 0.9), 2)
        stock = r.choice([0, r.randint(1, 999)])
        skus.append(
            {
                "sku_id": str(12000036000000000 + index * 10 + n),
                "sku_attr": f"14:{value_id}#{color}",
                "id": f"14:{value_id}#{color}",
                "sku_price": f"{list_price:.2f}",
                "offer_sale_price": f"{sale:.2f}",
                "offer_bulk_sale_price": f"{sale * 0.95:.2f}",
                "sku_bulk_order": 5,
                # loose types, as the real API: numbers sometimes arrive as strings
                "sku_available_stock": stock if n % 2 else str(stock),
                "currency_code": currency,
                "price_include_tax": False,
                "ae_sku_property_dtos": {
                    "ae_sku_property_d_t_o": [
                        {
                            "sku_property_id": 14,
                            "sku_property_name": "Color",
                            "sku_property_value": color.lower(),
                            "property_value_id": int(value_id),
                            "property_value_definition_name": color,
                            "sku_image": f"https://ae01.alicdn.com/kf/S{product_id}{n}.jpg",
                        }
                    ]
                },
            }
        )
    images = ";".join(
        f"https://ae01.alicdn.com/kf/S{product_id}_{n}.jpg" for n in range(1, r.randint(2, 5))
    )
    return {
        "ae_item_base_info_dto": {
            "product_id": product_id,
            "subject": title,
            "category_id": 100000300 + r.randint(0, 99),
            "currency_code": currency,
            "product_status_type": "onSelling",
            "avg_evaluation_rating": f"{r.uniform(3.8, 5.0):.1f}",
            "evaluation_count": str(r.randint(0, 5000)),
            "sales_count": f"{r.randint(1, 9)}00+",
            "gmt_create": "2023-06-02 01:12:09",
            "gmt_modified": "2025-01-10 19:40:00",
            "detail": f"<div><p>{title}</p></div>",
            "mobile_detail": '{"version":"2.0.0"}',
        },
        "ae_multimedia_info_dto": {"image_urls": images},
        "ae_item_sku_info_dtos": {"ae_item_sku_info_d_t_o": skus},
        "package_info_dto": {
            "package_length": r.randint(5, 40),
            "package_width": r.randint(5, 40),
            "package_height": r.randint(2, 30),
            "gross_weight": f"{r.uniform(0.05, 5):.3f}",
            "package_type": False,
            "product_unit": 100000015,
        },
        "logistics_info_dto": {"delivery_time": r.randint(5, 20), "ship_to_country": country},
        "ae_store_info": {
            "store_id": 1102345678 + index % 50,
            "store_name": f"{noun} Official Store",
            "store_country_code": "CN",
            "item_as_described_rating": "4.8",
            "communication_rating": "4.8",
            "shipping_speed_rating": "4.7",
        },
    }


# ---------------------------------------------------------------------------------------------
# Marketplace orders


def _offset_time(when: datetime) -> str:
    return (when + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")


def shopify_id(index: int) -> int:
    return 5601234567890 + index


# Carriers as Shopify and the Shipment Tracking plugins name them, with their tracking URLs.
CARRIERS = (
    ("Correos Express", "correos-express", "https://s.correosexpress.com/c?n={}"),
    ("SEUR", "seur", "https://www.seur.com/livetracking/?segOnlineIdentificador={}"),
    ("DHL Parcel", "dhl", "https://www.dhl.com/es-es/home/tracking.html?tracking-id={}"),
)
SHIPMENT_STATUSES = (
    None, "confirmed", "in_transit", "in_transit", "out_for_delivery", "delivered", "delivered",
    "delivered", "failure",
)  # fmt: skip


def shopify_fulfillment(
    order_id: int,
    number: int,
    when: datetime,
    *,
    status: str = "success",
    shipment_status: str | None = "in_transit",
    carrier: int = 0,
    tracking: str | None = None,
) -> dict:
    """One fulfillment (one parcel) as the Admin REST API returns it."""
    company, _, url = CARRIERS[carrier % len(CARRIERS)]
    tracking = tracking if tracking is not None else f"CX{order_id % 10**9:09d}{number}ES"
    return {
        "id": 4801234560000 + (order_id % 10**6) * 10 + number,
        "order_id": order_id,
        "status": status,
        "created_at": _offset_time(when),
        "updated_at": _offset_time(when),
        "service": "manual",
        "shipment_status": shipment_status,
        "tracking_company": company,
        "tracking_number": tracking,
        "tracking_numbers": [tracking],
        "tracking_url": url.format(tracking),
        "tracking_urls": [url.format(tracking)],
        "line_items": [],
    }


def shopify_order(seed: int, index: int) -> dict:
    """An order as `orders.json` returns it: one fulfillment per parcel, oldest first; a
    parcel may be cancelled (a wrong label), and an order may be only partly fulfilled."""
    r = rng("shopify", seed, index)
    order_id = shopify_id(index)
    updated = EPOCH - timedelta(seconds=index * 3600 + r.randint(0, 3000))
    cancelled = r.random() < 0.1
    if cancelled:
        financial = r.choice(["refunded", "refunded", "voided"])
    else:
        financial = r.choice(
            ["paid", "paid", "paid", "pending", "authorized", "partially_refunded", "refunded"]
        )
    fulfillments = []
    parcels = (
        0 if cancelled or financial in ("pending", "authorized") else r.choice([0, 1, 1, 2, 3])
    )
    for number in range(parcels):
        status = "cancelled" if r.random() < 0.2 else "success"
        fulfillments.append(
            shopify_fulfillment(
                order_id,
                number,
                updated - timedelta(hours=parcels - number),
                status=status,
                shipment_status=r.choice(SHIPMENT_STATUSES),
                carrier=r.randrange(len(CARRIERS)),
            )
        )
    live = [f for f in fulfillments if f["status"] == "success"]
    fulfillment = ("fulfilled" if r.random() < 0.7 else "partial") if live else None
    return {
        "id": order_id,
        "name": f"#{1001 + index}",
        "updated_at": _offset_time(updated),
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "cancelled_at": _offset_time(updated) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "closed_at": _offset_time(updated)
        if fulfillment == "fulfilled" and r.random() < 0.5
        else None,
        "fulfillments": fulfillments,
    }


def woocommerce_id(index: int) -> int:
    return 727 + index


# Core statuses, the Advanced Shipment Tracking plugin's two, and a shop's custom status.
WOOCOMMERCE_STATUSES = (
    "processing", "processing", "completed", "completed", "on-hold", "pending", "cancelled",
    "refunded", "failed", "delivered", "partial-shipped", "awaiting-pickup",
)  # fmt: skip
TRACKING_META = "_wc_shipment_tracking_items"
CUSTOM_CARRIER = ("Mensajería Local", "https://track.mensajeria.example/?n={}")


def woocommerce_tracking_item(
    number: str, shipped: int | str, *, carrier: int = 0, tracking_id: str = "t0"
) -> dict:
    """One item of `_wc_shipment_tracking_items`: a known provider by its slug (the plugin
    builds the link itself, `custom_tracking_link` stays empty), or, for `carrier` past the
    known ones, a custom provider by name with its own link."""
    if carrier < len(CARRIERS):
        provider, custom, link = CARRIERS[carrier][1], "", ""
    else:
        provider, custom, link = "", CUSTOM_CARRIER[0], CUSTOM_CARRIER[1].format(number)
    return {
        "tracking_provider": provider,
        "custom_tracking_provider": custom,
        "custom_tracking_link": link,
        "tracking_number": number,
        "date_shipped": shipped,
        "tracking_id": tracking_id,
    }


def woocommerce_order(seed: int, index: int) -> dict:
    r = rng("woocommerce", seed, index)
    created = EPOCH - timedelta(seconds=index * 5400 + r.randint(0, 3000))
    modified = created + timedelta(seconds=r.randint(0, 86400))
    status = r.choice(WOOCOMMERCE_STATUSES)
    name, _, _ = _name(rng("woocommerce-item", seed, index))
    price = round(r.uniform(5, 150), 2)
    tax = round(price * 0.21, 2)
    shipping = r.choice([0.0, 4.95])
    meta = []
    if status in ("completed", "delivered", "partial-shipped", "refunded"):
        parcels = r.choice([1, 1, 1, 2])
        items = [
            woocommerce_tracking_item(
                f"CX{r.randint(10**8, 10**9 - 1)}ES",
                # the plugins store it as wc_clean(strtotime(...)): epoch seconds as text
                str(int(modified.timestamp()) - 86400 * (parcels - number)),
                carrier=r.randrange(len(CARRIERS) + 1),
                tracking_id=f"{r.getrandbits(40):010x}",
            )
            for number in range(parcels)
        ]
        r.shuffle(items)  # the plugin keeps them in the order they were added, not by date
        meta.append({"id": 13000 + index, "key": TRACKING_META, "value": items})

    def local(when: datetime | None) -> str | None:
        return None if when is None else (when + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")

    def gmt(when: datetime | None) -> str | None:
        return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%S")

    completed = modified if status in ("completed", "delivered") else None
    return {
        "id": woocommerce_id(index),
        "parent_id": 0,
        "number": str(woocommerce_id(index)),
        "order_key": f"wc_order_{r.getrandbits(44):011x}",
        "created_via": "checkout",
        "version": "9.5.1",
        "status": status,
        "currency": "EUR",
        "date_created": local(created),
        "date_created_gmt": gmt(created),
        "date_modified": local(modified),
        "date_modified_gmt": gmt(modified),
        "date_paid": local(created),
        "date_paid_gmt": gmt(created),
        "date_completed": local(completed),
        "date_completed_gmt": gmt(completed),
        "discount_total": "0.00",
        "shipping_total": f"{shipping:.2f}",
        "total": f"{price + tax + shipping:.2f}",
        "total_tax": f"{tax:.2f}",
        "customer_id": r.randint(0, 50),
        "payment_method": "stripe",
        "payment_method_title": "Credit card",
        "transaction_id": f"pi_{r.getrandbits(32):x}",
        "billing": {
            "first_name": "Ana",
            "last_name": "López",
            "email": "ana@example.com",
            "country": "ES",
        },
        "shipping": {
            "first_name": "Ana",
            "last_name": "López",
            "address_1": "Calle Mayor 1",
            "city": "Valencia",
            "state": "V",
            "postcode": "46001",
            "country": "ES",
        },
        "line_items": [
            {
                "id": 315 + index,
                "name": name,
                "product_id": 93,
                "variation_id": 0,
                "quantity": 1,
                "sku": f"S{7100000 + index:07d}",
                "subtotal": f"{price:.2f}",
                "total": f"{price:.2f}",
                "total_tax": f"{tax:.2f}",
                "price": price,
            }
        ],
        "meta_data": meta,
    }
