"""The signing helper behind scripts/call_api.py produces requests the verifier accepts."""

from __future__ import annotations

import json

from gateway_fakes import API_ID, APP_ID, APP_KEY, APP_SECRET, NOW, shop_index

from authledger.gateway.client import sign_headers
from authledger.gateway.verifier import Verifier


def _verify(method: str, url: str, headers: dict[str, str], body: bytes | None):  # type: ignore[no-untyped-def]
    path, _, query = url.partition("?")
    return Verifier(shop_index(), clock=lambda: NOW).verify(method, path, query, list(headers.items()), body, API_ID)


def test_signed_get_with_query_is_accepted() -> None:
    headers = sign_headers("GET", "/items/1?b=2&a=1", APP_KEY, APP_SECRET, now=NOW)
    verdict = _verify("GET", "/items/1?b=2&a=1", headers, None)
    assert verdict.accepted, verdict.error_message
    assert verdict.app_id == APP_ID


def test_json_body_gets_content_md5_and_a_changed_body_is_refused() -> None:
    body = json.dumps({"q": 1}).encode()
    headers = sign_headers("POST", "/items", APP_KEY, APP_SECRET, headers={"Content-Type": "application/json"}, body=body, now=NOW)
    assert "Content-MD5" in headers
    assert _verify("POST", "/items", headers, body).accepted
    refused = _verify("POST", "/items", headers, b'{"q": 2}')
    assert (refused.status, refused.error_message) == (400, "Invalid Content-MD5")


def test_wrong_secret_is_refused_with_the_servers_string_to_sign() -> None:
    headers = sign_headers("GET", "/items/1", APP_KEY, "not-the-secret-at-all", now=NOW)
    verdict = _verify("GET", "/items/1", headers, None)
    assert verdict.status == 400
    assert verdict.error_message is not None and verdict.error_message.startswith("Invalid Signature, Server StringToSign:")
    assert APP_SECRET not in verdict.error_message
