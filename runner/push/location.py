"""The stock location of a Shopify-like integration, when its settings name none: read once
from the spec's `locations` operation (the shop's one active location) and stored on the
links, so that later pushes do not ask again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update

from runner.connector import Connector
from runner.db.tables import listing_links
from runner.errors import PermanentError
from runner.paths import get_path
from runner.spec.model import ConnectorSpec, WriteSpec
from runner.sync.accounts import AccountRow

OPERATION = "locations"  # the marketplace spec's operation that lists the stock locations
SETTING = "location_id"


def needs_location(write: WriteSpec) -> bool:
    """Whether the write sends a location (its item or path reads `link.location_id`)."""
    return "{link.location_id}" in write.path or "link.location_id" in write.item.values()


def shop_location(connector: Connector, spec: ConnectorSpec, account: AccountRow) -> str:
    """The id of the shop's one active location. Several active ones, or none, is a
    one-line error naming the setting that chooses: nothing is guessed."""
    fix = f"set it: sync-runner accounts set {account.id} --setting {SETTING}=<location id>"
    if OPERATION not in spec.operations:
        raise PermanentError(
            f"{account.label}: no {SETTING!r} setting, and the {spec.name} spec declares no "
            f"{OPERATION!r} operation to find it; {fix}"
        )
    records: list[Any] = []
    for page in connector.list(OPERATION):
        records.extend(page.records)
    active = [r for r in records if isinstance(r, dict) and get_path(r, "active") is not False]
    if len(active) == 1 and get_path(active[0], "id") is not None:
        return str(get_path(active[0], "id"))
    if not active:
        raise PermanentError(f"{account.label}: the shop lists no active location; {fix}")
    names = ", ".join(f"{get_path(r, 'id')} ({get_path(r, 'name')})" for r in active[:5])
    raise PermanentError(
        f"{account.label}: the shop has {len(active)} active locations ({names}) and no "
        f"{SETTING!r} setting says which one gets the stock; {fix}"
    )


def store_location(engine: Engine, user_id: str, integration_id: str, location: str) -> int:
    """Give every link of the integration without a location this one; how many."""
    stmt = (
        update(listing_links)
        .where(
            listing_links.c.user_id == user_id,
            listing_links.c.integration_id == integration_id,
            listing_links.c.location_id.is_(None),
        )
        .values(location_id=location)
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount
