"""Mapping expressions read the account's settings: one mapping, many accounts."""

from __future__ import annotations

from runner.mapping import compile_mapping
from runner.spec.build import build_mapping

SPEC = build_mapping(
    {
        "name": "m",
        "target": "imported_products",
        "key": "external_id",
        "fields": {
            "external_id": {"from": "id", "required": True},
            "price": {"from": "price", "type": "decimal"},
            "currency": {"expr": "settings.currency | default('EUR')"},
        },
    }
)


def test_settings_are_read_at_run_time_without_compiling_again():
    mapping = compile_mapping(SPEC)
    record = {"id": "A1", "price": "9.50"}
    assert mapping.map(record)["currency"] == "EUR"  # no settings: the default
    usd = mapping.for_settings({"currency": "USD"})
    assert usd.map(record)["currency"] == "USD"
    assert usd._map is mapping._map  # the same generated function, settings as an argument
    assert mapping.map(record)["currency"] == "EUR"  # the original is unchanged


def test_settings_key_the_source_hash_only_when_read():
    mapping = compile_mapping(SPEC)
    record = {"id": "A1", "price": "9.50"}
    eur = mapping.for_settings({"currency": "EUR"}).source_hashes([record])[1]
    usd = mapping.for_settings({"currency": "USD"}).source_hashes([record])[1]
    assert eur != usd  # a settings change maps every record again
    plain = compile_mapping(SPEC, fields=["price"])  # currency not written: settings unread
    assert not plain.reads_settings
    assert plain.for_settings({"currency": "EUR"}).source_hashes([record]) == plain.for_settings(
        {"currency": "USD"}
    ).source_hashes([record])
