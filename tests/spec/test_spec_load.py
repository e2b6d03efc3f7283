"""The loader: YAML with positions, duplicate keys, defaults, and the bundled specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.spec.load import (
    SpecIssue,
    default_mappings_dir,
    default_specs_dir,
    load_specs,
    read_document,
)
from runner.spec.model import ConnectorSpec, MappingSpec, SpecSet

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_specs_load_into_the_model():
    specs = load_specs(ROOT / "specs", ROOT / "mappings")
    assert isinstance(specs, SpecSet)
    assert set(specs.suppliers) == {"bigbuy", "aliexpress"}
    assert set(specs.marketplaces) == {"shopify", "woocommerce"}
    assert set(specs.sync_types) == {
        "supplier_api",
        "inventory_update",
        "price_update",
        "order_sync",
        "stock_push",
        "price_push",
    }
    assert specs.marketplaces["woocommerce"].pushes == {
        "stock_push": "stock_batch",
        "price_push": "price_batch",
    }
    assert specs.marketplaces["woocommerce"].writes["stock_batch"].batch_size == 100
    bigbuy = specs.suppliers["bigbuy"]
    assert isinstance(bigbuy, ConnectorSpec) and bigbuy.kind == "supplier"
    products = bigbuy.operations["products"]
    assert products.kind == "list"
    assert products.paginate is not None and products.paginate.type == "page_number"
    assert products.paginate.max_pages == 2000
    assert products.paginate.params["start"] == 0
    assert "max_pages" not in products.paginate.params
    assert bigbuy.auth.type == "bearer"
    assert bigbuy.auth.params["token"] == "{{ credentials.api_key }}"  # never resolved
    product = specs.suppliers["aliexpress"].operations["product"]
    assert product.kind == "lookup" and product.lookup.id_param == "product_id"
    step = specs.suppliers["aliexpress"].syncs["supplier_api"][0]
    assert step.operation == "product" and step.ids_from == "feed_items"
    assert specs.sync_types["inventory_update"].stale_after_seconds == 24 * 3600
    assert specs.sync_types["order_sync"].status_not_in == (
        "delivered",
        "cancelled",
        "refunded",
        "failed",
    )
    assert specs.runner.database_url == "sqlite:///sync-runner.db"
    assert specs.connector("shopify").kind == "marketplace"
    mapping = specs.mappings["shopify_order"]
    assert isinstance(mapping, MappingSpec) and mapping.key == "platform_order_id"
    assert mapping.fields[0].name == "platform_order_id" and mapping.fields[0].source == "id"
    mock_id = mapping.mock.fields[0]
    assert (mock_id.name, mock_id.generator, mock_id.params) == (
        "id",
        "sequence",
        {"start": 5601234567890, "step": 1},
    )


def test_positions_and_duplicate_keys(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b: 1\n  c: [x, y]\na: 2\n", encoding="utf-8")
    document, issues = read_document(path, "mapping")
    assert document.position(("a", "b")) == (2, 6)
    assert document.position(("a", "c", 1)) == (3, 10)
    assert document.position(("a", "c"), key=True) == (3, 3)
    assert document.position(("a", "missing", "deeper")) == (2, 3)
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.line, issue.column, issue.path) == (4, 1, "$.a")
    assert issue.message == "duplicate key 'a' (first defined on line 1)"
    assert str(issue).endswith("x.yaml:4:1: $.a: duplicate key 'a' (first defined on line 1)")


def test_dates_stay_text_and_merge_keys_work(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {p: 1, q: 2}\nuse: {<<: *b, q: 3}\nday: 2025-01-01\n")
    document, issues = read_document(path, "mapping")
    assert issues == []
    assert document.data == {"base": {"p": 1, "q": 2}, "use": {"p": 1, "q": 3}, "day": "2025-01-01"}


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("", 1, 1, "file is empty: expected a mapping"),
        ("# only a comment\n", 1, 1, "file is empty: expected a mapping"),
        ("- a\n- b\n", 1, 1, "expected a mapping at the top of the file"),
        ("a: [1, 2\n", 2, 1, "YAML error: did not find expected ',' or ']'"),
    ],
)
def test_unusable_files(tmp_path, text, line, column, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    document, issues = read_document(path, "mapping")
    assert document.data is None
    assert (issues[0].line, issues[0].column) == (line, column)
    assert issues[0].message.startswith(message)


def test_missing_directory_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError) as info:
        load_specs(tmp_path / "nope", tmp_path)
    [issue] = info.value.errors
    assert issue.message.startswith("specs directory not found")
    for place in ("--specs DIR", "$SYNC_RUNNER_SPECS", "./specs", "bundled specs"):
        assert place in issue.message


def test_without_a_local_folder_the_bundled_specs_load(monkeypatch, tmp_path):
    monkeypatch.delenv("SYNC_RUNNER_SPECS", raising=False)
    monkeypatch.delenv("SYNC_RUNNER_MAPPINGS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./specs here
    assert default_specs_dir() == ROOT / "specs"  # a checkout bundles its own specs
    specs = load_specs()
    assert {"bigbuy", "aliexpress"} <= set(specs.suppliers)
    assert "bigbuy_product" in specs.mappings


def test_default_dirs(monkeypatch, tmp_path):
    monkeypatch.delenv("SYNC_RUNNER_SPECS", raising=False)
    monkeypatch.delenv("SYNC_RUNNER_MAPPINGS", raising=False)
    assert default_specs_dir() == Path("specs")
    assert default_mappings_dir(tmp_path / "specs") == tmp_path / "mappings"
    (tmp_path / "specs" / "mappings").mkdir(parents=True)
    assert default_mappings_dir(tmp_path / "specs") == tmp_path / "specs" / "mappings"
    monkeypatch.setenv("SYNC_RUNNER_SPECS", "/x/specs")
    monkeypatch.setenv("SYNC_RUNNER_MAPPINGS", "/y/maps")
    assert default_specs_dir() == Path("/x/specs")
    assert default_mappings_dir(Path("/x/specs")) == Path("/y/maps")


def test_issue_sorts_by_location():
    a = SpecIssue("a.yaml", 3, 1, "$.x", "m")
    b = SpecIssue("a.yaml", 10, 1, "$.y", "m")
    assert sorted([b, a]) == [a, b]
