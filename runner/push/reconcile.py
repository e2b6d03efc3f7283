"""Links left in doubt by a push that died between a request and its commit: their intent
(`<kind>_sending`) is set, their answer unknown. Before sending anything, a push reads the
shop's values of those links back (the write's `readback` lookup) and takes what the shop
has as pushed, so it sends only what the shop does not already have: exactly once, even
across a SIGKILL."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from runner.connector import Connector
from runner.paths import get_path
from runner.push.values import CENT
from runner.spec.model import ReadbackSpec


def shop_value(kind: str, value: Any) -> Any:
    """The shop's value in the form a push sends it (an int stock, a two-decimal price
    string), or None when it has none that could match."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    try:
        if kind == "stock":
            return int(Decimal(str(value)))
        return str(Decimal(str(value)).quantize(CENT))
    except (InvalidOperation, ValueError):
        return None


def read_back(
    connector: Connector, readback: ReadbackSpec, kind: str, links: list[dict[str, Any]]
) -> list[Any]:
    """Per link (in order), the shop's current value (`shop_value`), None when the shop
    does not list it. One lookup request per `lookup.batch_size` ids."""
    key_of = readback.key_of or readback.ids
    ids = sorted({str(link[readback.ids]) for link in links if link.get(readback.ids)})
    found: dict[tuple[str, str | None], Any] = {}
    for page in connector.lookup(readback.operation, ids):
        for record in page.records:
            entries = (get_path(record, readback.each) or []) if readback.each else [record]
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                location = get_path(entry, readback.location) if readback.location else None
                key = (str(get_path(entry, readback.key)), _text(location))
                found[key] = shop_value(kind, get_path(entry, readback.value))
    return [
        found.get(
            (str(link.get(key_of)), _text(link.get("location_id")) if readback.location else None)
        )
        for link in links
    ]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
