"""API groups and hosts over HTTP (issue 13, point 1): the admin API, and /authz routing by host.

The attacks, each named: another tenant registers the victim's path or a shadowing one
(409); a ledger older than groups already holds such a shadowing API (/authz refuses the
ambiguous request instead of routing it to the attacker); a tenant claims another's host
(409) or registers into a host it does not hold (404); hostile hosts (400 at binding; "no
group" at /authz, never a crash).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from ledger.application import Ledger
from authledger.service.app import create_app
from tests.legacy import legacy_api
from tests.service.conftest import Admin, TestClient
from tests.service.test_authz import KEY, SECRET, signed


def _app(admin: Admin, name: str = "shopApp") -> str:
    r = admin.post("/v1/apps", {"name": name, "app_key": KEY, "app_secret": SECRET})
    assert r.status_code == 201, r.text
    return str(r.json()["app_id"])


def _grant(admin: Admin, app: str, api: str) -> None:
    assert admin.post("/v1/grants", {"app_id": app, "api_id": api, "stage": "RELEASE"}).status_code == 200


def _reasons(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [json.loads(r.getMessage()).get("reason") for r in caplog.records if r.name == "authledger.access"]


# -- the admin API ------------------------------------------------------------------------------


def test_groups_over_the_admin_api(acme: Admin, globex: Admin) -> None:
    r = acme.post("/v1/groups", {"name": "shop", "description": "the shop"})
    assert r.status_code == 201, r.text
    gid = r.json()["group_id"]
    r = acme.post(f"/v1/groups/{gid}/hosts", {"host": "Shop.Example.COM.:443"})
    assert r.status_code == 200 and r.json()["host"] == "shop.example.com" and r.json()["changed"]
    shown = acme.get(f"/v1/groups/{gid}").json()
    assert shown["name"] == "shop" and shown["hosts"] == ["shop.example.com"] and shown["owner"] == "acme"
    listed = acme.get("/v1/groups").json()
    assert [g["name"] for g in listed["data"]] == ["default", "shop"] and listed["data"][0]["default"]
    # another account sees nothing of it, cannot bind to it, unbind from it, or claim its host
    assert globex.get(f"/v1/groups/{gid}").status_code == 404
    assert globex.post(f"/v1/groups/{gid}/hosts", {"host": "x.example.com"}).status_code == 404
    assert globex.delete(f"/v1/groups/{gid}/hosts/shop.example.com").status_code == 404
    other = globex.post("/v1/groups", {"name": "globex"}).json()["group_id"]
    r = globex.post(f"/v1/groups/{other}/hosts", {"host": "SHOP.example.com"})
    assert r.status_code == 409 and r.json() == {"error": "conflict", "message": "host already bound: shop.example.com",
                                                 "field": "host"}
    assert [g["name"] for g in globex.get("/v1/groups").json()["data"]] == ["default", "globex"]
    # an API in the group names it
    r = acme.post("/v1/apis", {"name": "items", "path": "/v1/items/{id}", "group_id": gid})
    assert r.status_code == 201 and r.json()["group_id"] == gid
    api = acme.get(f"/v1/apis/{r.json()['api_id']}").json()
    assert (api["group_id"], api["group_name"]) == (gid, "shop")
    assert [a["group_name"] for a in acme.get("/v1/apis").json()["data"]] == ["shop"]
    assert globex.post("/v1/apis", {"name": "x", "path": "/x", "group_id": gid}).status_code == 404
    # unbinding: 200, then the host is free
    assert acme.delete(f"/v1/groups/{gid}/hosts/shop.example.com").status_code == 200
    assert globex.post(f"/v1/groups/{other}/hosts", {"host": "shop.example.com"}).status_code == 200


@pytest.mark.parametrize("body", [{"host": "*.example.com"}, {"host": "[::1]"}, {"host": "127.1"}, {"host": 7},
                                  {}, {"host": "a b"}, {"host": "x" * 300}])
def test_hostile_hosts_are_400_and_write_nothing(acme: Admin, ledger: Ledger, body: dict[str, Any]) -> None:
    gid = acme.post("/v1/groups", {"name": "shop"}).json()["group_id"]
    before = ledger.recorder.max_notification_id()
    r = acme.post(f"/v1/groups/{gid}/hosts", body)
    assert r.status_code == 400 and r.json()["field"] == "host", r.text
    assert ledger.recorder.max_notification_id() == before


@pytest.mark.parametrize("body", [{"name": "default"}, {"name": ""}, {}, {"name": 1}, {"name": "ok", "x": 1}])
def test_bad_group_bodies_are_400(acme: Admin, body: dict[str, Any]) -> None:
    assert acme.post("/v1/groups", body).status_code == 400


def test_the_openapi_document_has_the_group_operations(client: TestClient) -> None:
    paths = client.get("/v1/openapi.json").json()["paths"]
    assert set(paths["/v1/groups"]) == {"get", "post"}
    assert "post" in paths["/v1/groups/{group_id}/hosts"] and "delete" in paths["/v1/groups/{group_id}/hosts/{host}"]
    body = paths["/v1/apis"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "group_id" in body


# -- /authz -----------------------------------------------------------------------------------


def test_attack_shadowing_path_by_another_tenant_is_refused_at_registration(acme: Admin, globex: Admin) -> None:
    acme.post("/v1/apis", {"name": "weather", "path": "/v1/weather/{city}", "auth_type": "ANONYMOUS"})
    for path in ("/v1/weather/{city}", "/v1/weather/paris"):
        r = globex.post("/v1/apis", {"name": "capture", "path": path, "auth_type": "ANONYMOUS"})
        assert r.status_code == 409 and "bind a host" in r.json()["message"] and "acme" not in r.text


def test_attack_legacy_shadowing_api_is_refused_at_authz_never_routed_to_the_attacker(
        ledger: Ledger, app: Any, acme: Admin, client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A ledger written before groups holds globex's /v1/items/special beside acme's /v1/items/{id}:
    "most specific wins" handed acme's consumers' special requests to globex."""
    victim = acme.post("/v1/apis", {"name": "items", "path": "/v1/items/{id}"}).json()["api_id"]
    _grant(acme, _app(acme), victim)
    legacy_api(ledger, "globex", "capture", path_pattern="/v1/items/special", auth_type="ANONYMOUS")
    last = int(ledger.recorder.max_notification_id() or 0)
    deadline = time.monotonic() + 10
    while app.state.service.index.position < last and time.monotonic() < deadline:  # the follower applies it
        time.sleep(0.01)
    with caplog.at_level(logging.INFO, logger="authledger.access"):
        r = client.get("/authz", headers=signed("GET", "/v1/items/special"))
        ok = client.get("/authz", headers=signed("GET", "/v1/items/7"))
    assert (r.status_code, r.headers["x-ca-error-message"]) == (404, "Invalid Url")
    assert "ambiguous_route" in _reasons(caplog)
    assert ok.status_code == 200  # no ambiguity there: acme's API as before


def _caught_up(served: Any, ledger: Ledger) -> None:
    """Wait until the server's index holds everything written to the ledger so far."""
    last = int(ledger.recorder.max_notification_id() or 0)
    deadline = time.monotonic() + 10
    while served.state.service.index.position < last and time.monotonic() < deadline:
        time.sleep(0.01)


def test_old_ledger_without_group_ids_routes_and_verifies_as_before(ledger: Ledger, app: Any,
                                                                    client: TestClient) -> None:
    api = legacy_api(ledger, "acme", "items", http_method="GET", path_pattern="/v1/items/{id}")
    legacy_api(ledger, "acme", "special", http_method="GET", path_pattern="/v1/items/special")  # one owner
    app_id = ledger.create_app("acme", "shopApp", app_key=KEY, app_secret=SECRET).ids["app_id"]
    ledger.grant("acme", app_id, api, "RELEASE")
    _caught_up(app, ledger)  # written straight to the ledger: the follower applies it a moment later
    r = client.get("/authz", headers=signed("GET", "/v1/items/42"))
    assert r.status_code == 200 and r.headers["x-ca-app-id"] == app_id
    # one owner's overlap: the most specific wins (here: the special API, not granted)
    assert client.get("/authz", headers=signed("GET", "/v1/items/special")).status_code == 403
    # any host header: the same, as no host is bound
    assert client.get("/authz", headers={**signed("GET", "/v1/items/9"), "Host": "x.test"}).status_code == 200


def _two_tenants_on_two_hosts(acme: Admin, globex: Admin) -> dict[str, str]:
    ids = {}
    for admin, host in ((acme, "api.acme.test"), (globex, "api.globex.test")):
        gid = admin.post("/v1/groups", {"name": admin.account}).json()["group_id"]
        assert admin.post(f"/v1/groups/{gid}/hosts", {"host": host}).status_code == 200
        r = admin.post("/v1/apis", {"name": "weather", "path": "/v1/weather/{city}", "group_id": gid})
        assert r.status_code == 201, r.text
        ids[admin.account] = r.json()["api_id"]
        ids[admin.account + "_group"] = gid
    return ids


def test_two_groups_on_two_hosts_with_the_same_path_each_reach_their_own_api(
        acme: Admin, globex: Admin, client: TestClient) -> None:
    ids = _two_tenants_on_two_hosts(acme, globex)
    _grant(acme, _app(acme), ids["acme"])
    h = signed("GET", "/v1/weather/paris")
    r = client.get("/authz", headers={**h, "Host": "API.Acme.test.:443"})
    assert r.status_code == 200, r.headers.get("x-ca-error-message")
    # the same request to globex's host is checked against globex's API: not granted
    h = signed("GET", "/v1/weather/paris")
    r = client.get("/authz", headers={**h, "Host": "api.globex.test"})
    assert (r.status_code, r.headers["x-ca-error-message"]) == (403, "Unauthorized")
    # without the forwarded header, Host decides
    h = signed("GET", "/v1/weather/rome")
    assert client.get("/authz", headers={**h, "Host": "api.acme.test"}).status_code == 200
    # a host bound to no group: neither API (both are on hosts)
    r = client.get("/authz", headers={**signed("GET", "/v1/weather/x"), "Host": "other.test"})
    assert (r.status_code, r.headers["x-ca-error-message"]) == (404, "Invalid Url")


def test_attack_a_tenant_cannot_route_into_another_tenants_host(acme: Admin, globex: Admin, client: TestClient) -> None:
    ids = _two_tenants_on_two_hosts(acme, globex)
    acme_app = _app(acme)
    _grant(acme, acme_app, ids["acme"])
    # globex adds a more specific API in another group of its own (on another host), and one in
    # its default group: neither is reached by requests to acme's host
    second = globex.post("/v1/groups", {"name": "second"}).json()["group_id"]
    assert globex.post(f"/v1/groups/{second}/hosts", {"host": "x.globex.test"}).status_code == 200
    r = globex.post("/v1/apis", {"name": "special", "path": "/v1/weather/paris", "group_id": second,
                                 "auth_type": "ANONYMOUS"})
    assert r.status_code == 201
    assert globex.post("/v1/apis", {"name": "plain", "path": "/v1/weather/paris", "auth_type": "ANONYMOUS"}
                       ).status_code == 201
    r = client.get("/authz", headers={**signed("GET", "/v1/weather/paris"), "Host": "api.acme.test"})
    assert r.status_code == 200 and r.headers["x-ca-app-id"] == acme_app


@pytest.mark.parametrize("host", ["bad host", "*.acme.test", "[::1]:80", "\u00e9.test", "a" * 5000, "",
                                  "api.acme.test:99999", "api.acme.test\tx", "api.acme..test"])
def test_a_hostile_host_at_authz_is_no_group_never_a_crash(acme: Admin, globex: Admin, client: TestClient,
                                                           host: str) -> None:
    _two_tenants_on_two_hosts(acme, globex)
    headers: dict[str, Any] = {**signed("GET", "/v1/weather/x"), "Host": host.encode("utf-8")}
    r = client.get("/authz", headers=headers)
    assert (r.status_code, r.headers["x-ca-error-message"]) == (404, "Invalid Url")


def test_host_header_is_configurable(ledger: Ledger, acme: Admin, globex: Admin) -> None:
    ids = _two_tenants_on_two_hosts(acme, globex)
    _grant(acme, _app(acme), ids["acme"])
    app = create_app(ledger, host_header="X-Forwarded-Host")
    try:
        deadline = time.monotonic() + 10
        while not app.state.service.ready() and time.monotonic() < deadline:  # 503 until caught up
            time.sleep(0.01)
        c = TestClient(app, raise_server_exceptions=False)
        h = {**signed("GET", "/v1/weather/paris"), "X-Forwarded-Host": "api.acme.test", "X-Original-Host": "nope.test"}
        assert c.get("/authz", headers=h).status_code == 200
    finally:
        app.state.service.close()


def test_attack_a_client_x_original_host_never_moves_a_request_into_another_group(
        ledger: Ledger, acme: Admin, globex: Admin, client: TestClient) -> None:
    """Attack: behind a gateway config that does not set X-Original-Host (one written before
    groups), the client's own copy reached /authz. Routed by it, a request nginx sends to
    api.globex.test's backend was verified against acme's API of the same path on
    api.acme.test — which acme's app is granted: a 200 for globex's backend. The default is
    the Host the gateway itself routed by; X-Original-Host counts only when configured."""
    ids = _two_tenants_on_two_hosts(acme, globex)
    _grant(acme, _app(acme), ids["acme"])
    forged = {**signed("GET", "/v1/weather/paris"), "Host": "api.globex.test", "X-Original-Host": "api.acme.test"}
    r = client.get("/authz", headers=forged)
    assert r.status_code == 403 and r.headers["x-ca-error-message"] == "Unauthorized"  # globex's API: not granted
    honest = {**signed("GET", "/v1/weather/paris"), "Host": "api.acme.test"}
    assert client.get("/authz", headers=honest).status_code == 200


def test_serve_and_gateway_refuse_a_bad_host_header_name(run: Any) -> None:
    for command in (["serve"], ["gateway", "--redis", "redis://127.0.0.1:1/0"]):
        r = run(*command, "--host-header", "Bad Header:", db=command == ["serve"])
        assert r.code == 2 and "host header" in r.err, (command, r.err)


def test_a_host_bound_later_takes_effect_at_once(ledger: Ledger, acme: Admin, client: TestClient) -> None:
    gid = acme.post("/v1/groups", {"name": "shop"}).json()["group_id"]
    api = acme.post("/v1/apis", {"name": "w", "path": "/v1/w", "group_id": gid}).json()["api_id"]
    _grant(acme, _app(acme), api)
    assert client.get("/authz", headers={**signed("GET", "/v1/w"), "Host": "shop.test"}).status_code == 200
    acme.post(f"/v1/groups/{gid}/hosts", {"host": "shop.test"})
    assert client.get("/authz", headers={**signed("GET", "/v1/w"), "Host": "shop.test"}).status_code == 200
    r = client.get("/authz", headers={**signed("GET", "/v1/w"), "Host": "elsewhere.test"})
    assert r.status_code == 404  # the group is on shop.test now


def test_who_could_call_over_http_names_the_group(acme: Admin) -> None:
    gid = acme.post("/v1/groups", {"name": "shop"}).json()["group_id"]
    api = acme.post("/v1/apis", {"name": "items", "path": "/v1/items/{id}", "group_id": gid}).json()["api_id"]
    _grant(acme, _app(acme), api)
    r = acme.get("/v1/audit/who-could-call", params={"api_id": api})
    assert r.status_code == 200, r.text
    assert (r.json()["group_id"], r.json()["group_name"]) == (gid, "shop") and len(r.json()["could_call"]) == 1
