"""A push: the stock or prices of linked products, to each marketplace integration of a
user, sending only what changed since the marketplace last accepted it.

Per integration: link the products not linked yet (the spec's `match`, by SKU); read every
link with its product; keep those whose value's hash differs from the one last accepted;
refuse what safety forbids (`runner.push.safety`); send the rest in batches of the write's
`batch_size` (a variation's link goes by the push's `variant_write`, batched per product),
each request spending the write's budget (`runner.push.batches`). Before each request its
intent (the hashes it sends) is committed; after each answer, in one transaction, the
accepted items' hashes are stored, the intent cleared, and the failed ones become
`sync_rejects`: a retried or resumed push sends only what the marketplace has not accepted,
and links a killed push left in doubt are read back from the shop first
(`runner.push.reconcile`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from runner.clock import Clock, SystemClock
from runner.connector import Connector
from runner.db.write import insert_activity, insert_rejects
from runner.errors import JobFailed, JobInterrupted, PermanentError, RetryLater, TransientError
from runner.push.batches import PushItem, Writes, batches, item_body, send_batch, with_body
from runner.push.links import (
    REMOTE_IDS,
    add_variations,
    linked_products,
    mark_pushed,
    mark_sending,
    match_by_sku,
    remote_ids,
    settle,
    unlinked_count,
    unlinked_products,
)
from runner.push.location import needs_location, shop_location, store_location
from runner.push.mock import MockShop, mock_listings
from runner.push.reconcile import read_back
from runner.push.safety import incomplete_suppliers, zeroing_refusal
from runner.push.values import NoValue, pushed_hash, value_of
from runner.spec.model import ConnectorSpec, SpecSet, SyncTypeSpec
from runner.sync.accounts import AccountRow, live_connector, load_accounts

log = logging.getLogger("sync_runner.push")
ITEMS_KEPT = 10_000  # dry run: items listed in the result
COUNTS = ("linked", "changed", "unchanged", "sent", "accepted", "rejected", "refused", "requests")


@dataclass(frozen=True)
class PushRequest:
    user_id: str
    sync_type: str
    account_id: str | None = None  # a marketplace integration; None: every active one
    job_id: str | None = None
    dry_run: bool = False
    offline: bool = False  # every integration pushes to runner.push.mock's offline shop


def run_push(
    engine: Engine,
    specs: SpecSet,
    request: PushRequest,
    *,
    clock: Clock | None = None,
    checkpoint: Callable[[], None] = lambda: None,
    env: Mapping[str, str] | None = None,
    on_item: Callable[[PushItem], None] | None = None,
    connector_for: Callable[[ConnectorSpec, AccountRow], Connector] | None = None,
) -> dict[str, Any]:
    """Run one push sync type for a user's integrations; return its result_data.

    Raises `JobFailed` (with the result) when an integration failed, `RetryLater` when a
    budget is spent for longer than the account may wait (what was accepted is stored)."""
    sync_type = specs.sync_types.get(request.sync_type)
    if sync_type is None or sync_type.push is None:
        pushes = ", ".join(sorted(n for n, t in specs.sync_types.items() if t.push)) or "none"
        raise PermanentError(f"{request.sync_type!r} is not a push sync type (known: {pushes})")
    push = _Push(engine, specs, sync_type, request, clock or SystemClock(), checkpoint, env)
    push.on_item = on_item
    if connector_for is not None:
        push.connector_for = connector_for
    return push.run()


class _Push:
    def __init__(
        self,
        engine: Engine,
        specs: SpecSet,
        sync_type: SyncTypeSpec,
        request: PushRequest,
        clock: Clock,
        checkpoint: Callable[[], None],
        env: Mapping[str, str] | None,
    ) -> None:
        self.engine = engine
        self.specs = specs
        self.sync_type = sync_type
        self.kind: str = sync_type.push or "stock"
        self.request = request
        self.clock = clock
        self.checkpoint = checkpoint
        self.env = os.environ if env is None else env
        self.on_item: Callable[[PushItem], None] | None = None

    def connector_for(self, spec: ConnectorSpec, account: AccountRow) -> Connector:
        from runner.budgets import BudgetStore

        return live_connector(
            spec, account, self.env, budgets=BudgetStore(self.engine, account.id, self.clock).make
        )

    def run(self) -> dict[str, Any]:
        request = self.request
        accounts = load_accounts(self.engine, request.user_id, "marketplace", request.account_id)
        results: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, Any]] = []
        for account in accounts:
            self.checkpoint()
            result = self._account(account)
            results[account.id] = result
            if result["status"] == "failed":
                errors.append(
                    {
                        "supplier_id": account.id,
                        "supplier": account.spec_name,
                        "step": request.sync_type,
                        "error": result["error"],
                        "transient": result["transient"],
                    }
                )
        totals = {name: sum(r[name] for r in results.values()) for name in COUNTS}
        result_data = {
            "sync_type": request.sync_type,
            "dry_run": request.dry_run,
            "accounts": results,
            "totals": totals,
        }
        if errors:
            message = f"{len(errors)} of {len(accounts)} integration(s) failed: " + "; ".join(
                f"{e['supplier']}: {e['error']}" for e in errors
            )
            raise JobFailed(
                message,
                errors=errors,
                result_data=result_data,
                transient=all(e["transient"] for e in errors),
            )
        return result_data

    # -- one integration ----------------------------------------------------------------------

    def _account(self, account: AccountRow) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": account.name,
            "connector": account.spec_name,
            "status": "ok",
            "reason": None,
            "error": None,
            "transient": False,
            "match": None,
            "refused_suppliers": {},
            "items": [],
            "items_omitted": 0,
            "in_doubt": 0,  # links a killed push left with an intent and no commit
            "read_back": 0,  # of those, read back from the shop
            **dict.fromkeys(COUNTS, 0),
        }
        spec = self.specs.marketplaces.get(account.spec_name)
        write_name = spec.pushes.get(self.request.sync_type) if spec else None
        skip = None
        if not account.active:
            skip = f"the integration is {account.status}"
        elif spec is None or write_name is None:
            skip = f"{account.spec_name} declares no push for {self.request.sync_type}"
        if skip:
            result.update(status="skipped", reason=skip)
            return result
        assert spec is not None and write_name is not None
        variant_name = spec.variant_pushes.get(self.request.sync_type)
        writes = Writes(spec.writes[write_name], spec.writes.get(variant_name or ""))
        offline = self.request.offline or account.mode == "mock"
        result["mode"] = "mock" if offline else "live"
        try:
            connector = MockShop(spec.name) if offline else self.connector_for(spec, account)
        except Exception as exc:  # a missing secret: this integration fails, the others go on
            return self._failed(result, account, exc)
        try:
            items = self._changes(account, spec, writes, connector, result)
            if result["status"] == "refused":
                return result
            self._send(account, writes, connector, items, result)
        except (RetryLater, JobInterrupted):
            raise
        except Exception as exc:
            return self._failed(result, account, exc)
        finally:
            result["requests"] = connector.requests
            connector.close()
            result["totals"] = _totals(result)
        return result

    def _failed(
        self, result: dict[str, Any], account: AccountRow, exc: Exception
    ) -> dict[str, Any]:
        transient = isinstance(exc, TransientError)
        message = str(exc) or type(exc).__name__
        result.update(status="failed", error=message, transient=transient)
        log.error("%s: %s failed: %s", account.label, self.request.sync_type, message)
        return result

    def _changes(
        self,
        account: AccountRow,
        spec: ConnectorSpec,
        writes: Writes,
        connector: Connector | MockShop,
        result: dict[str, Any],
    ) -> list[PushItem]:
        """Link what is unlinked, then every linked product whose value the marketplace does
        not have yet, in key order; refusals and rejects are recorded in `result`."""
        user_id = self.request.user_id
        extra: list[dict[str, Any]] = []
        if spec.match is not None and unlinked_count(self.engine, user_id, account.id):
            if isinstance(connector, MockShop):
                listings = mock_listings(
                    unlinked_products(self.engine, user_id, account.id), spec.match
                )
            else:
                records: list[Any] = []
                for page in connector.list(spec.match.operation):
                    self.checkpoint()
                    records.extend(page.records)
                listings = remote_ids(records, spec.match)
                if spec.match.variations is not None:
                    add_variations(listings, connector, spec.match, records, self.checkpoint)
            matched, rows = match_by_sku(
                self.engine,
                user_id,
                account.id,
                listings,
                self.clock.now(),
                save=not self.request.dry_run,
            )
            result["match"] = matched.as_dict()
            if self.request.dry_run:
                extra = rows  # not saved: the dry run pushes them as the real run would
        rows = list(linked_products(self.engine, user_id, account.id)) + extra
        result["linked"] = len(rows)
        refused: dict[str, str] = {}
        if self.kind == "stock":
            refused = incomplete_suppliers(self.engine, user_id, {r["supplier_id"] for r in rows})
            result["refused_suppliers"] = refused
        field_name = "stock_quantity" if self.kind == "stock" else "price"
        # The stock location: the link's, else the integration's `location_id` setting,
        # else the shop's one active location, read once and stored on the links.
        location = account.settings.get("location_id")
        location = None if location is None else str(location)
        if (
            location is None
            and any(needs_location(write) for write in writes)
            and not isinstance(connector, MockShop)
            and any(row.get("location_id") is None for row in rows)
        ):
            location = shop_location(connector, spec, account)
            result["location_id"] = location
            if not self.request.dry_run:
                store_location(self.engine, user_id, account.id, location)
        links = []
        for row in rows:
            link = {name: row.get(name) for name in REMOTE_IDS}
            link["location_id"] = link["location_id"] or location
            links.append(link)
        self._reconcile(account, writes, connector, rows, links, result)
        items: list[PushItem] = []
        rejects: list[dict[str, Any]] = []
        for row, link in zip(rows, links, strict=True):
            if row["supplier_id"] in refused:
                result["refused"] += 1
                continue
            try:
                value = value_of(self.kind, row, self.sync_type.price_rule)
            except NoValue as exc:
                rejects.append(self._reject(account, row, str(exc), None))
                continue
            digest = pushed_hash(self.kind, value, link)
            if digest == row.get(f"{self.kind}_hash"):
                result["unchanged"] += 1
                continue
            items.append(
                PushItem(
                    account.id,
                    row["supplier_id"],
                    row["external_id"],
                    row.get("sku"),
                    link,
                    field_name,
                    value,
                    digest,
                )
            )
        items.sort(key=lambda item: (item.supplier_id, item.external_id))
        result["changed"] = len(items)
        result["rejected"] += len(rejects)
        if rejects and not self.request.dry_run:
            with self.engine.begin() as conn:
                insert_rejects(conn, rejects)
        if self.kind == "stock":
            zeroed = sum(1 for item in items if item.value == 0)
            why = zeroing_refusal(zeroed, len(rows), self.sync_type.max_zero_ratio)
            if why:
                result.update(status="refused", reason=why, refused=result["refused"] + len(items))
                self._record_refusal(account, why)
        return items

    def _reconcile(
        self,
        account: AccountRow,
        writes: Writes,
        connector: Connector | MockShop,
        rows: list[dict[str, Any]],
        links: list[dict[str, Any]],
        result: dict[str, Any],
    ) -> None:
        """Settle the links a killed push left in doubt (an intent, no commit): read the
        shop's values back and take them as pushed, so that only what the shop does not
        have is sent. Without a `readback` (or offline) they are simply sent again."""
        sending = f"{self.kind}_sending"
        doubt = [i for i, row in enumerate(rows) if row.get(sending) is not None]
        result["in_doubt"] = len(doubt)
        if not doubt:
            return
        values: dict[int, Any] = {}
        for write in writes:
            mine = [i for i in doubt if writes.for_link(links[i]) is write]
            if mine and write.readback is not None and not isinstance(connector, MockShop):
                found = read_back(connector, write.readback, self.kind, [links[i] for i in mine])
                values.update(zip(mine, found, strict=True))
        settled: list[tuple[str, str, str | None]] = []
        for i in doubt:
            value = values.get(i)
            row = rows[i]
            digest = None if value is None else pushed_hash(self.kind, value, links[i])
            if digest is not None:
                row[f"{self.kind}_hash"] = digest  # what the shop has: sent only if it differs
                result["read_back"] += 1
            settled.append((row["supplier_id"], row["external_id"], digest))
        log.info(
            "%s: %d link(s) left in doubt by an interrupted %s; %d read back from the shop",
            account.label,
            len(doubt),
            self.request.sync_type,
            result["read_back"],
        )
        if not self.request.dry_run:
            with self.engine.begin() as conn:
                settle(conn, self.request.user_id, account.id, self.kind, settled)

    def _record_refusal(self, account: AccountRow, why: str) -> None:
        log.warning("%s: %s refused: %s", account.label, self.request.sync_type, why)
        if self.request.dry_run:
            return
        entry = {
            "user_id": self.request.user_id,
            "job_id": self.request.job_id,
            "supplier_id": account.id,
            "level": "warning",
            "event": "push.refused",
            "message": f"{account.label}: {self.request.sync_type} refused: {why}",
            "details": {"sync_type": self.request.sync_type},
            "created_at": self.clock.now(),
        }
        with self.engine.begin() as conn:
            insert_activity(conn, [entry])

    # -- sending ------------------------------------------------------------------------------

    def _send(
        self,
        account: AccountRow,
        writes: Writes,
        connector: Connector | MockShop,
        items: list[PushItem],
        result: dict[str, Any],
    ) -> None:
        for write, batch in batches(writes, items):
            self.checkpoint()
            bodies = [item_body(write, item) for item in batch]
            batch = [with_body(item, body) for item, body in zip(batch, bodies, strict=True)]
            if self.request.dry_run:
                for item in batch:
                    self._list(item, result)
                continue
            keys = [(item.supplier_id, item.external_id) for item in batch]
            with self.engine.begin() as conn:  # the intent, durable before the request
                mark_sending(
                    conn,
                    self.request.user_id,
                    account.id,
                    self.kind,
                    [(*key, item.hash) for key, item in zip(keys, batch, strict=True)],
                )
            answers = send_batch(write, connector, batch, bodies)
            accepted: list[tuple[str, str, str]] = []
            rejects: list[dict[str, Any]] = []
            for item, answer in zip(batch, answers, strict=True):
                if answer is None:
                    accepted.append((item.supplier_id, item.external_id, item.hash))
                else:
                    rejects.append(self._reject(account, item, answer, item.body))
            now = self.clock.now()
            with self.engine.begin() as conn:
                mark_pushed(conn, self.request.user_id, account.id, self.kind, accepted, now)
                refused = [
                    (item.supplier_id, item.external_id, None)
                    for item, answer in zip(batch, answers, strict=True)
                    if answer is not None
                ]
                mark_sending(conn, self.request.user_id, account.id, self.kind, refused)
                insert_rejects(conn, rejects)
            result["sent"] += len(batch)
            result["accepted"] += len(accepted)
            result["rejected"] += len(rejects)

    def _list(self, item: PushItem, result: dict[str, Any]) -> None:
        result["sent"] += 1
        if self.on_item is not None:
            self.on_item(item)
        if len(result["items"]) < ITEMS_KEPT:
            result["items"].append(item.as_dict())
        else:
            result["items_omitted"] += 1

    def _reject(self, account: AccountRow, row: Any, reason: str, payload: Any) -> dict[str, Any]:
        get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
        return {
            "job_id": self.request.job_id,
            "user_id": self.request.user_id,
            "supplier_id": account.id,
            "step": f"{account.spec_name}/{self.request.sync_type}",
            "external_id": get("external_id"),
            "field": "stock_quantity" if self.kind == "stock" else "price",
            "reason": reason,
            "payload": {"supplier_id": get("supplier_id"), "sku": get("sku"), "sent": payload},
            "created_at": self.clock.now(),
        }


def _totals(result: dict[str, Any]) -> dict[str, Any]:
    """The counts in the shape of a sync's (`runner.sync.report` tables): linked products
    read, items accepted as updated, unchanged, rejected (refused items included)."""
    return {
        "fetched": result["linked"],
        "inserted": 0,
        "updated": result["accepted"],
        "unchanged": result["unchanged"],
        "rejected": result["rejected"] + result["refused"],
        "seconds": 0,
    }
