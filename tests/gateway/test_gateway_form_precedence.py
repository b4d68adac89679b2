"""A key in both the query and a form body, and what an Invalid Signature message shows.

The vendor's own clients — the Python demo, the Java demo, the Node SDK — sign the form's
value for a key the query also has (docs/digest-auth.md §2 cites the lines). They cannot
run here (Python 2, a JVM, npm), so ``vendor_demo_request`` follows their StringToSign
construction step by step, written from those sources independently of authledger.gateway.signing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, unquote_plus

from gateway_fakes import API_ID, APP_KEY, APP_SECRET, NOW_MS, Request, client_request, shop_index, verifier_for

from authledger.gateway.errors import INVALID_SIGNATURE, invalid_signature_message

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def vendor_demo_request(query: list[tuple[str, str]], form: list[tuple[str, str]], secret: str = APP_SECRET) -> Request:
    """Sign a form POST as the vendor's demos do: the form map first, a query key added only
    when the form lacks it (first query value kept), sorted, ``key=value`` or a bare key."""
    params: dict[str, str] = {}
    for key, value in form:
        params.setdefault(key, value)
    for key, value in query:
        if key not in params:
            params[key] = value
    resource = "/v1/items?" + "&".join(k if v == "" else f"{k}={v}" for k, v in sorted(params.items()))
    x_ca = {"X-Ca-Key": APP_KEY, "X-Ca-Nonce": "vendor-demo-nonce", "X-Ca-Signature-Method": "HmacSHA256",
            "X-Ca-Timestamp": str(NOW_MS)}
    signed_lines = "".join(f"{name}:{x_ca[name]}\n" for name in sorted(x_ca))
    sts = f"POST\napplication/json\n\n{FORM}\n\n{signed_lines}{resource}"
    signature = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest()).decode()
    headers = [("Accept", "application/json"), ("Content-Type", FORM), *x_ca.items(),
               ("X-Ca-Signature-Headers", ",".join(sorted(x_ca))), ("X-Ca-Signature", signature)]
    encode = lambda pairs: "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)  # noqa: E731
    return Request("POST", "/v1/items", encode(query), headers, encode(form).encode())


def test_a_vendor_client_form_post_with_a_key_in_both_is_accepted() -> None:
    """The vendor's clients sign the form's value for a shared key; we signed the query's and
    refused every such form POST with Invalid Signature."""
    verifier = verifier_for(shop_index())
    request = vendor_demo_request(query=[("source", "web"), ("page", "2")],
                                  form=[("source", "form"), ("name", "boots")])
    verdict = verifier.verify(*request.args())
    assert (verdict.accepted, verdict.error_message) == (True, None)
    assert (verdict.string_to_sign or "").endswith("/v1/items?name=boots&page=2&source=form")


def test_only_the_form_reading_is_accepted() -> None:
    """Attack: a captured form POST whose query and form both say amount=1, replayed with the
    form's copy changed. Accepting the query's reading as well (what a third-party client
    signs) let that through, and the vendor's backends read the form's copy."""
    verifier = verifier_for(shop_index())
    request = vendor_demo_request(query=[("amount", "1")], form=[("amount", "1"), ("to", "alice")])
    assert verifier.verify(*request.args()).accepted
    changed = Request(request.method, request.path, request.query, request.headers, b"amount=1000&to=alice")
    assert not verifier.verify(*changed.args()).accepted
    third_party = client_request("POST", "/v1/items", query={"source": "web"}, form={"source": "form"})
    assert not verifier.verify(*third_party.args()).accepted  # it signed the query's value


def test_changing_the_signed_form_copy_of_a_shared_key_is_refused() -> None:
    verifier = verifier_for(shop_index())
    request = vendor_demo_request(query=[("amount", "1")], form=[("amount", "2"), ("to", "alice")])
    assert verifier.verify(*request.args()).accepted
    changed = Request(request.method, request.path, request.query, request.headers, b"amount=1000&to=alice")
    verdict = verifier.verify(*changed.args())
    assert (verdict.accepted, verdict.status) == (False, 400)
    assert (verdict.error_message or "").startswith(INVALID_SIGNATURE)


def test_only_form_bodies_take_part() -> None:
    verifier = verifier_for(shop_index())
    request = vendor_demo_request(query=[("a", "1")], form=[("a", "2")])
    as_text = [(n, "text/plain" if n == "Content-Type" else v) for n, v in request.headers]
    verdict = verifier.verify(request.method, request.path, request.query, as_text, request.body, API_ID)
    assert not verdict.accepted


def test_the_invalid_signature_message_shows_non_ascii_unambiguously() -> None:
    """A server that signed ``你`` must not look like one that signed ``%E4%BD%A0`` (what a
    buggy client sends): percent-encoding made the two messages identical once in a header."""
    signed_char = invalid_signature_message("GET\n\n\n\n\n/v1/items?q=你")
    signed_escape = invalid_signature_message("GET\n\n\n\n\n/v1/items?q=%E4%BD%A0")
    assert signed_char == INVALID_SIGNATURE + "GET#####/v1/items?q=\\u4F60"
    assert signed_escape == INVALID_SIGNATURE + "GET#####/v1/items?q=%E4%BD%A0"
    # Every message is printable ASCII, and distinct StringToSigns give distinct messages.
    samples = ["a#b", "a\nb", "a\\nb", "a\\\\b", "😀", "\\U0001F600", "\udcff", "\\xFF", "ÿ", "\\u00FF", "\t"]
    messages = [invalid_signature_message(s) for s in samples]
    assert all(m.isascii() and m.isprintable() for m in messages)
    assert len(set(messages)) == len(samples)


def test_a_rejected_non_ascii_request_carries_the_escaped_string_to_sign() -> None:
    verifier = verifier_for(shop_index())
    request = client_request("GET", "/v1/items", query={"q": "李雷"})
    tampered = Request(request.method, request.path, request.query.replace("%E6%9D%8E", "%E5%BC%A0"),
                       request.headers, request.body)
    verdict = verifier.verify(*tampered.args())
    assert not verdict.accepted and "q=\\u5F20\\u96F7" in (verdict.error_message or "")
    assert unquote_plus(tampered.query) == "q=张雷" and "张雷" in (verdict.string_to_sign or "")
