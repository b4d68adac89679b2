"""Paging and filters on the /v1 lists (issue 15.3): limit, the sealed cursor, next, and the
tenant boundaries holding under both."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.tokens import issue_token
from tests.service.conftest import Admin


def _all(admin: Admin, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = admin.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= limit
        seen.extend(body["data"])
        cursor = body["next"]
        if cursor is None:
            return seen
        assert len(cursor) <= 64


@pytest.fixture
def shops(acme: Admin, globex: Admin) -> dict[str, Any]:
    api = acme.post("/v1/apis", {"name": "weather"}).json()["api_id"]
    maps = acme.post("/v1/apis", {"name": "maps"}).json()["api_id"]
    mine = [globex.post("/v1/apps", {"name": f"shopApp{i}", "tags": {"env": "prod" if i % 2 else "dev"}}).json()
            for i in range(7)]
    theirs = acme.post("/v1/apps", {"name": "shopAcme", "tags": {"env": "prod"}}).json()
    for app in mine:
        assert acme.post("/v1/grants", {"app_id": app["app_id"], "api_id": [api, maps], "stage": "RELEASE"}).status_code == 200
    return {"api": api, "maps": maps, "mine": mine, "theirs": theirs}


def test_pages_concatenate_to_the_whole_list_in_creation_order(globex: Admin, shops: dict[str, Any]) -> None:
    ids = [a["app_id"] for a in shops["mine"]]
    for limit in (1, 2, 3, 7, 100):
        assert [a["app_id"] for a in _all(globex, "/v1/apps", limit)] == ids
    grants = _all(globex, "/v1/grants", 4)
    assert len(grants) == 14 and len({(g["app_id"], g["api_id"]) for g in grants}) == 14
    first = globex.get("/v1/apps", params={"limit": 3}).json()
    assert [a["app_id"] for a in first["data"]] == ids[:3] and first["next"]
    # an app created while paging lands after the pages already read, never in them
    late = globex.post("/v1/apps", {"name": "shopLate"}).json()["app_id"]
    rest = globex.get("/v1/apps", params={"limit": 100, "cursor": first["next"]}).json()
    assert [a["app_id"] for a in rest["data"]] == ids[3:] + [late] and rest["next"] is None


def test_filters(acme: Admin, globex: Admin, shops: dict[str, Any]) -> None:
    mine = shops["mine"]
    names = lambda **p: [a["name"] for a in _all(globex, "/v1/apps", 2, **p)]  # noqa: E731
    assert names(name="SHOPAPP1") == ["shopApp1"]  # case-insensitive substring
    assert names(name="app") == [a["name"] for a in _all(globex, "/v1/apps", 100)]
    assert names(name=".*") == []  # plain text, never a pattern
    assert names(tag="env=prod") == ["shopApp1", "shopApp3", "shopApp5"]
    assert names(tag="env=prod", name="5") == ["shopApp5"]
    assert names(app_id=mine[2]["app_id"]) == ["shopApp2"]
    assert names(app_key=mine[4]["app_key"]) == ["shopApp4"]
    assert names(app_key=mine[4]["app_key"], app_id=mine[3]["app_id"]) == []
    by_app = _all(acme, "/v1/grants", 1, app_id=mine[0]["app_id"])
    assert {g["api_id"] for g in by_app} == {shops["api"], shops["maps"]}
    assert len(_all(acme, "/v1/grants", 3, api_id=shops["maps"])) == 7
    assert _all(acme, "/v1/grants", 3, api_id=shops["maps"], stage="TEST") == []


def test_a_filter_on_another_tenants_app_finds_nothing_of_theirs(acme: Admin, globex: Admin,
                                                                  shops: dict[str, Any]) -> None:
    """The attack: name another tenant's app by id, AppKey or name; filters narrow the caller's
    own listing, so the answer is the same empty page as for an id that names nothing."""
    theirs = shops["theirs"]
    for params in ({"app_id": theirs["app_id"]}, {"app_key": theirs["app_key"]}, {"name": "Acme"},
                   {"app_id": "00000000-0000-4000-8000-000000000000"}):
        r = globex.get("/v1/apps", params=params)
        assert r.status_code == 200 and r.json() == {"data": [], "next": None}, params
    assert globex.get("/v1/apps", params={"owner": "acme"}).status_code == 403
    # acme's own app holds no grant: globex, filtering grants by it, sees nothing
    assert globex.get("/v1/grants", params={"app_id": theirs["app_id"]}).json() == {"data": [], "next": None}


def test_a_cursor_from_another_listing_or_tenant_is_refused(ledger: Ledger, acme: Admin, globex: Admin,
                                                              shops: dict[str, Any]) -> None:
    """The attack: replay globex's cursor as acme (or on another filter, another list): 400, the
    same message as a garbled one, and nothing of globex's listing."""
    nxt = globex.get("/v1/apps", params={"limit": 2}).json()["next"]
    refused = [
        acme.get("/v1/apps", params={"cursor": nxt}),
        globex.get("/v1/apps", params={"cursor": nxt, "tag": "env=prod"}),
        globex.get("/v1/grants", params={"cursor": nxt}),
        globex.get("/v1/tokens", params={"cursor": nxt}),
    ]
    auditor = Admin(globex.client, issue_token(ledger, "audit-team", "t", role="auditor").revealed["token"], "audit-team")
    refused.append(auditor.get("/v1/apps", params={"cursor": nxt}))
    raw = bytearray(base64.urlsafe_b64decode(nxt + "=" * (-len(nxt) % 4)))
    raw[8] ^= 1  # another order key, the MAC left as it was
    refused.append(globex.get("/v1/apps", params={"cursor": base64.urlsafe_b64encode(bytes(raw)).decode()}))
    for garbled in ("x", "%%%", "A" * 65, nxt[:-2], nxt + "AA", "é" * 10):
        refused.append(globex.get("/v1/apps", params={"cursor": garbled}))
    messages = set()
    for r in refused:
        assert r.status_code == 400 and r.json()["field"] == "cursor", r.text
        messages.add(r.json()["message"])
        assert "shopApp" not in r.text
    assert len(messages) == 1
    assert globex.get("/v1/apps", params={"cursor": nxt}).status_code == 200  # its own still works


@pytest.mark.parametrize("value", ["0", "1001", "-1", "ten", "1.5", "", "99999999999", "１"])
def test_a_bad_limit_is_400_naming_it(globex: Admin, value: str) -> None:
    r = globex.get("/v1/apps", params={"limit": value})
    assert r.status_code == 400 and r.json()["field"] == "limit" and "1 to 1000" in r.json()["message"]


def test_bad_filters_are_400_and_every_list_pages(acme: Admin, globex: Admin, shops: dict[str, Any]) -> None:
    for params, field in (({"name": "x" * 65}, "name"), ({"name": "a\nb"}, "name"), ({"app_id": "nope"}, "app_id"),
                          ({"tag": "novalue"}, "tag"), ({"tag": [f"k{i}=v" for i in range(17)]}, "tag"),
                          ({"limit": ["1", "2"]}, "limit")):
        r = globex.get("/v1/apps", params=params)
        assert r.status_code == 400 and r.json()["field"] == field, (params, r.text)
    app = shops["mine"][0]["app_id"]
    globex.post(f"/v1/apps/{app}/keys", {})
    globex.post(f"/v1/apps/{app}/codes", {})
    globex.post("/v1/tokens", {"label": "ci"})
    acme.post("/v1/groups", {"name": "shop"})
    for admin, path, total in ((globex, f"/v1/apps/{app}/keys", 2), (globex, f"/v1/apps/{app}/codes", 2),
                               (globex, "/v1/tokens", 2), (acme, "/v1/groups", 2), (acme, "/v1/apis", 2)):
        first = admin.get(path, params={"limit": 1}).json()
        assert len(first["data"]) == 1 and first["next"], path
        assert len(_all(admin, path, 1)) == total, path
