"""Credential references and what a spec needs: parsed, described, resolved and reported by
name; and the spec checker on `check:`."""

from __future__ import annotations

import dataclasses

import pytest

from runner.credentials import (
    MissingSecret,
    describe,
    missing_secrets,
    parse_credential,
    resolve_account,
    spec_needs,
)
from runner.errors import SpecError
from runner.spec.load import load_specs
from runner.spec.model import AuthSpec
from tests.ops.support import ROOT

SPECS = load_specs(ROOT / "specs")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_key=env:BIGBUY_API_KEY", ("api_key", {"env": "BIGBUY_API_KEY"}, False)),
        ("token=file:/run/secrets/token", ("token", {"file": "/run/secrets/token"}, False)),
        ("api_key=abc:def", ("api_key", "abc:def", True)),
        ("api_key=literal:env:X", ("api_key", "env:X", True)),
        ("api_key=plain", ("api_key", "plain", True)),
    ],
)
def test_parse_credential(text, expected):
    assert parse_credential(text) == expected


@pytest.mark.parametrize("text", ["api_key", "=x", "api_key=env:"])
def test_parse_credential_refuses_bad_forms(text):
    with pytest.raises(ValueError):
        parse_credential(text)


def test_describe_never_shows_a_stored_secret():
    assert describe({"env": "X"}) == "env:X"
    assert describe({"file": "/s"}) == "file:/s"
    assert describe("s3cr3t") == "(stored value)"


def test_spec_needs_reads_credentials_and_env_but_not_defaults():
    assert spec_needs(SPECS.suppliers["bigbuy"]).credentials == {"api_key"}
    aliexpress = spec_needs(SPECS.suppliers["aliexpress"])
    assert aliexpress.credentials == {"app_key", "app_secret", "access_token"}
    auth = AuthSpec(
        "bearer",
        {"token": "{{ env.TOKEN }}{{ env.get_me | default('') }}{{ credentials['k'] }}"},
    )
    spec = dataclasses.replace(SPECS.suppliers["bigbuy"], auth=auth)
    assert spec_needs(spec).env == {"TOKEN"}
    assert spec_needs(spec).credentials == {"k"}


def test_missing_secrets_by_name(tmp_path):
    bigbuy = SPECS.suppliers["bigbuy"]
    env_ref = {"api_key": {"env": "BB_KEY"}}
    [missing] = missing_secrets(bigbuy, env_ref, {})
    assert missing.line("bigbuy", "EU shop") == (
        "bigbuy account 'EU shop' needs env BB_KEY: not set"
    )
    assert missing_secrets(bigbuy, env_ref, {"BB_KEY": "k"}) == []
    [missing] = missing_secrets(bigbuy, {}, {})
    assert missing.what == "credential api_key" and missing.why == "not set"
    secret = tmp_path / "api_key"
    [missing] = missing_secrets(bigbuy, {"api_key": {"file": str(secret)}}, {})
    assert missing.what == f"file {secret}"
    secret.write_text("from-a-file\n")
    resolved = resolve_account(bigbuy, "EU shop", {"api_key": {"file": str(secret)}}, {})
    assert resolved == {"api_key": "from-a-file"}
    with pytest.raises(MissingSecret, match="needs env BB_KEY: not set"):
        resolve_account(bigbuy, "EU shop", env_ref, {})


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("check: {operation: prodcts}", "unknown operation 'prodcts'; did you mean 'products'?"),
        ("check: {operation: products, pages: 1}", "pages"),
    ],
)
def test_the_spec_checker_names_a_bad_check(make_specs, check, message):
    specs_dir = make_specs({})
    path = specs_dir / "suppliers" / "bigbuy.yaml"
    text = path.read_text()
    start = text.index("check:")
    end = text.index("syncs:")
    path.write_text(text[:start] + check + "\n" + text[end:])
    with pytest.raises(SpecError) as info:
        load_specs(specs_dir)
    [issue] = info.value.errors
    assert message in issue.message and issue.file.endswith("bigbuy.yaml")
