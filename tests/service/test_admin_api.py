"""The admin API: a narrative through HTTP, then one test per status code the issue names."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.tokens import issue_token, revoke_token
from tests.service.conftest import Admin, TestClient

SECRET = "CustomSecret-0123456789abcdef"
CODE = "C0deC0deC0deC0deC0deC0de"


def _api(admin: Admin, **body: Any) -> str:
    r = admin.post("/v1/apis", {"name": "items", "method": "GET", "path": "/v1/items/{id}", **body})
    assert r.status_code == 201, r.text
    return r.json()["api_id"]


def _app(admin: Admin, name: str = "shopApp", **body: Any) -> dict[str, Any]:
    r = admin.post("/v1/apps", {"name": name, **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_provider_and_consumer_manage_apps_apis_and_grants_over_http(acme: Admin, globex: Admin) -> None:
    # Check a provider registers an API and a consumer creates an app (secrets revealed once).
    api_id = _api(acme)
    created = _app(globex, extension='{"tenant":"globex"}', app_key="globex-key-1", app_secret=SECRET)
    app_id = created["app_id"]
    assert created["app_secret"] == SECRET and len(created["app_code"]) >= 16
    assert isinstance(created["position"], int) and created["timestamp"]

    # Check the provider sees only the public view of the consumer's app; the owner sees all, masked.
    public = acme.get(f"/v1/apps/{app_id}").json()
    assert set(public) == {"app_id", "name", "owner", "status"}
    owned = globex.get(f"/v1/apps/{app_id}").json()
    assert owned["key_pairs"][0]["app_secret"] == "********"
    assert SECRET not in json.dumps(owned) and created["app_code"] not in json.dumps(owned)

    # Check the provider grants, the API lists the app, the index answers at once.
    r = acme.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "RELEASE", "for": "30d"})
    assert r.status_code == 200, r.text
    assert [a["app_id"] for a in acme.get(f"/v1/apis/{api_id}").json()["authorized_apps"]] == [app_id]
    decision = globex.post("/v1/check", {"app_key": "globex-key-1", "api_id": api_id}).json()
    assert decision["allowed"] is True and decision["extension"] == '{"tenant":"globex"}'

    # Check keys, codes and modify work for the owner; reset reveals the new secret once.
    assert globex.post(f"/v1/apps/{app_id}/keys", {}).status_code == 201
    assert len(globex.get(f"/v1/apps/{app_id}/keys").json()["data"]) == 2
    reset = globex.post("/v1/keys/globex-key-1/reset", {}).json()
    assert reset["app_secret"] != SECRET
    assert globex.post(f"/v1/apps/{app_id}/codes", {"code": CODE}).status_code == 201
    assert globex.post("/v1/codes/reset", {"code": CODE}).json()["app_code"] != CODE
    assert globex.patch(f"/v1/apps/{app_id}", {"description": "the shop"}).json()["changed"] is True
    assert [a["name"] for a in globex.get("/v1/apps").json()["data"]] == ["shopApp"]

    # Check disable denies, enable restores, revoke and delete end it.
    assert globex.post(f"/v1/apps/{app_id}/disable").status_code == 200
    assert globex.post("/v1/check", {"app_key": "globex-key-1", "api_id": api_id}).json()["reason"] == "app_disabled"
    assert globex.post(f"/v1/apps/{app_id}/enable").status_code == 200
    r = globex.post("/v1/revoke", {"app_id": app_id, "api_id": api_id, "stage": "RELEASE"})
    assert r.json()["role"] == "consumer"
    assert globex.delete(f"/v1/apps/{app_id}").status_code == 200
    assert globex.get(f"/v1/apps/{app_id}").json()["status"] == "deleted"


def test_missing_invalid_and_revoked_tokens_get_401(ledger: Ledger, client: TestClient) -> None:
    assert client.get("/v1/apis").status_code == 401
    r = client.get("/v1/apis", headers={"Authorization": "Bearer alt_not-a-token"})
    assert r.status_code == 401 and r.json()["field"] == "authorization"
    assert client.get("/v1/apis", headers={"Authorization": "Basic YTpi"}).status_code == 401
    receipt = issue_token(ledger, "acme")
    token = receipt.revealed["token"]
    assert client.get("/v1/apis", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoke_token(ledger, receipt.ids["token_id"], "acme")
    assert client.get("/v1/apis", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_unauthenticated_caller_gets_401_before_any_body_check(client: TestClient) -> None:
    r = client.post("/v1/apps", content=b"not json")
    assert r.status_code == 401


def test_acting_on_another_accounts_app_or_api_gets_403(acme: Admin, globex: Admin) -> None:
    api_id = _api(acme)
    app_id = _app(globex)["app_id"]
    assert acme.patch(f"/v1/apps/{app_id}", {"description": "mine now"}).status_code == 403
    assert acme.post(f"/v1/apps/{app_id}/disable").status_code == 403
    assert acme.get(f"/v1/apps/{app_id}/keys").status_code == 403
    r = globex.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "RELEASE"})
    assert r.status_code == 403 and r.json()["error"] == "not_permitted"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "name"),
        ({}, "name"),
        ({"name": "shopApp", "tags": "a=b"}, "tags"),
        ({"name": "shopApp", "colour": "red"}, "colour"),
        ({"name": "shopApp", "app_key": "short"}, "app_key"),
        ({"name": "shopApp", "extension": "x" * 2000}, "extension"),
        ({"name": 42}, "name"),
        # A lone surrogate is valid JSON (\udcff) but not UTF-8: it was a 500 (issue 14.6).
        ({"name": "shopApp", "description": "\udcff"}, "description"),
        ({"name": "shopApp", "tags": {"team": "\udcff"}}, "tags"),
        ({"name": "shopApp", "tags": {"\ud800": "x"}}, "tags"),
    ],
)
def test_invalid_body_gets_400_naming_the_field(acme: Admin, body: dict[str, Any], field: str) -> None:
    # json.dumps escapes as a hostile client would (httpx's encoder cannot write a lone surrogate).
    r = acme.post("/v1/apps", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_malformed_json_and_ids_get_400(acme: Admin) -> None:
    r = acme.post("/v1/apps", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert acme.post("/v1/apps", [1, 2]).json()["field"] == "body"
    r = acme.get("/v1/apps/not-a-uuid")
    assert r.status_code == 400 and r.json()["field"] == "app_id"
    r = acme.post("/v1/grants", {"app_id": [], "api_id": "x", "stage": "RELEASE"})
    assert r.status_code == 400


def test_unknown_ids_and_endpoints_get_404(acme: Admin) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert acme.get(f"/v1/apps/{missing}").status_code == 404
    assert acme.get(f"/v1/apis/{missing}").json()["error"] == "not_found"
    assert acme.delete(f"/v1/tokens/{missing}").status_code == 404
    assert acme.get("/v1/nothing-here").status_code == 404


def test_duplicate_app_key_and_app_code_get_409(acme: Admin, globex: Admin) -> None:
    _app(acme, app_key="taken-key-1", app_code=CODE)
    r = globex.post("/v1/apps", {"name": "otherApp", "app_key": "taken-key-1"})
    assert r.status_code == 409 and r.json()["field"] == "app_key"
    assert globex.post("/v1/apps", {"name": "otherApp", "app_code": CODE}).status_code == 409


def test_deleted_app_refuses_changes_with_409(acme: Admin) -> None:
    app_id = _app(acme)["app_id"]
    acme.delete(f"/v1/apps/{app_id}")
    assert acme.post(f"/v1/apps/{app_id}/disable").status_code == 409


def test_body_over_the_limit_gets_413(acme: Admin) -> None:
    r = acme.post("/v1/apps", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_tokens_over_http_reveal_once_and_revoke(acme: Admin, client: TestClient) -> None:
    r = acme.post("/v1/tokens", {"label": "ci"})
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["token_id"]
    listed = acme.get("/v1/tokens").json()
    assert token not in json.dumps(listed) and len(listed["data"]) == 2 and listed["next"] is None
    assert acme.delete(f"/v1/tokens/{token_id}").status_code == 200
    assert client.get("/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_verify_request_explains_a_signature_without_burning_nonces(acme: Admin) -> None:
    api_id = _api(acme)
    raw = "GET /v1/items/1 HTTP/1.1\r\nX-Ca-Key: nobody-key\r\n\r\n"
    r = acme.post("/v1/verify-request", {"api_id": api_id, "request": raw})
    assert r.status_code == 200 and r.json()["error_message"] == "Invalid AppKey"


def test_health_and_readiness_report_the_index_position(acme: Admin, client: TestClient, app: Any) -> None:
    position = _app(acme)["position"]
    assert client.get("/healthz").json()["position"] >= position
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    app.state.service.close()
    assert client.get("/readyz").status_code == 503


def test_access_log_is_json_without_secrets_or_tokens(acme: Admin, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="authledger.access"):
        created = _app(acme, app_secret=SECRET)
        acme.get("/v1/apis?owner=acme")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "authledger.access"]
    assert {"method", "path", "status", "ms"} <= set(lines[0])
    assert any(line.get("actor") == "acme" for line in lines)
    text = caplog.text
    for secret in (SECRET, created["app_code"], acme.token, "owner=acme"):
        assert secret not in text


def test_openapi_document_describes_every_route(client: TestClient) -> None:
    from authledger.service.admin import OPERATIONS

    doc = client.get("/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for op in OPERATIONS:
        assert op.method.lower() in doc["paths"][op.path]


def test_audit_queries_answer_the_owner_only(acme: Admin, globex: Admin) -> None:
    api_id = _api(acme)
    app_id = _app(globex, app_key="audit-key-001")["app_id"]
    acme.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "RELEASE"})
    # Check the API's owner sees who could call it now; another account may not ask.
    r = acme.get("/v1/audit/who-could-call", params={"api_id": api_id})
    assert r.status_code == 200, r.text
    assert {row["app_id"] for row in r.json()["could_call"]} == {app_id}
    assert globex.get("/v1/audit/who-could-call", params={"api_id": api_id}).status_code == 403
    # Check the app's owner sees its access and history; a window needs from and to.
    assert [row["api_id"] for row in globex.get("/v1/audit/access", params={"app_key": "audit-key-001"}).json()["could_call"]] == [api_id]
    events = globex.get("/v1/audit/history", params={"app_id": app_id}).json()["events"]
    assert "AppCreated" in {e["type"] for e in events}
    r = globex.get("/v1/audit/access", params={"app_id": app_id, "from": "2020-01-01T00:00:00Z"})
    assert r.status_code == 400
    assert acme.get("/v1/audit/who-could-call").json()["field"] == "api_id"
    r = globex.get("/v1/audit/replay", params={"app_id": app_id, "until": "2100-01-01T00:00:00Z"})
    assert r.status_code == 200 and SECRET not in r.text
    assert acme.get("/v1/audit/digest").json()["position"] >= 1


def test_a_wrong_method_on_a_known_path_is_405_with_allow(acme: Admin) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for method, path, allowed in (("DELETE", "/v1/apis", {"GET", "HEAD", "POST"}),
                                  ("PUT", f"/v1/apps/{missing}", None),
                                  ("POST", f"/v1/apis/{missing}", None)):
        r = acme.client.request(method, path, headers={"Authorization": f"Bearer {acme.token}"})
        assert r.status_code == 405, (method, path, r.text)
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
        assert method not in allow and (allowed is None or allow == allowed)
        assert r.json()["error"] == "method_not_allowed" and method in r.json()["message"]
    # An unknown path stays 404, and the methods a path takes still work.
    assert acme.client.request("PUT", "/v1/nothing-here").status_code == 404
    assert acme.get("/v1/apis").status_code == 200


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_instant_past_the_calendar_once_in_utc_is_400_not_500(acme: Admin, globex: Admin, instant: str) -> None:
    """Valid ISO 8601 whose UTC instant leaves years 1-9999 (issue 14.6): 400 naming the field."""
    api_id = _api(acme)
    app_id = _app(globex)["app_id"]
    r = acme.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "RELEASE", "until": instant})
    assert r.status_code == 400 and r.json()["field"] == "until", r.text
    r = globex.post("/v1/check", {"app_key": "whatever-key-1", "api_id": api_id, "at": instant})
    assert r.status_code == 400 and r.json()["field"] == "at", r.text
    assert acme.get(f"/v1/apis/{api_id}").json()["authorized_apps"] == []


def test_check_at_a_past_instant_answers_from_the_ledger_then(acme: Admin, globex: Admin) -> None:
    """Issue 17.3 over HTTP: an app created and granted today was "allowed" in 2025."""
    api_id = _api(acme)
    app = _app(globex, app_key="globex-key-2", app_secret=SECRET)
    assert acme.post("/v1/grants", {"app_id": app["app_id"], "api_id": api_id, "stage": "RELEASE"}).status_code == 200
    now = globex.post("/v1/check", {"app_key": "globex-key-2", "api_id": api_id}).json()
    past = globex.post("/v1/check", {"app_key": "globex-key-2", "api_id": api_id, "at": "2025-01-01T00:00:00Z"})
    assert now["allowed"] is True
    assert past.status_code == 200 and past.json()["allowed"] is False, past.text


def test_a_second_past_instant_question_meanwhile_is_503_busy_not_queued(acme: Admin, globex: Admin) -> None:
    """Attack: any token holder asks /v1/check at a past instant in a loop; each replays the whole
    log. One replay runs at a time; one asked meanwhile is refused at once (503 busy), and a
    question about now never waits for it (it is answered from the live index)."""
    from authledger.service.query_handlers import _PAST_REPLAY

    api_id = _api(acme)
    _app(globex, app_key="globex-key-3", app_secret=SECRET)
    with _PAST_REPLAY:  # a replay in progress
        busy = globex.post("/v1/check", {"app_key": "globex-key-3", "api_id": api_id, "at": "2025-01-01T00:00:00Z"})
        now = globex.post("/v1/check", {"app_key": "globex-key-3", "api_id": api_id})
    assert busy.status_code == 503 and busy.json()["error"] == "busy", busy.text
    assert now.status_code == 200
    again = globex.post("/v1/check", {"app_key": "globex-key-3", "api_id": api_id, "at": "2025-01-01T00:00:00Z"})
    assert again.status_code == 200


def test_a_grant_takes_a_description_shown_wherever_the_grant_is(ledger: Ledger, acme: Admin, globex: Admin) -> None:
    api_id = _api(acme)
    app_id = _app(globex)["app_id"]
    r = acme.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "RELEASE",
                                 "description": "partner integration (contract 7)"})
    assert r.status_code == 200, r.text
    assert acme.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "TEST"}).status_code == 200
    listed = {g["stage"]: g["description"] for g in acme.get("/v1/grants").json()["data"]}
    assert listed == {"RELEASE": "partner integration (contract 7)", "TEST": None}
    assert {g["stage"]: g["description"] for g in globex.get(f"/v1/apps/{app_id}").json()["grants"]} == listed
    authorized = acme.get(f"/v1/apis/{api_id}").json()["authorized_apps"]
    assert {a["stage"]: a["description"] for a in authorized} == listed

    # Bad input: 400 naming the field, nothing written.
    before = ledger.recorder.max_notification_id()
    for bad in ("x" * 181, 7, {"text": "no"}):
        r = acme.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": "PRE", "description": bad})
        assert r.status_code == 400 and r.json()["field"] == "description", r.text
    assert ledger.recorder.max_notification_id() == before
    doc = acme.get("/v1/openapi.json").json()
    body = doc["paths"]["/v1/grants"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["description"]["maxLength"] == 180
