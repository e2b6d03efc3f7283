"""Secret redaction of URLs, headers and known values."""

from __future__ import annotations

from runner.redact import (
    MASK,
    SecretRegistry,
    is_secret_header,
    redact,
    redact_headers,
    redact_url,
)


def test_secret_query_keys_are_masked_whatever_the_value():
    url = (
        "https://api-sg.aliexpress.com/sync?method=aliexpress.ds.product.get&app_key=500123"
        "&session=tok&sign=ABCDEF&timestamp=1735689600000&product_id=1005006123456789"
    )
    shown = redact_url(url, SecretRegistry())
    assert "session=***" in shown and "sign=***" in shown and "app_key=***" in shown
    assert "product_id=1005006123456789" in shown and "timestamp=1735689600000" in shown
    assert "tok" not in shown.replace("timestamp", "")


def test_woocommerce_keys_and_userinfo():
    url = "https://ck_1:cs_2@shop.example.com/wp-json/wc/v3/orders?consumer_key=ck_1&consumer_secret=cs_2&page=2"
    shown = redact_url(url, SecretRegistry())
    assert "ck_1" not in shown and "cs_2" not in shown
    assert shown.startswith("https://shop.example.com/")
    assert "page=2" in shown


def test_headers():
    headers = {
        "Authorization": "Bearer abc",
        "X-Shopify-Access-Token": "shpat_1",
        "X-Api-Key": "k",
        "Cookie": "a=b",
        "X-Ratelimit-Reset": "1736942400",
        "Content-Type": "application/json",
        "WWW-Authenticate": "Basic realm=x",
    }
    shown = redact_headers(headers, SecretRegistry())
    assert shown["Authorization"] == MASK
    assert shown["X-Shopify-Access-Token"] == MASK
    assert shown["X-Api-Key"] == MASK
    assert shown["Cookie"] == MASK
    assert shown["X-Ratelimit-Reset"] == "1736942400"
    assert shown["Content-Type"] == "application/json"
    assert shown["WWW-Authenticate"] == "Basic realm=x"
    assert is_secret_header("x-auth-token") and not is_secret_header("Link")


def test_known_values_are_masked_anywhere_even_percent_encoded():
    registry = SecretRegistry()
    registry.add_all({"api_key": "s3cr3t/key+value", "nested": {"token": "tok-123456"}, "n": 5})
    registry.add("short")  # below the minimum length: never registered
    text = "failed with s3cr3t/key+value, s3cr3t%2Fkey%2Bvalue and tok-123456 (short)"
    shown = registry.text(text)
    assert "s3cr3t" not in shown and "tok-123456" not in shown
    assert "(short)" in shown
    assert "s3cr3t/key+value" in registry


def test_redact_handles_urls_inside_messages():
    registry = SecretRegistry()
    registry.add("my-api-key-42")
    message = "GET https://x.test/a?token=zzz&page=1 failed: key my-api-key-42 refused"
    shown = redact(message, registry)
    assert "token=***" in shown and "page=1" in shown
    assert "my-api-key-42" not in shown


def test_secret_named_json_fields_are_masked_before_their_values_are_known():
    """A login answer may reach a cassette before its token is registered as a secret."""
    answer = (
        '{"code": 200, "data": {"openId": 123456789, "accessToken": "f59ac98193d64d62",'
        ' "refreshToken": "f7edabe6\\"5c3b", "client_secret":"s3", "apiKey": "CJ1@api@x"}}'
    )
    shown = redact(answer)
    for value in ("f59ac98193d64d62", "f7edabe6", "5c3b", "s3", "CJ1@api@x"):
        assert value not in shown
    assert '"openId": 123456789' in shown and '"accessToken": "***"' in shown
    assert redact("HTTP 401: token expired") == "HTTP 401: token expired"  # prose stays
