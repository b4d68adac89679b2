"""The admin API's ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header).

A re-sent POST with the same key, path and body: 200, ``Idempotent-Replayed: true``, the
first response's ids, no secret, nothing written. Same key, other request: 422. A malformed
key, two keys, or a key on an operation that does not take one: 400.
"""

from __future__ import annotations

from collections import Counter

import pytest

from ledger.application import Ledger
from authledger.service.admin import OPERATIONS
from authledger.service.openapi import document
from tests.service.conftest import Admin

KEY = {"Idempotency-Key": "order-42"}


def _events(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_a_resent_create_returns_the_first_app_and_writes_nothing(acme: Admin, ledger: Ledger) -> None:
    first = acme.post("/v1/apps", {"name": "shopApp", "tags": {"env": "prod"}}, headers=KEY)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    n = _events(ledger)
    # The draft's sf-string form ("...") names the same key.
    for headers in (KEY, {"Idempotency-Key": '"order-42"'}):
        again = acme.post("/v1/apps", {"tags": {"env": "prod"}, "name": "shopApp"}, headers=headers)
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        a, b = first.json(), again.json()
        assert b["app_id"] == a["app_id"] and b["app_key"] == a["app_key"] and b["position"] == a["position"]
        assert b["replayed"] is True and sorted(b["withheld"]) == ["app_code", "app_secret"]
        assert a["app_secret"] not in again.text and a["app_code"] not in again.text
    assert _events(ledger) == n
    assert Counter(x.topic for x in ledger.recorder.select_notifications(1, 100))["authledger:AppCreated"] == 1


def test_the_same_key_with_another_request_is_422_and_writes_nothing(acme: Admin, ledger: Ledger) -> None:
    app = acme.post("/v1/apps", {"name": "shopApp"}, headers=KEY).json()
    other = acme.post("/v1/apps", {"name": "shopApp2"}).json()
    n = _events(ledger)
    for path, body in [("/v1/apps", {"name": "otherApp"}),           # another body
                       (f"/v1/apps/{other['app_id']}/keys", {}),      # another operation
                       ("/v1/tokens", {"label": "x"})]:
        r = acme.post(path, body, headers=KEY)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"] == "idempotency_key_reused" and r.json()["field"] == "idempotency_key"
    # The same key on another app's path is another request too.
    acme.post(f"/v1/apps/{app['app_id']}/keys", {}, headers={"Idempotency-Key": "add-1"})
    n = _events(ledger)
    r = acme.post(f"/v1/apps/{other['app_id']}/keys", {}, headers={"Idempotency-Key": "add-1"})
    assert r.status_code == 422
    assert _events(ledger) == n


def test_keys_belong_to_the_calling_account(acme: Admin, globex: Admin) -> None:
    a = acme.post("/v1/apps", {"name": "shopApp"}, headers=KEY)
    b = globex.post("/v1/apps", {"name": "shopApp"}, headers=KEY)
    assert a.status_code == b.status_code == 201
    assert a.json()["app_id"] != b.json()["app_id"]


@pytest.mark.parametrize("value", ["", " ", "x" * 256, "caf\u00e9".encode(), '""'], ids=["empty", "space", "256", "utf8", "quotes"])
def test_a_malformed_key_is_400(acme: Admin, ledger: Ledger, value: str | bytes) -> None:
    r = acme.post("/v1/apps", {"name": "shopApp"}, headers={"Idempotency-Key": value})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "idempotency_key"
    assert _events(ledger) == 1  # the test token only


def test_two_keys_or_a_key_where_none_is_taken_is_400(acme: Admin, ledger: Ledger) -> None:
    app = acme.post("/v1/apps", {"name": "shopApp"}).json()
    n = _events(ledger)
    r = acme.client.post("/v1/apps", json={"name": "shopApp"}, headers=[
        ("Authorization", f"Bearer {acme.token}"), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert r.status_code == 400 and "one Idempotency-Key" in r.json()["message"]
    r = acme.patch(f"/v1/apps/{app['app_id']}", {"description": "x"}, headers=KEY)
    assert r.status_code == 400 and r.json()["message"] == "modifyApp does not take an Idempotency-Key header"
    assert _events(ledger) == n


def test_every_idempotent_operation_replays(acme: Admin, globex: Admin, ledger: Ledger) -> None:
    api = acme.post("/v1/apis", {"name": "items"}).json()["api_id"]
    app = globex.post("/v1/apps", {"name": "shopApp"}).json()
    calls = [
        (acme, "/v1/apis", {"name": "items2"}, 201),
        (globex, f"/v1/apps/{app['app_id']}/keys", {}, 201),
        (globex, f"/v1/keys/{app['app_key']}/reset", {}, 200),
        (globex, f"/v1/apps/{app['app_id']}/codes", {}, 201),
        (globex, "/v1/codes/reset", {"code": app["app_code"]}, 200),
        (acme, "/v1/grants", {"app_id": app["app_id"], "api_id": api, "stage": "TEST", "for": "30d"}, 200),
        (globex, "/v1/tokens", {"label": "ci"}, 201),
        (acme, "/v1/groups", {"name": "shop"}, 201),
    ]
    for i, (who, path, body, status) in enumerate(calls):
        headers = {"Idempotency-Key": f"call-{i}"}
        first = who.post(path, body, headers=headers)
        assert first.status_code == status, (path, first.text)
        n = _events(ledger)
        again = who.post(path, body, headers=headers)
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true", (path, again.text)
        assert again.json()["position"] == first.json()["position"]
        for secret in ("app_secret", "app_code", "token"):
            if secret in first.json():
                assert first.json()[secret] not in again.text and secret in again.json()["withheld"]
        assert _events(ledger) == n, path


def test_the_openapi_document_describes_the_header_where_it_is_taken() -> None:
    doc = document()
    for op in OPERATIONS:
        entry = doc["paths"][op.path][op.method.lower()]
        headers = [p["name"] for p in entry["parameters"] if p["in"] == "header"]
        assert headers == (["Idempotency-Key"] if op.idempotent else []), op.op_id
        assert ("422" in entry["responses"]) == op.idempotent, op.op_id
        if op.idempotent:
            assert "Idempotent-Replayed" in entry["responses"]["200"]["headers"]
    taken = {op.op_id for op in OPERATIONS if op.idempotent}
    assert taken == {"registerApi", "createApp", "addKey", "resetKey", "addCode", "resetCode", "grant",
                     "issueToken", "createGroup"}
