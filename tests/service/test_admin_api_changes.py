"""Issue 17.5 over HTTP: APIs modified and deleted, grants listed, one error shape, 201 with
Location for every create, and the same ``until``/``for`` forms as the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.tokens import issue_token
from authledger.service.admin import OPERATIONS
from tests.service.conftest import Admin, TestClient

ERROR_KEYS = {"error", "message", "field"}
MISSING = "00000000-0000-4000-8000-000000000000"


def _api(admin: Admin, **body: Any) -> str:
    r = admin.post("/v1/apis", {"name": "items", "method": "GET", "path": "/v1/items/{id}", **body})
    assert r.status_code == 201, r.text
    return r.json()["api_id"]


def _app(admin: Admin, name: str = "shopApp", **body: Any) -> dict[str, Any]:
    r = admin.post("/v1/apps", {"name": name, **body})
    assert r.status_code == 201, r.text
    return r.json()


def _grant(admin: Admin, app_id: str, api_id: str, stage: str = "RELEASE", **body: Any) -> Any:
    return admin.post("/v1/grants", {"app_id": app_id, "api_id": api_id, "stage": stage, **body})


def test_the_owner_modifies_an_api_and_the_gateway_routes_by_the_new_settings(acme: Admin, globex: Admin) -> None:
    api_id = _api(acme)
    assert acme.client.get("/authz/v1/items/7").status_code != 404  # routed (then refused: unsigned)
    r = acme.patch(f"/v1/apis/{api_id}", {"path": "/v2/things/{id}", "appcode_mode": "HEADER", "name": "things"})
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    shown = acme.get(f"/v1/apis/{api_id}").json()
    assert (shown["path"], shown["appcode_mode"], shown["name"], shown["method"]) == \
        ("/v2/things/{id}", "HEADER", "things", "GET")
    assert acme.client.get("/authz/v1/items/7").status_code == 404  # the old path routes nowhere
    assert acme.client.get("/authz/v2/things/7").status_code != 404
    assert acme.patch(f"/v1/apis/{api_id}", {"method": "ANY"}).json()["changed"] is True
    assert acme.get(f"/v1/apis/{api_id}").json()["method"] == "ANY"
    assert acme.patch(f"/v1/apis/{api_id}", {"name": "things"}).json()["changed"] is False
    # Bad settings name their field and change nothing.
    for body, field in (({"appcode_mode": "SOMETIMES"}, "appcode_mode"), ({"path": "nope"}, "path"),
                        ({"nonce_required": "yes"}, "nonce_required"), ({"owner": "globex"}, "owner")):
        r = acme.patch(f"/v1/apis/{api_id}", body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)


def test_another_tenant_may_not_modify_or_delete_an_api_403_as_for_apps(acme: Admin, globex: Admin) -> None:
    api_id = _api(acme)
    app_id = _app(acme)["app_id"]
    for r in (globex.patch(f"/v1/apis/{api_id}", {"name": "mine"}), globex.delete(f"/v1/apis/{api_id}"),
              globex.patch(f"/v1/apps/{app_id}", {"description": "mine"}), globex.delete(f"/v1/apps/{app_id}")):
        assert r.status_code == 403 and r.json()["error"] == "not_permitted", r.text
    assert acme.get(f"/v1/apis/{api_id}").json()["name"] == "items"


def test_deleting_an_api_ends_its_grants_and_it_is_gone_404(acme: Admin, globex: Admin) -> None:
    api_id = _api(acme)
    other = _api(acme, name="others", path="/v1/others/{id}")
    app = _app(globex, app_key="globex-key-9", app_secret="CustomSecret-0123456789abcdef")
    assert _grant(acme, app["app_id"], api_id).status_code == 200
    assert _grant(acme, app["app_id"], other).status_code == 200
    assert globex.post("/v1/check", {"app_key": "globex-key-9", "api_id": api_id}).json()["allowed"] is True
    r = acme.delete(f"/v1/apis/{api_id}")
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    decision = globex.post("/v1/check", {"app_key": "globex-key-9", "api_id": api_id}).json()
    assert (decision["allowed"], decision["reason"]) == (False, "unknown_api")
    assert acme.client.get("/authz/v1/items/7").status_code == 404
    for r in (acme.get(f"/v1/apis/{api_id}"), acme.patch(f"/v1/apis/{api_id}", {"name": "again"}),
              acme.delete(f"/v1/apis/{api_id}"), _grant(acme, app["app_id"], api_id, "PRE"),
              acme.post("/v1/revoke", {"app_id": app["app_id"], "api_id": api_id, "stage": "RELEASE"})):
        assert r.status_code == 404 and r.json()["field"] == "api_id", r.text
    assert api_id not in [a["api_id"] for a in acme.get("/v1/apis").json()["data"]]
    assert [g["api_id"] for g in globex.get(f"/v1/apps/{app['app_id']}").json()["grants"]] == [other]
    assert [g["api_id"] for g in globex.get("/v1/grants").json()["data"]] == [other]
    # Its history stays for its owner's audits.
    events = acme.get("/v1/audit/history", params={"api_id": api_id}).json()["events"]
    assert "ApiDeleted" in [e["type"] for e in events]
    now = acme.get("/v1/audit/who-could-call", params={"api_id": api_id}).json()
    assert now["could_call"] == []


def test_grants_are_listed_with_filters_and_only_for_their_api_or_app_owners(
        ledger: Ledger, client: TestClient, acme: Admin, globex: Admin) -> None:
    initech = Admin(client, issue_token(ledger, "initech", "tests").revealed["token"], "initech")
    weather, maps = _api(acme, name="weather", path="/w/{c}"), _api(acme, name="maps", path="/m/{c}")
    theirs = _api(initech, name="theirs", path="/t/{c}")
    shop, blog = _app(globex, "shopApp")["app_id"], _app(globex, "blogApp")["app_id"]
    own = _app(initech, "ownApp")["app_id"]
    assert _grant(acme, [shop, blog], weather).status_code == 200
    assert _grant(acme, shop, maps, "TEST", **{"for": "1h"}).status_code == 200
    assert _grant(initech, own, theirs).status_code == 200

    def pairs(admin: Admin, **params: str) -> set[tuple[str, str, str]]:
        r = admin.get("/v1/grants", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["next"] is None  # one page holds them all (limit 100)
        return {(g["app_id"], g["api_id"], g["stage"]) for g in body["data"]}

    assert pairs(acme) == {(shop, weather, "RELEASE"), (blog, weather, "RELEASE"), (shop, maps, "TEST")}
    assert pairs(globex) == pairs(acme)  # the apps' owner sees the grants its apps hold
    assert pairs(initech) == {(own, theirs, "RELEASE")}  # nothing of the other tenants
    assert pairs(acme, app_id=shop) == {(shop, weather, "RELEASE"), (shop, maps, "TEST")}
    assert pairs(acme, api_id=weather) == {(shop, weather, "RELEASE"), (blog, weather, "RELEASE")}
    assert pairs(acme, stage="TEST") == {(shop, maps, "TEST")}
    assert pairs(acme, app_id=shop, api_id=maps, stage="TEST") == {(shop, maps, "TEST")}
    assert pairs(initech, app_id=shop) == set()
    one = acme.get("/v1/grants", params={"api_id": maps}).json()["data"][0]
    assert one["in_force"] is True and one["until"] and one["granted_by"] == "acme"
    assert (one["app_name"], one["api_name"], one["app_owner"], one["api_owner"]) == \
        ("shopApp", "maps", "globex", "acme")
    for params, field in (({"stage": "PROD"}, "stage"), ({"app_id": "x"}, "app_id"), ({"api_id": "x"}, "api_id"),
                          ({"owner": "acme"}, "owner")):
        r = acme.get("/v1/grants", params=params)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    # Revoked grants and grants of deleted apps are not listed (the audit trail has them).
    assert acme.post("/v1/revoke", {"app_id": blog, "api_id": weather, "stage": "RELEASE"}).status_code == 200
    assert globex.delete(f"/v1/apps/{shop}").status_code == 200
    assert pairs(acme) == set()


def test_every_error_path_answers_the_same_three_keys(ledger: Ledger, client: TestClient, acme: Admin,
                                                      globex: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    api_id = _api(acme)
    app = _app(globex, app_key="globex-key-8", app_secret="CustomSecret-0123456789abcdef")
    auth = {"Authorization": f"Bearer {acme.token}"}
    answers: dict[str, Any] = {
        "404 route": client.get("/v1/nothing-here", headers=auth),
        "405": client.put("/v1/apis", headers=auth),
        "413": acme.post("/v1/apps", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                         headers={"Content-Type": "application/json"}),
        "415": acme.post("/v1/apps", content=b"name=shopApp", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        "400 json": acme.post("/v1/apps", content=b'{"name": ', headers={"Content-Type": "application/json"}),
        "400 field": acme.post("/v1/apps", {"name": "x"}),
        "400 query": acme.get("/v1/apis", params={"nope": "1"}),
        "401": client.get("/v1/apis"),
        "401 bad": client.get("/v1/apis", headers={"Authorization": "Bearer al_nope"}),
        "403": globex.delete(f"/v1/apis/{api_id}"),
        "404 id": acme.get(f"/v1/apis/{MISSING}"),
        "409": globex.post(f"/v1/apps/{app['app_id']}/keys", {"app_key": "globex-key-8"}),
        "422": None,
        "503": None,
        "500": None,
    }
    first = acme.post("/v1/tokens", {"label": "a"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    answers["422"] = acme.post("/v1/tokens", {"label": "b"}, headers={"Idempotency-Key": "k-1"})
    from authledger.service.query_handlers import _PAST_REPLAY

    with _PAST_REPLAY:
        answers["503"] = globex.post("/v1/check", {"app_key": "globex-key-8", "api_id": api_id,
                                                   "at": "2025-01-01T00:00:00Z"})
    from projections.catalog_index import CatalogIndex

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("a bug with a secret-looking text al_123")

    monkeypatch.setattr(CatalogIndex, "api_page", broken)
    answers["500"] = acme.get("/v1/apis")
    statuses = {}
    for name, r in answers.items():
        assert r.headers["content-type"].startswith("application/json"), name
        body = r.json()
        assert set(body) == ERROR_KEYS, (name, body)
        assert isinstance(body["error"], str) and isinstance(body["message"], str), name
        assert body["field"] is None or isinstance(body["field"], str), name
        statuses[name] = r.status_code
    assert statuses == {"404 route": 404, "405": 405, "413": 413, "415": 415, "400 json": 400, "400 field": 400,
                        "400 query": 400, "401": 401, "401 bad": 401, "403": 403, "404 id": 404, "409": 409,
                        "422": 422, "503": 503, "500": 500}
    assert "al_123" not in answers["500"].text
    assert answers["405"].headers["Allow"] and answers["401"].headers["WWW-Authenticate"]
    assert answers["503"].headers["Retry-After"] == "1"


def test_a_body_that_is_not_json_is_415_and_json_without_a_content_type_still_works(acme: Admin) -> None:
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = acme.post("/v1/apis", content=b'{"name": "items"}', headers={"Content-Type": ctype})
        assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type", (ctype, r.text)
    assert acme.get("/v1/apis").json()["data"] == []  # nothing was written
    for ctype in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
        r = acme.post("/v1/apis", content=b'{"name": "items"}', headers={"Content-Type": ctype})
        assert r.status_code == 201, (ctype, r.text)
    r = acme.client.post("/v1/apis", content=b'{"name": "more"}', headers={"Authorization": f"Bearer {acme.token}"})
    assert r.status_code == 201, r.text


def test_every_create_answers_201_with_the_location_of_what_it_made(acme: Admin) -> None:
    creates = [op for op in OPERATIONS if op.status == 201]
    assert {op.op_id for op in creates} == {"registerApi", "createApp", "addKey", "addCode", "issueToken",
                                            "createGroup"}
    assert all(op.location for op in creates)
    api = acme.post("/v1/apis", {"name": "items"})
    app = acme.post("/v1/apps", {"name": "shopApp"})
    app_id = app.json()["app_id"]
    made = {"registerApi": api, "createApp": app,
            "addKey": acme.post(f"/v1/apps/{app_id}/keys", {"app_key": "acme-key-77"}),
            "addCode": acme.post(f"/v1/apps/{app_id}/codes", {}),
            "issueToken": acme.post("/v1/tokens", {"label": "ci"}),
            "createGroup": acme.post("/v1/groups", {"name": "shop"})}
    for op_id, r in made.items():
        assert r.status_code == 201, (op_id, r.text)
        location = r.headers["Location"]
        shown = acme.get(location)
        assert shown.status_code == 200, (op_id, location, shown.text)
        body = r.json()
        if op_id == "registerApi":
            assert location == f"/v1/apis/{body['api_id']}" and shown.json()["api_id"] == body["api_id"]
        elif op_id == "createApp":
            assert location == f"/v1/apps/{app_id}" and shown.json()["app_id"] == app_id
        elif op_id == "addKey":
            assert location == f"/v1/apps/{app_id}/keys/acme-key-77"
            assert shown.json()["app_key"] == "acme-key-77" and shown.json()["app_secret"] == "********"
        elif op_id == "addCode":
            assert location == f"/v1/apps/{app_id}/codes"  # an AppCode is a secret: never in a URL
            assert body["app_code"] not in shown.text and len(shown.json()["data"]) == 2
        elif op_id == "createGroup":
            assert location == f"/v1/groups/{body['group_id']}" and shown.json()["group_id"] == body["group_id"]
        else:
            assert location == f"/v1/tokens/{body['token_id']}" and body["token"] not in shown.text
    # A grant has no address of its own ((app, API, stage), given or renewed, in bulk): 200, no Location.
    g = acme.post("/v1/grants", {"app_id": app_id, "api_id": api.json()["api_id"], "stage": "RELEASE"})
    assert g.status_code == 200 and "Location" not in g.headers
    # A replay under the same key says where the resource is too.
    first = acme.post("/v1/apps", {"name": "keyedApp"}, headers={"Idempotency-Key": "create-1"})
    again = acme.post("/v1/apps", {"name": "keyedApp"}, headers={"Idempotency-Key": "create-1"})
    assert again.status_code == 200 and again.headers["Location"] == first.headers["Location"]


def test_other_accounts_get_403_on_the_new_read_endpoints(acme: Admin, globex: Admin) -> None:
    app_id = _app(acme)["app_id"]
    key = acme.get(f"/v1/apps/{app_id}/keys").json()["data"][0]["app_key"]
    token_id = acme.post("/v1/tokens", {}).json()["token_id"]
    for path in (f"/v1/apps/{app_id}/keys/{key}", f"/v1/apps/{app_id}/codes"):
        assert globex.get(path).status_code == 403, path
    assert acme.get(f"/v1/apps/{app_id}/keys/unknown-key-1").status_code == 404
    assert acme.get(f"/v1/tokens/{MISSING}").status_code == 404
    # Another account's token answers as an unknown one (issue 14.3: token ids are no oracle).
    theirs, unknown = globex.get(f"/v1/tokens/{token_id}"), globex.get(f"/v1/tokens/{MISSING}")
    assert theirs.status_code == 404
    assert theirs.json() == {**unknown.json(), "message": unknown.json()["message"].replace(MISSING, token_id)}


FORMS = [("45s", timedelta(seconds=45)), ("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)),
         ("30d", timedelta(days=30)), ("2w", timedelta(weeks=2)), (" 7d ", timedelta(days=7))]
BAD_FORMS = ["0d", "1y", "-1d", "1.5h", "", "d", "30", "١٢h", "30D", "99999999999w"]


@pytest.mark.parametrize(("form", "delta"), FORMS)
def test_http_for_takes_each_duration_form(acme: Admin, globex: Admin, form: str, delta: timedelta) -> None:
    api_id, app_id = _api(acme), _app(globex)["app_id"]
    before = datetime.now(UTC)
    r = _grant(acme, app_id, api_id, **{"for": form})
    after = datetime.now(UTC)
    assert r.status_code == 200, r.text
    until = datetime.fromisoformat(r.json()["until"])
    assert before + delta <= until <= after + delta


@pytest.mark.parametrize("form", BAD_FORMS)
def test_http_for_refuses_what_the_cli_refuses(acme: Admin, globex: Admin, form: str) -> None:
    api_id, app_id = _api(acme), _app(globex)["app_id"]
    r = _grant(acme, app_id, api_id, **{"for": form})
    assert r.status_code == 400 and r.json()["field"] == "for", r.text


def test_http_until_forms_and_until_with_for(acme: Admin, globex: Admin) -> None:
    api_id, app_id = _api(acme), _app(globex)["app_id"]
    for until, want in (("2999-01-01T00:00:00Z", "2999-01-01T00:00:00Z"),
                        ("2999-01-01T02:00:00+02:00", "2999-01-01T00:00:00Z")):
        r = _grant(acme, app_id, api_id, until=until)
        assert r.status_code == 200 and r.json()["until"] == want, r.text
    for until in ("2999-01-01T00:00:00", "tomorrow", "2000-01-01T00:00:00Z"):
        r = _grant(acme, app_id, api_id, until=until)
        assert r.status_code == 400 and r.json()["field"] == "until", (until, r.text)
    r = _grant(acme, app_id, api_id, until="2999-01-01T00:00:00Z", **{"for": "1d"})
    assert r.status_code == 400 and r.json()["field"] == "for", r.text


def test_the_openapi_document_has_the_new_operations(client: TestClient) -> None:
    doc = client.get("/v1/openapi.json").json()
    ops = {op["operationId"]: (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()}
    for op_id, path, method in (("modifyApi", "/v1/apis/{api_id}", "patch"), ("deleteApi", "/v1/apis/{api_id}", "delete"),
                                ("listGrants", "/v1/grants", "get"), ("showKey", "/v1/apps/{app_id}/keys/{app_key}", "get"),
                                ("listCodes", "/v1/apps/{app_id}/codes", "get"), ("showToken", "/v1/tokens/{token_id}", "get")):
        assert ops[op_id][:2] == (path, method)
    assert {p["name"] for p in ops["listGrants"][2]["parameters"]} == {"app_id", "api_id", "stage", "limit", "cursor"}
    assert "Location" in ops["createApp"][2]["responses"]["201"]["headers"]
    assert "415" in ops["modifyApi"][2]["responses"] and "415" not in ops["deleteApi"][2]["responses"]
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == ERROR_KEYS and error["additionalProperties"] is False
