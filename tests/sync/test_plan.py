"""The step planner: pure, typed plans from the bundled specs, and the errors `validate` shares."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner.mapping import SOURCE_HASH_COLUMN
from runner.spec.load import read_documents
from runner.spec.validate import check_plans
from runner.sync.plan import PlanError, plan_steps

ROOT = Path(__file__).resolve().parents[2]


def test_bigbuy_supplier_api_is_one_upsert_then_updates(specs):
    plans = plan_steps(specs, specs.sync_types["supplier_api"], specs.suppliers["bigbuy"])
    assert [p.name for p in plans] == ["products", "information", "images", "stock"]
    first, *others = plans
    assert (first.upsert, first.lookup, first.source_filter, first.complete) == (
        True,
        False,
        True,
        True,
    )
    assert first.written_columns == (*first.columns, SOURCE_HASH_COLUMN)
    assert "external_id" not in first.columns
    assert all(not p.upsert and not p.source_filter and not p.complete for p in others)
    assert all(p.written_columns == p.columns for p in others)
    assert others[1].columns == ("image_urls",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.upsert = False  # type: ignore[misc]


def test_a_step_narrowed_by_fields_writes_only_those(specs):
    (plan,) = plan_steps(specs, specs.sync_types["price_update"], specs.suppliers["aliexpress"])
    assert (plan.upsert, plan.lookup, plan.complete) == (False, True, False)
    assert set(plan.columns) == {"price", "cost_price", "currency"}
    # A lookup fed by a list is a complete listing when it creates rows.
    (full,) = plan_steps(specs, specs.sync_types["supplier_api"], specs.suppliers["aliexpress"])
    assert (full.upsert, full.lookup, full.source_filter, full.complete) == (
        True,
        True,
        False,
        True,
    )


def test_no_steps_is_an_empty_plan(specs):
    assert plan_steps(specs, specs.sync_types["order_sync"], specs.suppliers["bigbuy"]) == ()


def test_a_step_without_a_usable_mapping_is_a_plan_error(specs):
    bigbuy = specs.suppliers["bigbuy"]
    images = dataclasses.replace(bigbuy.operations["images"], mapping=None)
    broken = dataclasses.replace(bigbuy, operations={**bigbuy.operations, "images": images})
    with pytest.raises(PlanError, match=r"bigbuy\.images: no mapping") as raised:
        plan_steps(specs, specs.sync_types["supplier_api"], broken)
    assert (raised.value.index, raised.value.name) == (2, "images")

    orders = dataclasses.replace(images, mapping="shopify_order")
    wrong = dataclasses.replace(bigbuy, operations={**bigbuy.operations, "images": orders})
    with pytest.raises(PlanError, match="mapping shopify_order writes orders, but supplier_api"):
        plan_steps(specs, specs.sync_types["supplier_api"], wrong)


def test_validate_reports_what_the_planner_refuses_at_the_step():
    docs, issues = read_documents(ROOT / "specs", ROOT / "mappings")
    assert issues == [] and check_plans(docs) == []
    bigbuy = next(d for d in docs.suppliers if d.stem == "bigbuy")
    del bigbuy.data["operations"]["images"]["mapping"]
    (issue,) = check_plans(docs)
    assert issue.file.endswith("bigbuy.yaml") and issue.path == "$.syncs.supplier_api[2]"
    assert issue.line > 1 and "bigbuy.images: no mapping" in issue.message
