"""/authz in process: signed requests from aliyun-api-gateway-python, routing, gateway modes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from aliyun_api_gateway import ApiGatewayClient, ApiGatewayRequest

from ledger.application import Ledger
from authledger.service.authz import Router, header_value
from tests.service.conftest import Admin, TestClient

SECRET = "CustomSecret-0123456789abcdef"
KEY = "shop-key-0001"


def signed(method: str, uri: str, *, key: str = KEY, secret: str = SECRET, **fields: Any) -> dict[str, str]:
    """The headers the gateway passes to /authz for a request signed by the real client."""
    path, _, query = uri.partition("?")
    q = dict(p.split("=", 1) for p in query.split("&")) if query else None
    s = ApiGatewayClient("http://gw.example.com", key, secret).sign(
        ApiGatewayRequest(method=method, path=path, query=q, **fields))
    url = urlsplit(s.url)
    headers = dict(s.headers)
    headers["X-Original-Method"] = s.method
    headers["X-Original-URI"] = url.path + ("?" + url.query if url.query else "")
    return headers


@pytest.fixture
def shop(acme: Admin) -> dict[str, str]:
    """acme's items API (GET /v1/items/{id}), an app granted in RELEASE with an extension."""
    api = acme.post("/v1/apis", {"name": "items", "method": "GET", "path": "/v1/items/{id}"}).json()["api_id"]
    other = acme.post("/v1/apis", {"name": "orders", "path": "/v1/orders"}).json()["api_id"]
    app = acme.post("/v1/apps", {"name": "shopApp", "app_key": KEY, "app_secret": SECRET,
                                 "extension": '{"tenant":"shop"}'}).json()["app_id"]
    r = acme.post("/v1/grants", {"app_id": app, "api_id": api, "stage": "RELEASE"})
    assert r.status_code == 200
    return {"api": api, "other": other, "app": app}


def test_signed_request_is_accepted_with_backend_headers(client: TestClient, shop: dict[str, str]) -> None:
    r = client.get("/authz", headers=signed("GET", "/v1/items/42?color=red"))
    assert r.status_code == 200, r.headers.get("x-ca-error-message")
    assert r.headers["x-ca-app-id"] == shop["app"]
    assert r.headers["x-ca-key"] == KEY and r.headers["x-ca-stage"] == "RELEASE"
    assert r.headers["caappextinfo"] == '{"tenant":"shop"}'


def test_failures_carry_the_tables_status_and_message(client: TestClient, shop: dict[str, str]) -> None:
    # Check an unauthorized API: 403 Unauthorized; a wrong secret: 400 with the server's StringToSign.
    r = client.get("/authz", headers=signed("GET", "/v1/orders"))
    assert (r.status_code, r.headers["x-ca-error-message"]) == (403, "Unauthorized")
    r = client.get("/authz", headers=signed("GET", "/v1/items/1", secret="WrongSecret-0123456789abcdef"))
    assert r.status_code == 400
    assert r.headers["x-ca-error-message"].startswith("Invalid Signature, Server StringToSign:GET#")
    assert r.headers["x-ca-error-status"] == "400"
    # Check a replay is refused and an unknown path is 404 Invalid Url.
    headers = signed("GET", "/v1/items/7")
    assert client.get("/authz", headers=headers).status_code == 200
    assert client.get("/authz", headers=headers).headers["x-ca-error-message"] == "Nonce Used"
    r = client.get("/authz", headers=signed("GET", "/v2/nowhere"))
    assert (r.status_code, r.headers["x-ca-error-message"]) == (404, "Invalid Url")


def test_a_non_ascii_string_to_sign_is_shown_escaped_not_percent_encoded(
    client: TestClient, shop: dict[str, str]
) -> None:
    """A server StringToSign holding 你 reached the client as %E4%BD%A0 — what a buggy client
    signs — so developers "fixed" correct clients. It is now \\u4F60, which no client signs."""
    headers = signed("GET", "/v1/items/1?q=你", secret="WrongSecret-0123456789abcdef")
    r = client.get("/authz", headers=headers)
    message = r.headers["x-ca-error-message"]
    assert r.status_code == 400 and message.endswith("/v1/items/1?q=\\u4F60") and "%E4" not in message


def test_verify_request_over_http_decodes_utf8_headers_and_shows_the_extension(
    acme: Admin, client: TestClient, shop: dict[str, str]
) -> None:
    s = ApiGatewayClient("http://gw.example.com", KEY, SECRET).sign(ApiGatewayRequest(
        method="GET", path="/v1/items/5", headers={"X-Note": "李雷"}, additional_signed_headers=("X-Note",)))
    lines = ["GET /v1/items/5 HTTP/1.1", "Host: gw.example.com", *(f"{k}: {v}" for k, v in s.headers.items())]
    r = acme.post("/v1/verify-request", {"api_id": shop["api"], "request": "\r\n".join(lines) + "\r\n\r\n"})
    assert r.status_code == 200 and r.json()["accepted"] is True, r.json()
    assert r.json()["system_parameters"]["CaAppExtInfo"] == '{"tenant":"shop"}'


def test_auth_request_mode_answers_401_or_403_with_the_real_status_in_a_header(
    client: TestClient, shop: dict[str, str]
) -> None:
    headers = {**signed("GET", "/v1/items/1", key="unknown-key-1"), "X-Authz-Mode": "auth_request"}
    r = client.get("/authz", headers=headers)
    assert r.status_code == 403
    assert (r.headers["x-ca-error-status"], r.headers["x-ca-error-message"]) == ("400", "Invalid AppKey")


def test_client_x_ca_api_id_does_not_choose_the_api(client: TestClient, shop: dict[str, str]) -> None:
    headers = {**signed("GET", "/anything/else"), "X-Ca-Api-Id": shop["api"]}
    r = client.get("/authz", headers=headers)
    assert (r.status_code, r.headers["x-ca-error-message"]) == (404, "Invalid Url")


def _eventually_200(client: TestClient, extra: dict[str, str]) -> bool:
    """A fresh app's index may still be catching up with the ledger: ask again for 5 s."""
    deadline = time.monotonic() + 5
    while True:
        status = client.get("/authz", headers={**signed("GET", "/anything/else"), **extra}).status_code
        if status == 200 or time.monotonic() > deadline:
            return status == 200
        time.sleep(0.05)


@contextmanager
def _another_server(ledger: Ledger, **kw: Any) -> Iterator[TestClient]:
    """A second server over the same ledger (its own environment, index or follower)."""
    from authledger.service.app import create_app

    app = create_app(ledger, **kw)
    try:
        yield TestClient(app, raise_server_exceptions=False)
    finally:
        app.state.service.close()


def test_gateway_may_name_the_api_when_it_proves_itself(
    ledger: Ledger, shop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHLEDGER_GATEWAY_SECRET", "gateway-proof-0123456789")
    with _another_server(ledger) as gw:
        proof = {"X-Ca-Api-Id": shop["api"], "X-Authz-Gateway-Secret": "gateway-proof-0123456789"}
        assert _eventually_200(gw, proof)
        headers = {**signed("GET", "/anything/else"), "X-Ca-Api-Id": shop["api"]}
        assert gw.get("/authz", headers={**headers, "X-Authz-Gateway-Secret": "gateway-proof-012345678X"}).status_code == 404


def test_flag_trusts_x_ca_api_id_behind_a_stripping_proxy(
    ledger: Ledger, shop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHLEDGER_TRUST_API_ID_HEADER", "1")
    with _another_server(ledger) as gw:
        assert _eventually_200(gw, {"X-Ca-Api-Id": shop["api"]})


def test_encoded_slash_in_a_path_parameter_is_refused_invalid_url(client: TestClient, shop: dict[str, str]) -> None:
    for uri in ("/v1/items/..%2F..%2Fv1%2Forders", "/v1/items/%2e%2e", "/v1/items/a;b"):
        r = client.get("/authz", headers=signed("GET", "/v1/items/1") | {"X-Original-URI": uri})
        assert (r.status_code, r.headers["x-ca-error-message"]) == (400, "Invalid Url"), uri
    # The ext_authz form (path after /authz) is read raw, not as the server decoded it.
    headers = signed("GET", "/v1/items/1")
    del headers["X-Original-URI"], headers["X-Original-Method"]
    r = client.get("/authz/v1/items/..%2Forders", headers=headers)
    assert (r.status_code, r.headers["x-ca-error-message"]) == (400, "Invalid Url")


def test_path_after_authz_is_the_original_path_without_nginx_headers(client: TestClient, shop: dict[str, str]) -> None:
    headers = signed("GET", "/v1/items/5")
    del headers["X-Original-URI"], headers["X-Original-Method"]
    assert client.get("/authz/v1/items/5", headers=headers).status_code == 200


def test_a_grant_made_over_the_admin_api_counts_at_once(acme: Admin, client: TestClient, shop: dict[str, str]) -> None:
    assert client.get("/authz", headers=signed("GET", "/v1/orders")).status_code == 403
    acme.post("/v1/grants", {"app_id": shop["app"], "api_id": shop["other"], "stage": "RELEASE"})
    assert client.get("/authz", headers=signed("GET", "/v1/orders")).status_code == 200


def test_router_prefers_the_most_specific_pattern(ledger: Ledger) -> None:
    """Among one account's overlapping APIs (a ledger older than groups: the rules refuse
    them today) the most specific still wins."""
    from projections.auth_index import AuthIndex
    from tests.legacy import legacy_api

    for name, method, path in [("any", None, "/v1/items/{id}"), ("get", "GET", "/v1/items/{id}"),
                               ("exact", "GET", "/v1/items/special"), ("nopath", None, None)]:
        legacy_api(ledger, "acme", name, http_method=method, path_pattern=path)
    index = AuthIndex.build(ledger)
    names = {s.api_id: ledger.get_api(s.api_id).name for s in map(index.api_settings, index.api_ids())}
    router = Router(index)
    assert names[router.resolve("GET", "/v1/items/special") or ""] == "exact"
    assert names[router.resolve("get", "/v1/items/9") or ""] == "get"
    assert names[router.resolve("POST", "/v1/items/9") or ""] == "any"
    assert router.resolve("GET", "/v1/items/9/more") is None


def test_router_rebuilds_only_when_apis_change(ledger: Ledger) -> None:
    """Cost: the table for 10,000 APIs takes ~100 ms to build; it was rebuilt on the first
    request after every grant or key event. Now only an API change rebuilds it."""
    from projections.auth_index import AuthIndex
    from projections.events import apply_from
    from projections.log import log_for

    api = ledger.register_api("acme", "items", http_method="GET", path_pattern="/v1/items/{id}").ids["api_id"]
    app = ledger.create_app("bob", "shop_app").ids["app_id"]
    index = AuthIndex.build(ledger)
    router = Router(index)
    assert router.resolve("GET", "/v1/items/1") == api
    table = router._table
    ledger.grant("acme", app, api, "RELEASE")
    apply_from(log_for(ledger), index)
    assert router.resolve("GET", "/v1/items/1") == api and router._table is table  # no rebuild
    other = ledger.register_api("acme", "orders", path_pattern="/v1/orders").ids["api_id"]
    apply_from(log_for(ledger), index)
    assert router.resolve("GET", "/v1/orders") == other and router._table is not table


def test_header_values_are_printable_ascii() -> None:
    assert header_value('{"a":"b"}') == b'{"a":"b"}'
    assert header_value("line\r\nbreak é") == b"line%0D%0Abreak %C3%A9"


def test_authz_is_fast_enough_in_process(client: TestClient, shop: dict[str, str]) -> None:
    # Not a benchmark (scripts/bench/service.py is): a guard that nothing blocks the hot path.
    headers = [signed("GET", f"/v1/items/{i}") for i in range(50)]
    t0 = time.perf_counter()
    for h in headers:
        assert client.get("/authz", headers=h).status_code == 200
    assert time.perf_counter() - t0 < 5


def test_authz_fails_closed_once_the_index_stops_following(
    client: TestClient, shop: dict[str, str], db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault (issue 13.5): a row the follower cannot apply (sealed with another key, written by a
    broken tool) used to stop the follower silently while /authz answered 200 from the frozen
    index, so a later revocation was never enforced. Now /authz is 503 and /readyz fails."""
    import sqlite3
    import uuid

    headers = signed("GET", "/v1/items/1")
    assert client.get("/authz", headers=headers).status_code == 200
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES (?, 1, ?, ?)",
                 (uuid.uuid4().hex, "authledger:AppDisabled", b"\xc1"))
    position = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    conn.close()

    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["following"] is False
    r = client.get("/authz", headers=signed("GET", "/v1/items/2"))
    assert r.status_code == 503 and r.headers["x-ca-error-message"] == "Authorization Index Unavailable"
    (record,) = [r for r in caplog.records if r.name == "authledger.follow"]
    assert record.levelname == "ERROR" and f"position {position - 1}" in record.getMessage()
    assert f"position {position}" in record.getMessage()  # the ProjectionError names the bad row
    from projections.events import ProjectionError

    with pytest.raises(ProjectionError):  # and shutting down says it again
        client.app.state.service.close()


def test_authz_refuses_until_the_index_has_caught_up_at_start(
    ledger: Ledger, client: TestClient, shop: dict[str, str]
) -> None:
    """Fault: a server (re)starting on a ledger where a grant was later revoked. While its
    follower is still replaying, the index holds the grant but not yet the revocation; /authz
    used to answer from it (200). Now every check is 503 until the index reaches the position
    the ledger had at start."""
    import threading

    from projections.auth_index import AuthIndex

    ledger.revoke("acme", shop["app"], shop["api"], "RELEASE")
    gate = threading.Event()

    class SlowIndex(AuthIndex):
        def apply(self, position: int, topic: str, originator_id: Any, state: dict[str, Any]) -> None:
            if topic == "authledger:GrantRevoked":
                gate.wait(30)  # the replay is still on its way to the revocation
            super().apply(position, topic, originator_id, state)

    with _another_server(ledger, index=SlowIndex(ledger.box), access_log=False) as restarted:
        r = restarted.get("/authz", headers=signed("GET", "/v1/items/1"))
        assert r.status_code == 503 and r.headers["x-ca-error-message"] == "Authorization Index Unavailable"
        assert restarted.get("/readyz").status_code == 503
        gate.set()
        deadline = time.monotonic() + 10
        while restarted.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert restarted.get("/authz", headers=signed("GET", "/v1/items/2")).status_code == 403  # revoked


def test_authz_skips_the_framework_but_not_its_last_line_of_defence(
        app: Any, client: TestClient, shop: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # /authz goes straight to its endpoint (authledger.service.app._Outer). Check an unexpected
    # failure there still answers a bare 500 with no traceback, logged; a method the route does
    # not take still gets Starlette's 405; the request ids are unique and UUID-shaped.
    import re
    import uuid

    ids = {client.get("/authz", headers=signed("GET", "/v1/items/42")).headers["x-ca-request-id"] for _ in range(50)}
    assert len(ids) == 50 and all(str(uuid.UUID(i)) == i for i in ids)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("router exploded: secret-looking detail")

    monkeypatch.setattr(app.state.service.router, "route", broken)
    with caplog.at_level("ERROR", logger="authledger.error"):
        r = client.get("/authz/v1/items/42", headers=signed("GET", "/v1/items/42"))
    assert r.status_code == 500 and "Traceback" not in r.text and "exploded" not in r.text
    assert any("internal error on GET /authz/v1/items/42" in rec.getMessage() for rec in caplog.records)
    assert client.request("TRACE", "/authz").status_code == 405
    assert re.fullmatch(r"[0-9a-f-]{36}", next(iter(ids)))
