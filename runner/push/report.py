"""How a push shows itself: one line per item a dry run would send, one per integration."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runner.push.batches import PushItem


def format_item(item: PushItem) -> str:
    """`> SKU-5 (sup-1/p00005): stock_quantity 505  {"id":1005,"stock_quantity":505}`"""
    body = json.dumps(item.body, separators=(",", ":"), default=str)
    return (
        f"> {item.sku or '-'} ({item.supplier_id}/{item.external_id}): "
        f"{item.field} {item.value}  {body}"
    )


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """One line per integration: what was linked, sent, accepted, rejected and refused."""
    lines = []
    for account in result.get("accounts", {}).values():
        match = account.get("match") or {}
        head = f"{account['connector']} ({account['name']}): {account['status']}"
        counts = (
            f"linked {account['linked']} (new {match.get('linked', 0)}, unmatched "
            f"{match.get('unmatched', 0) + match.get('ambiguous', 0)}), changed "
            f"{account['changed']}, sent {account['sent']}, accepted {account['accepted']}, "
            f"rejected {account['rejected']}, refused {account['refused']}, "
            f"requests {account['requests']}"
        )
        why = account.get("reason") or account.get("error")
        lines.append(f"{head}: {counts}" + (f"; {why}" if why else ""))
        for supplier, reason in (account.get("refused_suppliers") or {}).items():
            lines.append(f"  stock of supplier {supplier} not pushed: {reason}")
    return lines
