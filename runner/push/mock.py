"""The offline shop of a push (`--offline`, a mock integration, the demo): it lists every
imported product under its own SKU and accepts every write, counting the requests the real
API would have taken. Nothing leaves the machine."""

from __future__ import annotations

from typing import Any

from runner.spec.model import MatchSpec


class MockAnswer:
    """What `Connector.send` returns, as much as a push reads of it."""

    def __init__(self, data: Any) -> None:
        self.data = data


class MockShop:
    """Stands in for a marketplace's `Connector` in a push: `send` accepts every item."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0

    def send(self, method: str, path: str, body: Any, budget: str | None = None) -> MockAnswer:
        """Accept the write. The answer is the body itself: a batch's items sit where the
        write's `results` reads them (`wrap: update`, `results: update`), none with an error."""
        self.requests += 1
        return MockAnswer(body)

    def close(self) -> None:
        pass


def mock_listings(
    products: list[dict[str, Any]], match: MatchSpec
) -> dict[str, list[dict[str, str | None]]]:
    """Each product with a SKU, listed once: remote ids made from the SKU, those the spec's
    `match` reads (a variant and inventory item for Shopify, a product for WooCommerce)."""
    return {
        sku: [
            {
                "remote_product_id": f"mock-{sku}",
                "remote_variant_id": f"mock-{sku}" if match.variant_id else None,
                "inventory_item_id": f"mock-{sku}" if match.inventory_item_id else None,
                "location_id": "mock-location",
            }
        ]
        for sku in {(p.get("sku") or "").strip() for p in products}
        if sku
    }
