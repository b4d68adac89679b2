"""Every admin operation's real answers match the response schema the OpenAPI document gives
for it, and every instant in them has the one format (issue 17.4).

One populated ledger; each operation of ``authledger.service.admin.OPERATIONS`` is called for real (its
success, its idempotent replay where it has one, and errors), and each answer is validated
against ``/v1/openapi.json`` — the document a client reads, not the Python dicts behind it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest

from authledger.service.admin import OPERATIONS
from tests.instant_format import check_instants
from tests.service.conftest import Admin

BY_ID = {op.op_id: op for op in OPERATIONS}


@dataclass
class Exercise:
    """Calls operations by id and validates each answer against the served document."""

    doc: dict[str, Any]
    called: Counter[str] = field(default_factory=Counter)
    statuses: set[tuple[str, int]] = field(default_factory=set)
    replayed: set[str] = field(default_factory=set)
    instants: Counter[str] = field(default_factory=Counter)
    _validators: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def validator(self, path: str, method: str, status: int) -> Any:
        key = (path, method, str(status))
        if key not in self._validators:
            responses = self.doc["paths"][path][method.lower()]["responses"]
            assert str(status) in responses, f"{method} {path} answered {status}, which the document does not list"
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            self._validators[key] = jsonschema_rs.Draft202012Validator(
                {**schema, "components": self.doc["components"]})
        return self._validators[key]

    def __call__(self, who: Admin, op_id: str, expect: int | None = None, *, body: Any = None,
                 query: dict[str, Any] | None = None, key: str | None = None, **path: str) -> Any:
        op = BY_ID[op_id]
        headers = {"Idempotency-Key": key} if key else None
        url = op.path.format(**path)
        kw: dict[str, Any] = {"headers": headers}
        if query is not None:
            kw["params"] = query
        if op.method in ("POST", "PATCH"):
            r = getattr(who, op.method.lower())(url, json=body if body is not None else {}, **kw)
        else:
            r = getattr(who, op.method.lower())(url, **kw)
        want = op.status if expect is None else expect
        assert r.status_code == want, f"{op_id}: {r.status_code} {r.text}"
        data = r.json()
        errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
                  for e in self.validator(op.path, op.method, r.status_code).iter_errors(data)]
        assert not errors, f"{op_id} {r.status_code} does not match its schema: {errors} in {data}"
        self.instants += check_instants(data, f"{op_id} ")
        self.called[op_id] += 1
        self.statuses.add((op_id, r.status_code))
        if r.headers.get("Idempotent-Replayed") == "true" and data.get("replayed") is True:
            self.replayed.add(op_id)
        return data


@pytest.fixture
def exercise(acme: Admin) -> Iterator[Exercise]:
    r = acme.get("/v1/openapi.json")
    assert r.status_code == 200
    yield Exercise(r.json())


def test_every_operation_answers_as_its_schema_says(exercise: Exercise, acme: Admin, globex: Admin) -> None:
    """... and every instant in every answer (successes, replays, errors) has the one format."""
    x = exercise
    soon = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=250000)
    # APIs
    api_id = x(acme, "registerApi", body={"name": "items", "path": "/v1/items/{id}"}, key="api-1")["api_id"]
    assert x(acme, "registerApi", 200, body={"name": "items", "path": "/v1/items/{id}"}, key="api-1")["replayed"]
    other_api = x(acme, "registerApi", body={"name": "orders", "appcode_mode": "HEADER"})["api_id"]
    x(acme, "listApis")
    x(acme, "listApis", query={"owner": "globex"})
    # apps, keys, codes
    app = x(acme, "createApp", body={"name": "shopApp", "tags": {"env": "prod"}}, key="app-1")
    app_id = app["app_id"]
    replayed = x(acme, "createApp", 200, body={"name": "shopApp", "tags": {"env": "prod"}}, key="app-1")
    assert "app_secret" not in replayed and replayed["withheld"]
    theirs = x(globex, "createApp", body={"name": "theirApp"})["app_id"]
    x(acme, "modifyApp", body={"description": "the shop"}, app_id=app_id)
    key = x(acme, "addKey", body={}, key="key-1", app_id=app_id)["app_key"]
    x(acme, "addKey", 200, body={}, key="key-1", app_id=app_id)
    x(acme, "resetKey", body={}, key="reset-1", app_key=key)
    x(acme, "resetKey", 200, body={}, key="reset-1", app_key=key)
    first = x(acme, "addCode", body={}, key="code-1", app_id=app_id)["app_code"]
    x(acme, "addCode", 200, body={}, key="code-1", app_id=app_id)
    code = x(acme, "resetCode", body={"code": first}, key="rc-1")["app_code"]
    x(acme, "resetCode", 200, body={"code": first}, key="rc-1")
    # grants: with and without an end time, one to many, and a replay
    x(acme, "grant", body={"app_id": app_id, "api_id": api_id, "stage": "RELEASE",
                           "until": soon.isoformat()}, key="grant-1")
    again = x(acme, "grant", 200, body={"app_id": app_id, "api_id": api_id, "stage": "RELEASE",
                                        "until": soon.isoformat()}, key="grant-1")
    assert again["until"] == soon.strftime("%Y-%m-%dT%H:%M:%S.250000Z")
    x(acme, "grant", body={"app_id": [app_id, theirs], "api_id": other_api, "stage": "TEST"})
    x(acme, "grant", body={"app_id": app_id, "api_id": other_api, "stage": "PRE", "for": "2w"})
    x(acme, "showApi", api_id=api_id)
    x(acme, "showApp", app_id=app_id)
    public = x(globex, "showApp", app_id=app_id)
    assert set(public) == {"app_id", "name", "owner", "status"}
    x(acme, "listApps")
    x(acme, "listApps", query={"tag": "env=prod"})
    x(acme, "listKeys", app_id=app_id)
    x(acme, "showKey", app_id=app_id, app_key=key)
    x(acme, "listCodes", app_id=app_id)
    x(acme, "listGrants")
    x(acme, "listGrants", query={"app_id": app_id, "stage": "RELEASE"})
    group = x(acme, "createGroup", body={"name": "shop"}, key="grp-1")["group_id"]
    x(acme, "createGroup", 200, body={"name": "shop"}, key="grp-1")
    x(acme, "bindHost", body={"host": "Shop.Example.com"}, group_id=group)
    x(acme, "listGroups")
    x(acme, "showGroup", group_id=group)
    x(acme, "registerApi", body={"name": "hosted", "path": "/v1/hosted", "group_id": group})
    x(acme, "unbindHost", group_id=group, host="shop.example.com")
    spare = x(acme, "registerApi", body={"name": "spare", "path": "/v1/spare"})["api_id"]
    x(acme, "modifyApi", body={"name": "spare2", "method": "GET"}, api_id=spare)
    x(acme, "deleteApi", api_id=spare)
    # the gateway's questions
    x(acme, "check", body={"api_id": api_id, "app_key": key})
    x(acme, "check", body={"api_id": other_api, "app_code": code, "stage": "TEST"})
    x(acme, "check", body={"api_id": api_id, "app_key": key, "at": "2020-01-01T00:00:00Z"})
    x(acme, "verifyRequest", body={"api_id": api_id, "request": "GET /v1/items/1 HTTP/1.1\r\nHost: a\r\n\r\n"})
    x(acme, "verifyRequest", body={"api_id": api_id, "request": "GET /v1/../x HTTP/1.1\r\nHost: a\r\n\r\n"})
    # the auditor's questions
    window = {"from": "2020-01-01T00:00:00Z", "to": (soon + timedelta(days=400)).isoformat()}
    calls = x(acme, "whoCouldCall", query={"api_id": api_id})
    assert calls["could_call"] and all(c["grant_until"] for c in calls["could_call"])
    x(acme, "whoCouldCall", query={"api_id": other_api, "stage": "TEST", "at": "2020-01-01T00:00:00Z"})
    spans = x(acme, "whoCouldCall", query={"api_id": api_id, **window})
    assert {s["end_cause"]["kind"] for s in spans["intervals"]} == {"expiry"}
    x(acme, "access", query={"app_id": app_id})
    x(acme, "access", query={"app_key": key, **window})
    x(acme, "history", query={"app_id": app_id})
    x(acme, "history", query={"api_id": api_id})
    x(acme, "history", query={"app_key": key})
    x(acme, "replay", query={"until": window["to"], "app_id": app_id})
    x(acme, "replay", query={"until": "2020-01-01T00:00:00Z", "api_id": api_id})
    x(acme, "auditDigest")
    # tokens
    token = x(acme, "issueToken", body={"label": "ci"}, key="tok-1")["token_id"]
    x(acme, "issueToken", 200, body={"label": "ci"}, key="tok-1")
    x(acme, "showToken", token_id=token)
    x(acme, "auditTokens")
    x(acme, "auditTokens", query={"at": "2020-01-01T00:00:00Z"})
    x(acme, "revokeToken", token_id=token)
    tokens = x(acme, "listTokens")
    assert any(t["revoked_at"] for t in tokens["data"])
    # taking things away
    x(acme, "revoke", body={"app_id": app_id, "api_id": api_id, "stage": "RELEASE"})
    x(acme, "deleteCode", body={"code": code}, app_id=app_id)
    x(acme, "deleteKey", app_id=app_id, app_key=key)
    x(acme, "disableApp", app_id=app_id)
    x(acme, "enableApp", app_id=app_id)
    x(acme, "deleteApp", app_id=app_id)
    x(acme, "showApp", app_id=app_id)  # a deleted app, still shown to its owner

    # Errors answer the Error schema with the statuses the document lists.
    x(acme, "showApp", 404, app_id="00000000-0000-0000-0000-000000000000")
    x(acme, "createApp", 400, body={"name": "x"})
    x(acme, "createApp", 400, body={"nmae": "shopApp"})
    x(globex, "modifyApp", 403, body={"description": "mine now"}, app_id=app_id)
    x(acme, "addKey", 409, body={}, app_id=app_id)  # the app is deleted
    x(globex, "createApp", body={"name": "otherApp"}, key="dup")
    x(globex, "createApp", 422, body={"name": "anotherApp"}, key="dup")  # the key, another request
    x(Admin(acme.client, "not-a-token", "nobody"), "listApps", 401)
    x(acme, "check", 400, body={"api_id": api_id})
    x(acme, "replay", 400, query={"until": "yesterday", "api_id": api_id})
    x(acme, "replay", 403, query={"until": "2020-01-01T00:00:00Z", "app_id": theirs})

    assert set(x.called) == set(BY_ID), f"operations never called: {sorted(set(BY_ID) - set(x.called))}"
    assert x.replayed == {op.op_id for op in OPERATIONS if op.idempotent}, "each idempotent replay checked"
    # The answers were full of instants, of every kind, all in the one format.
    for k in ("timestamp", "until", "grant_until", "at", "start", "end", "from", "to", "issued_at",
              "revoked_at", "added_at", "secret_set_at", "created_at", "modified_at", "granted_at",
              "registered_at"):
        assert x.instants[k], f"no {k!r} instant was seen"


def test_every_operation_has_a_real_response_schema_and_every_schema_is_valid() -> None:
    from authledger.service.openapi import document
    from authledger.service.schemas import COMPONENTS, RESPONSES

    doc = document()
    assert set(RESPONSES) == set(BY_ID), "each operation in the table needs its entry in authledger.service.schemas.RESPONSES"
    for op in OPERATIONS:
        responses = doc["paths"][op.path][op.method.lower()]["responses"]
        ok = responses[str(op.status)]["content"]["application/json"]["schema"]
        assert ok == RESPONSES[op.op_id] and ok != {"type": "object"}
        for status, r in responses.items():
            if status.startswith(("4", "5")):
                assert r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for name, schema in COMPONENTS.items():
        assert jsonschema_rs.meta.is_valid(schema), name

    # Each property that holds an instant is an Instant (or null), in every schema.
    instant = {"$ref": "#/components/schemas/Instant"}

    def walk(s: Any, where: str) -> int:
        n = 0
        if isinstance(s, dict):
            for k, v in (s.get("properties") or {}).items():
                if k in ("at", "until", "grant_until", "timestamp", "start", "end", "from", "to") or k.endswith("_at"):
                    assert v in (instant, {"anyOf": [instant, {"type": "null"}]}), f"{where}.{k}: {v}"
                    n += 1
            n += sum(walk(v, f"{where}/{k}") for k, v in s.items() if k != "properties")
            n += sum(walk(v, f"{where}.{k}") for k, v in (s.get("properties") or {}).items())
        elif isinstance(s, list):
            n += sum(walk(v, where) for v in s)
        return n

    assert walk(COMPONENTS, "#") > 30
    assert re.fullmatch(COMPONENTS["Instant"]["pattern"].strip("^$"), "2026-01-31T12:00:00Z")
