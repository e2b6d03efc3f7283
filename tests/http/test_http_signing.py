"""AliExpress IOP signing: the official vector and every worked example of
reference/supplier-apis.md §2.3, byte for byte, then signed requests against the fake."""

from __future__ import annotations

import httpx
import pytest

from runner.connector import Connector
from runner.errors import PermanentError
from runner.http.auth import AuthContext, Call, IopHmacSha256, iop_sign, iop_string
from tests.fakes.fixtures import fake_account

SECRET = "tEsTsEcReT0123456789abcdefABCDEF"
TOKEN = "50000500a12bcDEFghiJKLmnoPQRstuVWXyz0123456789"
COMMON = {"app_key": "500123", "sign_method": "sha256", "timestamp": "1735689600000"}
PRODUCT_GET = {
    **COMMON,
    "format": "json",
    "method": "aliexpress.ds.product.get",
    "product_id": "1005006123456789",
    "ship_to_country": "ES",
    "target_currency": "EUR",
    "target_language": "es",
}
ORDER_JSON = (
    '{"out_order_id":"SO-1001","logistics_address":{"address":"Calle Mayor 1","city":"Valencia",'
    '"contact_person":"Ana Lopez","country":"ES","mobile_no":"600111222","phone_country":"+34",'
    '"province":"Valencia","zip":"46001"},"product_items":[{"product_id":1005006123456789,'
    '"product_count":1,"sku_attr":"14:175#Black;5:361386",'
    '"logistics_service_name":"CAINIAO_STANDARD"}]}'
)

CASES = {
    "official vector (/order/get, secret helloworld)": (
        "helloworld",
        {
            "access_token": "test",
            "app_key": "123456",
            "order_id": "1234",
            "sign_method": "sha256",
            "timestamp": "1517820392000",
        },
        "/order/get",
        "/order/getaccess_tokentestapp_key123456order_id1234sign_methodsha256"
        "timestamp1517820392000",
        "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A",
    ),
    "example 1: /sync, token as session": (
        SECRET,
        {**PRODUCT_GET, "session": TOKEN},
        "aliexpress.ds.product.get",
        "app_key500123formatjsonmethodaliexpress.ds.product.getproduct_id1005006123456789"
        "session50000500a12bcDEFghiJKLmnoPQRstuVWXyz0123456789ship_to_countryESsign_method"
        "sha256target_currencyEURtarget_languageestimestamp1735689600000",
        "0779323AC47E4D1E0EEA7387E71FB71BBADBCA1F29C162179D6A15E02E2B0240",
    ),
    "example 1b: token as access_token": (
        SECRET,
        {**PRODUCT_GET, "access_token": TOKEN},
        "aliexpress.ds.product.get",
        "access_token50000500a12bcDEFghiJKLmnoPQRstuVWXyz0123456789app_key500123formatjson"
        "methodaliexpress.ds.product.getproduct_id1005006123456789ship_to_countryES"
        "sign_methodsha256target_currencyEURtarget_languageestimestamp1735689600000",
        "966BB645D5E340CEB6D471CA61574717851EE5E9FD072B64F9EC0FB44DDF9F29",
    ),
    "example 2: system call, path prefixed, no method": (
        SECRET,
        {**COMMON, "code": "3_500123_AbCdEfGh12345678"},
        "/auth/token/create",
        "/auth/token/createapp_key500123code3_500123_AbCdEfGh12345678sign_methodsha256"
        "timestamp1735689600000",
        "5AA740A3DA8EB4127B0E4EB138BBB7A38BD2554B0AB2AD95376D24C9329C1DD3",
    ),
    "example 2b: official SDK style, method=/auth/token/create also sent": (
        SECRET,
        {**COMMON, "code": "3_500123_AbCdEfGh12345678", "method": "/auth/token/create"},
        "/auth/token/create",
        "/auth/token/createapp_key500123code3_500123_AbCdEfGh12345678method/auth/token/create"
        "sign_methodsha256timestamp1735689600000",
        "12B1FC966CD9C06F9B6C384756E53C6EB7B6C2306C7BE948360880BA0E0FB88B",
    ),
    "example 3: order create, JSON param signed verbatim": (
        SECRET,
        {
            **COMMON,
            "format": "json",
            "method": "aliexpress.ds.order.create",
            "session": TOKEN,
            "param_place_order_request4_open_api_d_t_o": ORDER_JSON,
        },
        "aliexpress.ds.order.create",
        None,
        "EBA6BEA20E2199310F354C6A417C65FC7EDC579482C04E88C36E7798565B97CF",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_sign_reproduces_reference(case):
    secret, params, api_name, string, sign = CASES[case]
    if string is not None:
        assert iop_string(params, api_name) == string
    assert iop_sign(secret, params, api_name) == sign
    # `sign` itself is never part of what is signed
    assert iop_sign(secret, {**params, "sign": "X" * 64}, api_name) == sign


def _signer(**params) -> IopHmacSha256:
    context = AuthContext(fetch=lambda call: None, clock=lambda: 0.0, wall=lambda: 1735689600.0)
    return IopHmacSha256(params, context)


def test_auth_kind_adds_system_params_then_signs_example_1():
    auth = _signer(app_key="500123", app_secret=SECRET, token=TOKEN, token_param="session")
    business = {k: PRODUCT_GET[k] for k in PRODUCT_GET if k not in COMMON}
    call = Call("GET", httpx.URL("https://api-sg.aliexpress.com/sync"), dict(business))
    auth.apply(call)
    assert call.params["timestamp"] == "1735689600000"
    assert call.params["session"] == TOKEN
    assert call.params["sign"] == CASES["example 1: /sync, token as session"][4]
    # applying again (a retry) re-signs instead of signing the old signature
    auth.apply(call)
    assert call.params["sign"] == CASES["example 1: /sync, token as session"][4]


def test_auth_kind_example_1b_and_params_already_in_the_url():
    auth = _signer(app_key="500123", app_secret=SECRET, token=TOKEN, token_param="access_token")
    url = httpx.URL("https://api-sg.aliexpress.com/sync?method=aliexpress.ds.product.get")
    business = {k: PRODUCT_GET[k] for k in PRODUCT_GET if k not in COMMON and k != "method"}
    call = Call("GET", url, business)
    auth.apply(call)
    assert call.params["sign"] == CASES["example 1b: token as access_token"][4]


def test_auth_kind_system_api_example_2():
    auth = _signer(app_key="500123", app_secret=SECRET, api_name="/auth/token/create")
    url = httpx.URL("https://api-sg.aliexpress.com/rest/auth/token/create")
    call = Call("POST", url, {"code": "3_500123_AbCdEfGh12345678"})
    auth.apply(call)
    assert "session" not in call.params  # no token for token creation
    assert call.params["sign"] == CASES["example 2: system call, path prefixed, no method"][4]


def test_signed_requests_pass_the_fake_and_bad_ones_are_refused(aliexpress_server):
    server = aliexpress_server(products=3, app_secret="canary-ae-secret-7Qx")
    account = fake_account(server)
    from runner.spec.load import load_specs

    spec = load_specs().connector("aliexpress")
    with Connector(spec, account) as connector:
        ids = [i for page in connector.list("feed_items") for i in page.records]
        assert len(ids) == 3
    sent = server.requests[0].query
    assert sent["sign_method"] == "sha256" and len(sent["sign"]) == 64
    assert sent["sign"] == sent["sign"].upper()

    wrong = fake_account(server)
    wrong.credentials["app_secret"] = "not-the-secret"
    with Connector(spec, wrong) as connector, pytest.raises(PermanentError) as caught:
        list(connector.list("feed_items"))
    assert "IncompleteSignature" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
