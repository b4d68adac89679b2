"""Requests signed by real client libraries are accepted."""

from __future__ import annotations

import types
from urllib.parse import urlencode

import pytest
from alibabacloud_apigateway_util.client import Client as VendorUtil
from gateway_fakes import (
    API_ID,
    APP_ID,
    APP_KEY,
    APP_SECRET,
    NOW_MS,
    client_request,
    shop_index,
    verifier_for,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from authledger.gateway.verifier import Verdict

BOTH_METHODS = ("HmacSHA256", "HmacSHA1")


def accepted(verdict: Verdict) -> bool:
    """Tell whether the verdict accepts, showing the rejection otherwise."""
    assert verdict.error_message is None, verdict.error_message
    return verdict.accepted and verdict.status == 200


@pytest.mark.parametrize("signature_method", BOTH_METHODS)
def test_aliyun_client_get_with_query_is_accepted(signature_method: str) -> None:
    verifier = verifier_for(shop_index(signature_methods=BOTH_METHODS))
    request = client_request(
        "GET",
        "/v1/items",
        signature_method=signature_method,
        query={"q": "red shoes", "page": "2", "tag": ["a", "b"], "name": "李雷&韩梅梅"},
    )
    verdict = verifier.verify(*request.args())
    assert accepted(verdict)
    # Check the backend learns who called, in which stage, with the app's extension.
    assert verdict.system_parameters() == {
        "CaAppId": APP_ID,
        "CaAppKey": APP_KEY,
        "CaStage": "RELEASE",
        "CaAppExtInfo": '{"tenant":"shop"}',
    }


@pytest.mark.parametrize("signature_method", BOTH_METHODS)
def test_aliyun_client_form_post_is_accepted(signature_method: str) -> None:
    verifier = verifier_for(shop_index(signature_methods=BOTH_METHODS))
    request = client_request(
        "POST",
        "/v1/items",
        signature_method=signature_method,
        query={"dry_run": "", "source": "web"},
        form={"name": "boots", "price": "9.90", "note": "a+b c", "source": "web"},
    )
    verdict = verifier.verify(*request.args())
    assert accepted(verdict)
    # Check form values entered StringToSign. (A key in both with different values: this
    # client signs the query's, the vendor's clients the form's: test_gateway_form_precedence.py.)
    assert (verdict.string_to_sign or "").endswith(
        "/v1/items?dry_run&name=boots&note=a+b c&price=9.90&source=web"
    )


def test_aliyun_client_json_post_with_content_md5_is_accepted() -> None:
    verifier = verifier_for(shop_index())
    request = client_request("POST", "/v1/items", json_body={"name": "boots", "sizes": [41, 42]})
    assert any(name.lower() == "content-md5" for name, _ in request.headers)
    assert accepted(verifier.verify(*request.args()))


def test_aliyun_client_custom_signed_headers_and_stage_are_accepted() -> None:
    verifier = verifier_for(shop_index())
    request = client_request(
        "PUT",
        "/v1/items/42",
        headers={"X-Ca-Stage": "TEST", "X-Tenant": "shop", "X-Trace": "unsigned"},
        additional_signed_headers=("X-Tenant",),
        body=b"\x00\x01binary",
    )
    verdict = verifier.verify(*request.args())
    assert accepted(verdict)
    assert verdict.stage == "TEST"
    assert "X-Tenant:shop\n" in (verdict.string_to_sign or "")


def vendor_util_request(
    method: str, query: dict[str, str], headers: dict[str, str], body: bytes | None
) -> tuple[str, str, str, list[tuple[str, str]], bytes | None, str]:
    """Sign with the vendor's alibabacloud-apigateway-util, as its generated SDKs do."""
    request = types.SimpleNamespace(
        method=method, pathname="/v1/items", query=dict(sorted(query.items())), headers=headers
    )
    headers["x-ca-signature"] = VendorUtil.get_signature(request, APP_SECRET)
    return (method, "/v1/items", urlencode(query), list(headers.items()), body, API_ID)


def vendor_headers(**extra: str) -> dict[str, str]:
    """Return the headers the vendor SDK sends (lower-case; it always sets accept and date)."""
    return {
        "accept": "application/json",
        "date": "Fri, 28 Nov 2025 03:20:00 GMT",
        "host": "gw.example.com",
        "user-agent": "AlibabaCloud (Linux) Python/3.11 TeaDSL/1",
        "x-ca-key": APP_KEY,
        "x-ca-nonce": "0a9c6a0e-6d0b-4a39-9e2b-5a2a3e0f4c11",
        "x-ca-signature-method": "HmacSHA256",
        "x-ca-timestamp": str(NOW_MS),
        **extra,
    }


def test_vendor_util_get_with_empty_query_value_is_accepted() -> None:
    verifier = verifier_for(shop_index())
    args = vendor_util_request(
        "GET", {"lang": "zh CN", "empty": "", "q": "ü/?"}, vendor_headers(), None
    )
    verdict = verifier.verify(*args)
    assert accepted(verdict)
    # Check it was the `key=` spelling of the empty value that matched.
    assert "?empty=&lang=zh CN&q=ü/?" in (verdict.string_to_sign or "")


def test_vendor_util_json_post_is_accepted() -> None:
    verifier = verifier_for(shop_index())
    text = '{"name":"boots","price":9.9}'
    headers = vendor_headers(
        **{"content-type": "application/json", "content-md5": VendorUtil.get_content_md5(text)}
    )
    assert accepted(verifier.verify(*vendor_util_request("POST", {}, headers, text.encode())))


def test_vendor_util_octet_stream_is_accepted() -> None:
    verifier = verifier_for(shop_index())
    text = "raw upload bytes"
    headers = vendor_headers(
        **{
            "content-type": "application/octet-stream",
            "content-md5": VendorUtil.get_content_md5(text),
            "x-ca-stage": "TEST",
        }
    )
    verdict = verifier.verify(*vendor_util_request("PUT", {"part": "1"}, headers, text.encode()))
    assert accepted(verdict)
    assert verdict.stage == "TEST"


query_text = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    query=st.dictionaries(query_text, query_text, max_size=5),
    form=st.dictionaries(query_text, query_text, max_size=5),
    method=st.sampled_from(BOTH_METHODS),
)
def test_any_parameters_the_aliyun_client_signs_verify(
    query: dict[str, str], form: dict[str, str], method: str
) -> None:
    # A key in both with different values is signed the other way round by this client
    # (the query's value; the vendor's clients and the gateway take the form's).
    form = {k: v for k, v in form.items() if query.get(k, v) == v}
    verifier = verifier_for(shop_index(signature_methods=BOTH_METHODS))
    request = client_request(
        "POST", "/v1/items", signature_method=method, query=query, form=form or None
    )
    assert accepted(verifier.verify(*request.args()))
