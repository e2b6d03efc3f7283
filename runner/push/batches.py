"""The items of a push in requests: what one item sends (`PushItem`), the write each link
goes by (`Writes`), the batches (grouped by write and request path, `batch_size` at a time),
each item's body, and one batch sent with the marketplace's answer read per item."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from runner.connector import Connector
from runner.errors import PermanentError
from runner.http.client import HttpStatusError
from runner.paths import get_path
from runner.push.mock import MockShop
from runner.spec.model import WriteSpec

_PATH_FIELD = re.compile(r"\{link\.([a-z_]+)\}")


@dataclass(frozen=True)
class PushItem:
    """One product's value bound for one listing: what a dry run lists, what a run sends."""

    integration: str
    supplier_id: str
    external_id: str
    sku: str | None
    link: dict[str, str | None]
    field: str
    value: Any
    hash: str
    body: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "supplier_id": self.supplier_id,
            "external_id": self.external_id,
            "sku": self.sku,
            "field": self.field,
            "value": self.value,
            "body": self.body,
        }


@dataclass(frozen=True)
class Writes:
    """The writes of one push: `main` for every link, or `variant` (when the spec declares
    one) for the links to a variation (WooCommerce's variations batch)."""

    main: WriteSpec
    variant: WriteSpec | None = None

    def for_link(self, link: Mapping[str, Any]) -> WriteSpec:
        if self.variant is not None and link.get("remote_variant_id") is not None:
            return self.variant
        return self.main

    def __iter__(self) -> Iterator[WriteSpec]:
        yield self.main
        if self.variant is not None:
            yield self.variant


def batches(writes: Writes, items: list[PushItem]) -> Iterator[tuple[WriteSpec, list[PushItem]]]:
    """The items in requests: grouped by write and by the request path (a variations batch
    holds one product's), in key order within a group, `batch_size` at a time."""
    groups: dict[tuple[str, str], list[PushItem]] = {}
    for item in items:
        write = writes.for_link(item.link)
        groups.setdefault((write.name, write_path(write, item)), []).append(item)
    by_name = {write.name: write for write in writes}
    for (name, _), group in groups.items():
        size = max(1, by_name[name].batch_size)
        for start in range(0, len(group), size):
            yield by_name[name], group[start : start + size]


def write_path(write: WriteSpec, item: PushItem) -> str:
    """The write's path with the item's link ids filled in."""
    return _PATH_FIELD.sub(lambda m: str(item.link.get(m.group(1)) or ""), write.path)


def item_body(write: WriteSpec, item: PushItem) -> dict[str, Any]:
    link: dict[str, Any] = dict(item.link)
    if write.ids_as == "integer":
        link = {k: int(v) if v is not None and v.isdigit() else v for k, v in link.items()}
    context = {"link": {**link, "sku": item.sku}, "value": item.value}
    return {name: get_path(context, path) for name, path in write.item.items()}


def with_body(item: PushItem, body: dict[str, Any]) -> PushItem:
    return replace(item, body=body)


def send_batch(
    write: WriteSpec,
    connector: Connector | MockShop,
    batch: list[PushItem],
    bodies: list[dict],
) -> list[str | None]:
    """Send one batch; per item, None when the marketplace accepted it, else why not."""
    path = write_path(write, batch[0])
    if write.batch_size > 1:
        body: Any = {write.wrap: bodies} if write.wrap else bodies
    else:
        body = {write.wrap: bodies[0]} if write.wrap else bodies[0]
    try:
        response = connector.send(write.method, path, body, write.budget)
    except HttpStatusError as exc:
        # One item a request: a 4xx other than auth and rate limits is that item's error.
        if write.batch_size == 1 and 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
            return [f"HTTP {exc.status}: {exc}"]
        raise
    if write.results is None:
        return [None] * len(batch)
    answers = get_path(response.data, write.results)
    if not isinstance(answers, list):
        raise PermanentError(
            f"{connector.name}: {write.name}: the answer has no list at {write.results!r}; "
            "nothing of this batch is marked as pushed"
        )
    out: list[str | None] = []
    for index in range(len(batch)):
        if index >= len(answers):
            out.append("the marketplace's answer has no entry for this item")
            continue
        answer = answers[index]
        if get_path(answer, write.error) is None:
            out.append(None)
            continue
        code = get_path(answer, write.error_code)
        message = get_path(answer, write.error_message)
        out.append(": ".join(str(part) for part in (code, message) if part) or "error")
    return out
