"""Links between imported products and their listings on a marketplace integration
(`listing_links`): made by the spec's matching rule (by SKU), read with the values a push
sends, and marked once the marketplace accepted a value."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from runner.connector import Connector
from runner.db.engine import read_only
from runner.db.tables import imported_products, listing_links
from runner.paths import get_path
from runner.spec.model import MatchSpec, VariationsSpec

# What a push computes its values from.
_VALUES = (
    imported_products.c.stock_quantity,
    imported_products.c.cost_price,
    imported_products.c.price,
)
REMOTE_IDS = ("remote_product_id", "remote_variant_id", "inventory_item_id", "location_id")
_MATCH_FIELDS = dict(
    zip(REMOTE_IDS, ("product_id", "variant_id", "inventory_item_id", "location_id"), strict=True)
)


@dataclass
class MatchResult:
    """What one matching pass did: links made, and products it could not link (no SKU, a
    SKU the shop does not list, or lists more than once: never guessed)."""

    linked: int = 0
    unmatched: int = 0
    ambiguous: int = 0
    listed: int = 0  # listings the shop returned
    requests: int = 0
    unmatched_skus: list[str] = field(default_factory=list)  # the first 20, to show

    def as_dict(self) -> dict[str, Any]:
        return {
            "linked": self.linked,
            "unmatched": self.unmatched,
            "ambiguous": self.ambiguous,
            "listed": self.listed,
            "requests": self.requests,
            "unmatched_skus": self.unmatched_skus,
        }


def _link_join(user_id: str, integration_id: str):
    return and_(
        listing_links.c.user_id == user_id,
        listing_links.c.integration_id == integration_id,
        listing_links.c.supplier_id == imported_products.c.supplier_id,
        listing_links.c.external_id == imported_products.c.external_id,
    )


def unlinked_count(engine: Engine, user_id: str, integration_id: str) -> int:
    """The user's imported products without a link to this integration."""
    stmt = (
        select(func.count())
        .select_from(
            imported_products.outerjoin(listing_links, _link_join(user_id, integration_id))
        )
        .where(imported_products.c.user_id == user_id, listing_links.c.user_id.is_(None))
    )
    with engine.connect() as conn:
        return int(read_only(conn).execute(stmt).scalar_one())


def unlinked_products(engine: Engine, user_id: str, integration_id: str) -> list[dict[str, Any]]:
    """The user's imported products not linked to this integration, with their values."""
    stmt = (
        select(
            imported_products.c.supplier_id,
            imported_products.c.external_id,
            imported_products.c.sku,
            *_VALUES,
        )
        .select_from(
            imported_products.outerjoin(listing_links, _link_join(user_id, integration_id))
        )
        .where(imported_products.c.user_id == user_id, listing_links.c.user_id.is_(None))
    )
    with engine.connect() as conn:
        return [dict(row) for row in read_only(conn).execute(stmt).mappings()]


def remote_ids(records: Iterable[Any], match: MatchSpec) -> dict[str, list[dict[str, str | None]]]:
    """The shop's listings by SKU (stripped; empty SKUs left out): one entry per listing,
    its remote ids read by the match rule's paths."""
    by_sku: dict[str, list[dict[str, str | None]]] = {}
    if match.each:
        records = [
            entry
            for record in records
            for entry in (get_path(record, match.each) or ())
            if isinstance(entry, dict)
        ]
    variations = match.variations
    for record in records:
        if variations is not None and _has_variations(record, variations):
            continue  # its variations are the listings (`add_variations`)
        sku = get_path(record, match.sku)
        if sku is None or not str(sku).strip():
            continue
        ids: dict[str, str | None] = {}
        for column, attr in _MATCH_FIELDS.items():
            path = getattr(match, attr)
            value = get_path(record, path) if path else None
            ids[column] = None if value is None else str(value)
        if ids["remote_product_id"] is None:
            continue
        by_sku.setdefault(str(sku).strip(), []).append(ids)
    return by_sku


def _has_variations(record: Any, variations: VariationsSpec) -> bool:
    return str(get_path(record, variations.when_field)) == variations.when_value


def add_variations(
    listings: dict[str, list[dict[str, str | None]]],
    connector: Connector,
    match: MatchSpec,
    records: Iterable[Any],
    checkpoint: Callable[[], None],
) -> int:
    """Add to `listings` the variations of every record that has them (WooCommerce's
    variable products), one lookup of the spec's `variations` operation per product (its
    pages followed); each variation is linked to its product and to itself. Returns the
    variations read."""
    variations = match.variations
    assert variations is not None
    count = 0
    for record in records:
        parent = get_path(record, match.product_id)
        if parent is None or not _has_variations(record, variations):
            continue
        for page in connector.lookup(variations.operation, [str(parent)]):
            checkpoint()
            for entry in page.records:
                sku = get_path(entry, variations.sku)
                variant = get_path(entry, variations.variant_id)
                if sku is None or not str(sku).strip() or variant is None:
                    continue
                count += 1
                listings.setdefault(str(sku).strip(), []).append(
                    {
                        "remote_product_id": str(parent),
                        "remote_variant_id": str(variant),
                        "inventory_item_id": None,
                        "location_id": None,
                    }
                )
    return count


def match_by_sku(
    engine: Engine,
    user_id: str,
    integration_id: str,
    listings: dict[str, list[dict[str, str | None]]],
    now: datetime,
    *,
    save: bool = True,
) -> tuple[MatchResult, list[dict[str, Any]]]:
    """Link every unlinked product whose SKU the shop lists exactly once; return what it
    did and the new links with their products' values (saved unless `save` is False: a dry
    run)."""
    result = MatchResult(listed=sum(len(v) for v in listings.values()))
    rows: list[dict[str, Any]] = []
    for product in unlinked_products(engine, user_id, integration_id):
        sku = (product["sku"] or "").strip()
        found = listings.get(sku) if sku else None
        if not found or len(found) > 1:
            if found:
                result.ambiguous += 1
            else:
                result.unmatched += 1
            if len(result.unmatched_skus) < 20:
                result.unmatched_skus.append(sku or f"(no sku: {product['external_id']})")
            continue
        rows.append(
            {
                "user_id": user_id,
                "integration_id": integration_id,
                "supplier_id": product["supplier_id"],
                "external_id": product["external_id"],
                "sku": sku,
                **found[0],
                "matched_by": "sku",
                "created_at": now,
                "updated_at": now,
                **{column.name: product[column.name] for column in _VALUES},
            }
        )
    result.linked = len(rows)
    if save and rows:
        names = {column.name for column in _VALUES}
        with engine.begin() as conn:
            conn.execute(
                insert(listing_links),
                [{k: v for k, v in row.items() if k not in names} for row in rows],
            )
    return result, rows


def linked_products(
    engine: Engine, user_id: str, integration_id: str, batch: int = 5_000
) -> Iterator[dict[str, Any]]:
    """Every link of the integration with its product's stock and prices, in key order,
    keyset-paged (so a large shop is never held whole)."""
    columns = [
        listing_links.c.supplier_id,
        listing_links.c.external_id,
        listing_links.c.sku,
        *(listing_links.c[name] for name in REMOTE_IDS),
        listing_links.c.stock_hash,
        listing_links.c.price_hash,
        listing_links.c.stock_sending,
        listing_links.c.price_sending,
        *_VALUES,
    ]
    join = listing_links.join(
        imported_products,
        and_(
            imported_products.c.user_id == listing_links.c.user_id,
            imported_products.c.supplier_id == listing_links.c.supplier_id,
            imported_products.c.external_id == listing_links.c.external_id,
        ),
    )
    after: tuple[str, str] | None = None
    while True:
        stmt = (
            select(*columns)
            .select_from(join)
            .where(
                listing_links.c.user_id == user_id, listing_links.c.integration_id == integration_id
            )
        )
        if after is not None:
            stmt = stmt.where(
                (listing_links.c.supplier_id > after[0])
                | and_(
                    listing_links.c.supplier_id == after[0],
                    listing_links.c.external_id > after[1],
                )
            )
        stmt = stmt.order_by(listing_links.c.supplier_id, listing_links.c.external_id).limit(batch)
        with engine.connect() as conn:
            rows = [dict(row) for row in read_only(conn).execute(stmt).mappings()]
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1]["supplier_id"], rows[-1]["external_id"])


def mark_pushed(
    conn: Connection,
    user_id: str,
    integration_id: str,
    kind: str,
    accepted: Sequence[tuple[str, str, str]],
    now: datetime,
) -> None:
    """Store the hash of what the marketplace accepted, per (supplier, external id, hash),
    in one executemany inside the batch's transaction, and clear the intent: the next push
    sends these products only when they change again."""
    values = {
        f"{kind}_hash": bindparam("b_hash"),
        f"{kind}_pushed_at": now,
        f"{kind}_sending": None,
        "updated_at": now,
    }
    _update_each(conn, user_id, integration_id, values, accepted)


def mark_sending(
    conn: Connection,
    user_id: str,
    integration_id: str,
    kind: str,
    items: Sequence[tuple[str, str, str | None]],
) -> None:
    """Record, per (supplier, external id, hash), the hash a push is about to send (its
    intent, committed before the request), or clear it (None: the item was refused)."""
    _update_each(conn, user_id, integration_id, {f"{kind}_sending": bindparam("b_hash")}, items)


def settle(
    conn: Connection,
    user_id: str,
    integration_id: str,
    kind: str,
    items: Sequence[tuple[str, str, str | None]],
) -> None:
    """After a read-back: per (supplier, external id, hash of the shop's value), take that
    as the pushed hash (None: the shop has no value; the old hash stays) and clear the
    intent."""
    shop_hash = bindparam("b_hash", type_=String)
    values = {
        f"{kind}_hash": func.coalesce(shop_hash, listing_links.c[f"{kind}_hash"]),
        f"{kind}_sending": None,
    }
    _update_each(conn, user_id, integration_id, values, items)


def _update_each(
    conn: Connection,
    user_id: str,
    integration_id: str,
    values: dict[str, Any],
    items: Sequence[tuple[str, str, str | None]],
) -> None:
    """One executemany UPDATE of the links keyed (supplier, external id), `b_hash` bound
    to each item's hash."""
    if not items:
        return
    stmt = (
        update(listing_links)
        .where(_key(user_id, integration_id, bindparam("b_supplier"), bindparam("b_external")))
        .values(values)
    )
    conn.execute(stmt, [{"b_supplier": s, "b_external": e, "b_hash": h} for s, e, h in items])


def _key(user_id: Any, integration_id: Any, supplier_id: Any, external_id: Any):
    """The one link of a product to an integration (values or bind parameters)."""
    return and_(
        listing_links.c.user_id == user_id,
        listing_links.c.integration_id == integration_id,
        listing_links.c.supplier_id == supplier_id,
        listing_links.c.external_id == external_id,
    )


class NoSuchProduct(ValueError):
    """A manual link names an imported product the user does not have."""


def set_link(
    engine: Engine,
    user_id: str,
    integration_id: str,
    supplier_id: str,
    external_id: str,
    remote: dict[str, str | None],
    now: datetime,
) -> None:
    """Link one imported product to a listing by hand (`matched_by: manual`), replacing any
    link it had to this integration; its pushed hashes are cleared, so the next push sends
    its stock and price to the new listing."""
    product = and_(
        imported_products.c.user_id == user_id,
        imported_products.c.supplier_id == supplier_id,
        imported_products.c.external_id == external_id,
    )
    key = _key(user_id, integration_id, supplier_id, external_id)
    with engine.begin() as conn:
        sku = conn.execute(select(imported_products.c.sku).where(product)).first()
        if sku is None:
            raise NoSuchProduct(
                f"user {user_id!r} has no imported product {external_id!r} of supplier "
                f"{supplier_id!r}"
            )
        conn.execute(delete(listing_links).where(key))
        conn.execute(
            insert(listing_links).values(
                user_id=user_id,
                integration_id=integration_id,
                supplier_id=supplier_id,
                external_id=external_id,
                sku=sku[0],
                **{name: remote.get(name) for name in REMOTE_IDS},
                matched_by="manual",
                created_at=now,
                updated_at=now,
            )
        )


def remove_link(
    engine: Engine, user_id: str, integration_id: str, supplier_id: str, external_id: str
) -> bool:
    """Forget one link (the next push matches the product again); whether there was one."""
    with engine.begin() as conn:
        gone = conn.execute(
            delete(listing_links).where(_key(user_id, integration_id, supplier_id, external_id))
        )
    return bool(gone.rowcount)


def list_links(
    engine: Engine, user_id: str, integration_id: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The user's links (of one integration), in key order: ids, how made, when pushed."""
    stmt = select(listing_links).where(listing_links.c.user_id == user_id)
    if integration_id is not None:
        stmt = stmt.where(listing_links.c.integration_id == integration_id)
    stmt = stmt.order_by(
        listing_links.c.integration_id, listing_links.c.supplier_id, listing_links.c.external_id
    ).limit(limit)
    with engine.connect() as conn:
        return [dict(row) for row in read_only(conn).execute(stmt).mappings()]
