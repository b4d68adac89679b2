"""The attack checklist: one tampering per test, each with its exact status and message."""

from __future__ import annotations

import base64

from gateway_fakes import (
    API_ID,
    APP_CODE,
    APP_ID,
    APP_KEY,
    NOW,
    NOW_MS,
    Request,
    client_request,
    self_signed,
    shop_index,
    verifier_for,
)

from authledger.gateway.nonces import InMemoryNonceStore
from authledger.gateway.verifier import Verdict, Verifier
from projections.decision import Reason

NONCE = "6f1e3c3a-5b2d-4c8e-9a0b-1d2e3f4a5b6c"
SIGNED_HEADERS = (
    f"X-Ca-Key:{APP_KEY}#X-Ca-Nonce:{NONCE}#X-Ca-Signature-Method:HmacSHA256#"
    f"X-Ca-Timestamp:{NOW_MS}#X-Tenant:shop#"
)


def shop_get(**fields: object) -> Request:
    """A GET signed by the real client, with a query and a custom signed header."""
    fields.setdefault("query", {"color": "red", "page": "2"})
    return client_request(
        "GET",
        "/v1/items",
        headers={"X-Tenant": "shop", **fields.pop("headers", {})},  # type: ignore[dict-item]
        additional_signed_headers=("X-Tenant",),
        **fields,
    )


def check(verdict: Verdict, status: int, message: str) -> None:
    assert (verdict.accepted, verdict.status, verdict.error_message) == (False, status, message)


def test_the_untampered_request_is_accepted() -> None:
    verdict = verifier_for(shop_index()).verify(*shop_get().args())
    assert (verdict.accepted, verdict.status, verdict.app_id, verdict.reason) == (
        True,
        200,
        APP_ID,
        Reason.OK,
    )


def test_tampered_method_is_rejected_with_the_server_string_to_sign() -> None:
    request = shop_get()
    request.method = "DELETE"
    check(
        verifier_for(shop_index()).verify(*request.args()),
        400,
        "Invalid Signature, Server StringToSign:DELETE#application/json####"
        + SIGNED_HEADERS
        + "/v1/items?color=red&page=2",
    )


def test_tampered_path_is_rejected() -> None:
    request = shop_get()
    request.path = "/v1/admin"
    check(
        verifier_for(shop_index()).verify(*request.args()),
        400,
        "Invalid Signature, Server StringToSign:GET#application/json####"
        + SIGNED_HEADERS
        + "/v1/admin?color=red&page=2",
    )


def test_tampered_query_value_is_rejected() -> None:
    request = shop_get()
    request.query = request.query.replace("page=2", "page=3")
    verdict = verifier_for(shop_index()).verify(*request.args())
    check(
        verdict,
        400,
        "Invalid Signature, Server StringToSign:GET#application/json####"
        + SIGNED_HEADERS
        + "/v1/items?color=red&page=3",
    )


def test_added_query_parameter_is_rejected() -> None:
    request = shop_get()
    request.query += "&admin=true"
    check(
        verifier_for(shop_index()).verify(*request.args()),
        400,
        "Invalid Signature, Server StringToSign:GET#application/json####"
        + SIGNED_HEADERS
        + "/v1/items?admin=true&color=red&page=2",
    )


def test_added_empty_query_parameter_is_rejected_in_both_spellings() -> None:
    request = shop_get()
    request.query += "&debug"
    verdict = verifier_for(shop_index()).verify(*request.args())
    assert verdict.status == 400
    assert (verdict.error_message or "").endswith("/v1/items?color=red&debug&page=2")


def test_tampered_signed_header_is_rejected() -> None:
    request = shop_get().with_header("x-tenant", "rival")
    check(
        verifier_for(shop_index()).verify(*request.args()),
        400,
        "Invalid Signature, Server StringToSign:GET#application/json####"
        + SIGNED_HEADERS.replace("X-Tenant:shop", "X-Tenant:rival")
        + "/v1/items?color=red&page=2",
    )


def test_duplicate_header_cannot_override_the_signed_one() -> None:
    request = shop_get()
    request.headers.append(("X-Tenant", "rival"))
    verdict = verifier_for(shop_index()).verify(*request.args())
    assert verdict.accepted  # the first value, which was signed, is the one used


def test_tampered_body_is_rejected_by_content_md5() -> None:
    request = client_request("POST", "/v1/items", json_body={"amount": 10})
    request.body = b'{"amount":1000}'
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Invalid Content-MD5")


def test_tampered_body_with_recomputed_content_md5_is_rejected_by_the_signature() -> None:
    import hashlib

    request = client_request("POST", "/v1/items", json_body={"amount": 10})
    request.body = b'{"amount":1000}'
    md5 = base64.b64encode(hashlib.md5(request.body).digest()).decode()
    verdict = verifier_for(shop_index()).verify(*request.with_header("Content-MD5", md5).args())
    assert verdict.status == 400
    assert (verdict.error_message or "").startswith(
        f"Invalid Signature, Server StringToSign:POST#application/json#{md5}#application/json#"
    )


def test_content_md5_with_an_empty_body_is_rejected() -> None:
    request = shop_get().with_header("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Invalid Content-MD5")


def test_tampered_stage_is_rejected() -> None:
    request = shop_get(headers={"X-Ca-Stage": "TEST"}).with_header("X-Ca-Stage", "RELEASE")
    verdict = verifier_for(shop_index()).verify(*request.args())
    assert verdict.status == 400
    assert "#X-Ca-Stage:RELEASE#" in (verdict.error_message or "")


def test_timestamp_outside_the_window_is_rejected() -> None:
    late = shop_get(timestamp_ms=NOW_MS - 900_001)
    early = shop_get(timestamp_ms=NOW_MS + 900_001)
    edge = shop_get(timestamp_ms=NOW_MS - 900_000)
    check(verifier_for(shop_index()).verify(*late.args()), 400, "Timestamp Expired")
    check(verifier_for(shop_index()).verify(*early.args()), 400, "Timestamp Expired")
    assert verifier_for(shop_index()).verify(*edge.args()).accepted


def test_tampered_timestamp_is_rejected() -> None:
    request = shop_get(timestamp_ms=NOW_MS - 600_000).with_header("X-Ca-Timestamp", str(NOW_MS))
    verdict = verifier_for(shop_index()).verify(*request.args())
    assert verdict.status == 400
    assert (verdict.error_message or "").startswith("Invalid Signature, Server StringToSign:")


def test_unparseable_or_missing_timestamp_is_rejected() -> None:
    verifier = verifier_for(shop_index())
    for stamp in ("17643e9", "-1", "１２３", "9" * 5000):
        check(
            verifier.verify(*shop_get().with_header("X-Ca-Timestamp", stamp).args()),
            400,
            "Invalid Timestamp",
        )
    check(
        verifier.verify(*shop_get().without_header("X-Ca-Timestamp").args()),
        400,
        "Invalid Timestamp",
    )


def test_replayed_nonce_is_rejected() -> None:
    verifier = verifier_for(shop_index())
    assert verifier.verify(*shop_get().args()).accepted
    check(verifier.verify(*shop_get().args()), 400, "Nonce Used")


def test_forged_request_cannot_burn_a_nonce() -> None:
    verifier = verifier_for(shop_index())
    forged = shop_get(secret="guessed-secret")
    assert verifier.verify(*forged.args()).status == 400
    assert verifier.verify(*shop_get().args()).accepted


def test_nonce_is_remembered_for_twice_the_window() -> None:
    now = [NOW]
    verifier = Verifier(shop_index(), nonce_store=InMemoryNonceStore(), clock=lambda: now[0])
    future = shop_get(timestamp_ms=NOW_MS + 900_000)
    assert verifier.verify(*future.args()).accepted
    # Check the replay still fails at the last instant the timestamp passes the clock check.
    now[0] = NOW + 1800
    check(verifier.verify(*future.args()), 400, "Nonce Used")


def test_missing_nonce_is_rejected_unless_the_api_switches_nonces_off() -> None:
    headers = [
        ("X-Ca-Key", APP_KEY),
        ("X-Ca-Timestamp", str(NOW_MS)),
        ("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Timestamp"),
    ]
    request = self_signed("GET", "/v1/items", "page=1", headers)
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Invalid Nonce")
    verifier = verifier_for(shop_index(nonce_required=False))
    assert verifier.verify(*request.args()).accepted
    assert verifier.verify(*request.args()).accepted  # without a nonce nothing detects replay


def test_wrong_secret_is_rejected() -> None:
    verdict = verifier_for(shop_index()).verify(*shop_get(secret="not-the-secret").args())
    check(
        verdict,
        400,
        "Invalid Signature, Server StringToSign:GET#application/json####"
        + SIGNED_HEADERS
        + "/v1/items?color=red&page=2",
    )
    assert "ExampleAppSecret" not in repr(verdict)


def test_unknown_key_is_rejected() -> None:
    check(verifier_for(shop_index()).verify(*shop_get(app_key="999").args()), 400, "Invalid AppKey")
    check(
        verifier_for(shop_index()).verify(*shop_get().without_header("X-Ca-Key").args()),
        400,
        "Invalid AppKey",
    )


def test_deleted_app_is_rejected_like_an_unknown_key() -> None:
    index = shop_index()
    index.deleted.add(APP_ID)
    verdict = verifier_for(index).verify(*shop_get().args())
    check(verdict, 400, "Invalid AppKey")
    assert verdict.reason is Reason.APP_DELETED


def test_disabled_app_is_rejected() -> None:
    index = shop_index()
    index.disabled.add(APP_ID)
    check(verifier_for(index).verify(*shop_get().args()), 403, "App Disabled")


def test_revoked_grant_is_rejected() -> None:
    index = shop_index()
    index.grants.clear()
    verdict = verifier_for(index).verify(*shop_get().args())
    check(verdict, 403, "Unauthorized")
    assert verdict.reason is Reason.NOT_AUTHORIZED


def test_expired_grant_is_rejected() -> None:
    index = shop_index()
    index.grants[(APP_ID, API_ID, "RELEASE")] = NOW
    check(verifier_for(index).verify(*shop_get().args()), 403, "Authorization Expired")


def test_grant_in_another_stage_does_not_allow_this_one() -> None:
    index = shop_index()
    del index.grants[(APP_ID, API_ID, "RELEASE")]
    verdict = verifier_for(index).verify(*shop_get().args())
    check(verdict, 403, "Unauthorized")
    assert verdict.reason is Reason.STAGE_NOT_AUTHORIZED
    assert verifier_for(index).verify(*shop_get(headers={"X-Ca-Stage": "TEST"}).args()).accepted


def test_invalid_stage_is_rejected() -> None:
    request = shop_get(headers={"X-Ca-Stage": "PROD"})
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Invalid Stage")


def test_missing_signature_is_rejected() -> None:
    request = shop_get().without_header("X-Ca-Signature")
    check(verifier_for(shop_index()).verify(*request.args()), 404, "Empty Signature")


def test_hmac_sha1_is_rejected_where_the_api_disallows_it() -> None:
    request = shop_get(signature_method="HmacSHA1")
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Invalid Signature Method")
    sha1_api = shop_index(signature_methods=("HmacSHA1", "HmacSHA256"))
    assert verifier_for(sha1_api).verify(*request.args()).accepted


def test_unknown_signature_method_is_rejected() -> None:
    request = shop_get().with_header("X-Ca-Signature-Method", "HmacMD5")
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Invalid Signature Method")


def test_unknown_api_is_rejected() -> None:
    request = shop_get()
    verdict = verifier_for(shop_index()).verify(*request.args()[:-1], "api-none")
    check(verdict, 404, "Invalid Api")


def appcode_request(header: str | None = None, query: str = "") -> Request:
    headers = [("Authorization", header)] if header is not None else []
    return Request("GET", "/v1/items", query, headers, None)


def test_appcode_on_an_api_that_disables_it_is_rejected() -> None:
    verdict = verifier_for(shop_index()).verify(*appcode_request(f"APPCODE {APP_CODE}").args())
    check(verdict, 401, "Invalid AppCode")
    assert verdict.reason is Reason.APPCODE_NOT_ALLOWED


def test_appcode_in_header_is_accepted_where_allowed() -> None:
    verifier = verifier_for(shop_index(appcode_mode="HEADER"))
    verdict = verifier.verify(*appcode_request(f"APPCODE {APP_CODE}").args())
    assert (verdict.accepted, verdict.app_id, verdict.stage) == (True, APP_ID, "RELEASE")
    check(verifier.verify(*appcode_request("APPCODE wrong").args()), 401, "Invalid AppCode")
    check(verifier.verify(*appcode_request("APPCODE ").args()), 401, "Invalid AppCode")


def test_appcode_in_query_counts_only_on_header_query_apis() -> None:
    request = appcode_request(query=f"appCode={APP_CODE}&page=1")
    assert verifier_for(shop_index(appcode_mode="HEADER_QUERY")).verify(*request.args()).accepted
    check(
        verifier_for(shop_index(appcode_mode="HEADER")).verify(*request.args()),
        400,
        "Invalid AppKey",
    )


def test_appcode_app_must_still_be_enabled_and_authorized() -> None:
    index = shop_index(appcode_mode="HEADER")
    index.disabled.add(APP_ID)
    check(
        verifier_for(index).verify(*appcode_request(f"APPCODE {APP_CODE}").args()),
        403,
        "App Disabled",
    )
    index = shop_index(appcode_mode="HEADER")
    index.grants.clear()
    check(
        verifier_for(index).verify(*appcode_request(f"APPCODE {APP_CODE}").args()),
        403,
        "Unauthorized",
    )


def date_request(date: str) -> Request:
    headers = [
        ("Date", date),
        ("X-Ca-Key", APP_KEY),
        ("X-Ca-Nonce", NONCE),
        ("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Nonce"),
    ]
    return self_signed("GET", "/v1/items", "", headers)


def test_date_header_stands_in_for_a_missing_timestamp() -> None:
    for date in (
        "Fri, 28 Nov 2025 03:20:00 GMT",
        "Fri, 28 Nov 2025 03:20:00 GMT+00:00",
        "Fri, 28 Nov 2025 11:20:00 GMT+08:00",
    ):
        assert verifier_for(shop_index()).verify(*date_request(date).args()).accepted, date
    check(
        verifier_for(shop_index()).verify(*date_request("Fri, 28 Nov 2025 03:04:59 GMT").args()),
        400,
        "Timestamp Expired",
    )
    for bad in ("yesterday", "Fri, 31 Feb 2025 03:20:00 GMT", "Fri, 28 Nov 2025 03:20:00 PST"):
        check(
            verifier_for(shop_index()).verify(*date_request(bad).args()), 400, "Invalid Timestamp"
        )


def test_oversized_nonce_is_rejected_without_being_stored() -> None:
    store = InMemoryNonceStore()
    request = shop_get(nonce="n" * 257)
    check(
        verifier_for(shop_index(), nonce_store=store).verify(*request.args()), 400, "Invalid Nonce"
    )
    assert len(store) == 0


ORDERED_FAULTS = [
    ("unknown key", 400, "Invalid AppKey"),
    ("missing signature", 404, "Empty Signature"),
    ("bad method", 400, "Invalid Signature Method"),
    ("bad timestamp", 400, "Invalid Timestamp"),
    ("bad md5", 400, "Invalid Content-MD5"),
    ("bad signature", 400, None),
    ("replayed nonce", 400, "Nonce Used"),
    ("disabled app", 403, "App Disabled"),
]


def test_checks_run_in_the_table_order() -> None:
    for first in range(len(ORDERED_FAULTS)):
        faults = {name for name, _, _ in ORDERED_FAULTS[first:]}
        index, store = shop_index(), InMemoryNonceStore()
        request = shop_get()
        if "unknown key" in faults:
            request = request.with_header("X-Ca-Key", "999")
        if "missing signature" in faults:
            request = request.without_header("X-Ca-Signature")
        if "bad method" in faults:
            request = request.with_header("X-Ca-Signature-Method", "HmacMD5")
        if "bad timestamp" in faults:
            request = request.with_header("X-Ca-Timestamp", "soon")
        if "bad md5" in faults:
            request = request.with_header("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")
        if "bad signature" in faults:
            request.query += "&x=1"
        if "replayed nonce" in faults:
            store.seen(APP_KEY, NONCE, 60, NOW)
        if "disabled app" in faults:
            index.disabled.add(APP_ID)
        verdict = verifier_for(index, nonce_store=store).verify(*request.args())
        name, status, message = ORDERED_FAULTS[first]
        assert verdict.status == status, name
        assert verdict.error_message == message or (
            message is None and (verdict.error_message or "").startswith("Invalid Signature")
        ), name


def test_expired_timestamp_is_reported_before_content_md5() -> None:
    request = shop_get(timestamp_ms=NOW_MS - 3_600_000).with_header("Content-MD5", "AAAA")
    check(verifier_for(shop_index()).verify(*request.args()), 400, "Timestamp Expired")
