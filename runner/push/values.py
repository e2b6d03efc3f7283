"""What a push sends for one linked product: its stock, or its price by the declared rule,
and the hash that tells whether the marketplace already has it."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal
from typing import Any

import xxhash

from runner.spec.model import PriceRuleSpec

CENT = Decimal("0.01")


class NoValue(ValueError):
    """A product a push cannot send (no stock known, no cost price): a reject, its reason
    the message."""


def shop_price(cost_price: Any, rule: PriceRuleSpec) -> Decimal:
    """`cost_price` plus the rule's margin, raised to the next price ending in `ending`
    (12.30 with 0.99 -> 12.99; 12.99 stays), never below `floor`; two decimals."""
    if cost_price is None:
        raise NoValue("no cost_price to price from")
    cost = Decimal(str(cost_price))
    if not cost.is_finite() or cost <= 0:
        raise NoValue(f"cost_price {cost} is not a positive amount")
    price = (cost * (1 + Decimal(str(rule.margin_pct)) / 100)).quantize(CENT, ROUND_CEILING)
    if rule.ending is not None:
        ending = Decimal(str(rule.ending)).quantize(CENT)
        whole = Decimal(math.floor(price - ending)) if price > ending else Decimal(0)
        candidate = whole + ending
        price = candidate if candidate >= price else candidate + 1
    if rule.floor is not None:
        price = max(price, Decimal(str(rule.floor)).quantize(CENT))
    return price


def value_of(kind: str, product: dict[str, Any], rule: PriceRuleSpec | None) -> Any:
    """The value a push of `kind` (stock, price) sends for `product` (an imported row).

    Stock goes out as an integer (a negative one as 0); a price as a string with two
    decimals, as the shops' APIs take it."""
    if kind == "stock":
        stock = product.get("stock_quantity")
        if stock is None:
            raise NoValue("no stock_quantity known")
        return max(int(stock), 0)
    if rule is None:
        raise NoValue("the sync type declares no price_rule")
    return str(shop_price(product.get("cost_price"), rule))


def pushed_hash(kind: str, value: Any, link: dict[str, Any]) -> str:
    """The hash stored once the marketplace accepted `value`: of the value and the remote
    ids it went to, so that a product linked to another listing is sent again."""
    text = "\x1f".join(
        str(part)
        for part in (
            kind,
            value,
            link.get("remote_product_id"),
            link.get("remote_variant_id"),
            link.get("inventory_item_id"),
            link.get("location_id"),
        )
    )
    return xxhash.xxh3_128_hexdigest(text.encode())
