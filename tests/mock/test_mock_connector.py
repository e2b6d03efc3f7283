"""The offline connector: the Connector interface over generated records."""

from __future__ import annotations

import inspect
from functools import cache

import pytest

from runner.connector import Connector, Page
from runner.mapping import compile_mapping
from runner.mock import MockConnector, mock_ids, mock_records
from runner.spec.load import load_specs
from runner.spec.model import SpecSet


@cache
def specs() -> SpecSet:
    return load_specs()


def connector(name: str, **options) -> MockConnector:
    return MockConnector(specs().connector(name), specs(), **options)


def test_it_offers_the_connector_interface():
    for name in ("list", "lookup", "id_of", "close", "__enter__", "__exit__"):
        real = inspect.signature(getattr(Connector, name))
        mock = inspect.signature(getattr(MockConnector, name))
        assert list(real.parameters) == list(mock.parameters), name
    assert isinstance(inspect.getattr_static(MockConnector, "requests"), property)


def test_list_pages_through_the_mapping_records():
    with connector("bigbuy", seed=2, page_size=15) as bigbuy:
        pages = list(bigbuy.list("products"))
        assert bigbuy.requests == 3
    assert all(isinstance(page, Page) for page in pages)
    assert [len(page.records) for page in pages] == [15, 15, 10]  # mock.count = 40
    assert all(
        page.requests == 1 and page.url.startswith("mock://bigbuy/products") for page in pages
    )
    records = [r for page in pages for r in page.records]
    assert records == list(mock_records(specs().mappings["bigbuy_product"], seed=2))


def test_count_overrides_the_mock_count():
    pages = list(connector("woocommerce", page_size=100, count=250).list("orders"))
    assert [len(p.records) for p in pages] == [100, 100, 50]


def test_every_bigbuy_step_joins_on_the_same_ids():
    bigbuy = connector("bigbuy", seed=9)
    ids = None
    for step in specs().suppliers["bigbuy"].syncs["supplier_api"]:
        got = [
            bigbuy.id_of(step.operation, r) for p in bigbuy.list(step.operation) for r in p.records
        ]
        ids = ids or got
        assert got == ids, step.operation
    assert ids == mock_ids(specs().mappings["bigbuy_product"], seed=9)


def test_an_id_feed_serves_the_ids_of_the_lookup_that_consumes_it():
    aliexpress = connector("aliexpress", seed=1, page_size=8)
    feed = list(aliexpress.list("feed_items"))
    ids = [aliexpress.id_of("feed_items", record) for page in feed for record in page.records]
    assert all(isinstance(record, int) for page in feed for record in page.records)  # as the API
    assert ids == mock_ids(specs().mappings["aliexpress_product"], seed=1)

    pages = list(aliexpress.lookup("product", ids))
    assert len(pages) == len(ids)  # batch_size 1: one page (request) per id
    mapping = compile_mapping(specs().mappings["aliexpress_product"])
    rows, rejects = mapping.map_page(r for page in pages for r in page.records)
    assert rejects == []
    assert [row["external_id"] for row in rows] == ids
    assert [aliexpress.id_of("product", r) for page in pages for r in page.records] == ids


def test_lookup_batches_follow_the_operation_and_agree_with_the_list():
    shopify = connector("shopify", seed=3)
    listed = [r for page in shopify.list("orders") for r in page.records]
    ids = [shopify.id_of("orders", r) for r in listed] + ["5601234567000", "", None]
    pages = list(shopify.lookup("orders", ids))
    assert [len(p.records) for p in pages] == [13]  # batch_size 250, blanks skipped
    assert pages[0].records[:12] == listed
    mapping = compile_mapping(specs().mappings["shopify_order"])
    keys = [mapping.map(r)["platform_order_id"] for r in pages[0].records]
    assert keys == ids[:13]


def test_unknown_operations_and_feeds_without_consumer_are_clear_errors():
    with pytest.raises(ValueError, match="no operation 'nope'"):
        list(connector("bigbuy").list("nope"))
    aliexpress = specs().suppliers["aliexpress"]
    lonely = type(aliexpress)(
        **{**aliexpress.__dict__, "syncs": {"supplier_api": ()}},
    )
    with pytest.raises(ValueError, match="no step takes its ids"):
        list(MockConnector(lonely, specs()).list("feed_items"))


def _steps():
    for connector_spec in [*specs().suppliers.values(), *specs().marketplaces.values()]:
        for sync_type, steps in connector_spec.syncs.items():
            for step in steps:
                yield pytest.param(
                    connector_spec.name,
                    sync_type,
                    step,
                    id=f"{connector_spec.name}-{sync_type}-{step.operation}",
                )


@pytest.mark.parametrize(("name", "sync_type", "step"), list(_steps()))
def test_full_offline_pass_of_every_connector_step_has_zero_rejects(name, sync_type, step):
    """Every step of every bundled connector, as the sync engine runs it offline."""
    spec = specs().connector(name)
    mock = MockConnector(spec, specs(), seed=11, page_size=7)
    op = spec.operations[step.operation]
    mapping_spec = specs().mappings[step.mapping or op.mapping]
    fields = step.fields or specs().sync_types[sync_type].fields
    mapping = compile_mapping(mapping_spec, fields)
    if step.ids_from:
        ids = [mock.id_of(step.ids_from, r) for p in mock.list(step.ids_from) for r in p.records]
        pages = mock.lookup(step.operation, ids)
    elif op.kind == "lookup":  # fans out over known rows: the ids a first sync would have stored
        ids = mock_ids(mapping_spec, seed=11)
        pages = mock.lookup(step.operation, ids)
    else:
        ids = mock_ids(mapping_spec, seed=11)
        pages = mock.list(step.operation)
    rows, rejects = mapping.map_page(r for page in pages for r in page.records)
    assert rejects == []
    assert [row[mapping.key] for row in rows] == ids
    assert set(mapping.columns) - {mapping.key} <= set(fields)
