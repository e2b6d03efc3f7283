"""Feed suppliers offline: mock records from the mappings, and in the demo, on SQLite and
Postgres."""

from __future__ import annotations

from runner.demo import run_demo
from tests.feeds.support import rejects, rows, step, sync
from tests.sync.support import add_supplier

FEED_SUPPLIERS = {"grossmarkt": "catalogue", "lumen": "catalogue", "parcelo": "export"}


def test_each_feed_supplier_syncs_its_mock_records(engine, feed_specs):
    for name in FEED_SUPPLIERS:
        add_supplier(engine, f"mock-{name}", name, mode="mock")

    result = sync(engine, feed_specs)

    assert "failed" not in result
    for name, operation in FEED_SUPPLIERS.items():
        count = feed_specs.mappings[f"{name}_product"].mock.count
        done = step(result, f"mock-{name}", operation)
        assert (done["status"], done["inserted"], done["rejected"]) == ("ok", count, 0)
        assert rejects(engine, f"mock-{name}") == []
    lumen = next(iter(rows(engine, "mock-lumen").values()))
    assert lumen["image_urls"][0].startswith("https://img.lumen.example/X-")
    assert lumen["currency"] in ("EUR", "CHF")
    # the step that reads only the stock from the same feed works offline too
    stock = sync(engine, feed_specs, "inventory_update")
    assert step(stock, "mock-grossmarkt", "catalogue")["status"] == "ok"


def test_the_demo_seeds_and_syncs_feed_suppliers_added_by_yaml(db_url, feed_specs):
    lines: list[str] = []
    assert run_demo(feed_specs, db_url, echo=lines.append) is True
    table = {tuple(line.split()[:2]): line.split() for line in lines[1].splitlines()[2:]}
    for name in FEED_SUPPLIERS:
        for sync_type in ("supplier_api", "inventory_update"):
            assert table[(sync_type, name)][2] == "ok"
    assert table[("supplier_api", "grossmarkt")][3:5] == ["30", "30"]  # fetched, inserted
