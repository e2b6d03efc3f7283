"""Local fake API servers that follow reference/supplier-apis.md (BigBuy, AliExpress IOP,
Shopify Admin REST, WooCommerce REST v3, and a generic one for the remaining auth and
pagination kinds). Pytest fixtures are in `tests.fakes.fixtures`; each server also runs
standalone, e.g. `python -m tests.fakes.bigbuy --port 8750 --products 100000`."""
