"""The role matrix (issue 14.2): every admin operation × every kind of caller, the expected
status GENERATED from the operation table's ``access`` (authledger.service.permissions), never copied.

A ``World`` is one fresh set of resources of the owner account (an API, an app granted on
it with a second key pair and AppCode, a spare token), made over HTTP for each cell so that
one cell's write cannot change another's answer. ``REQUESTS`` says how to call each
operation about a world — the only hand-written part, and a test fails when an operation
has none. ``expected`` derives the status from the table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.tokens import ADMIN, AUDITOR, OWNER
from authledger.service.operations import Operation
from authledger.service.permissions import WRITE

OWNER_ACCOUNT, OTHER_ACCOUNT, AUDITOR_ACCOUNT, ADMIN_ACCOUNT = "acme", "globex", "audit-team", "ops"

# The kinds of caller, in the matrix's column order.
CALLERS = ("owner", "other_owner", "auditor", "admin", "scoped_in", "scoped_out", "read_only",
           "expired", "revoked", "no_token")

_counter = itertools.count(1)


class Client:
    """What the matrix needs of an HTTP client: Starlette's TestClient or httpx.Client."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def call(self, method: str, path: str, token: str | None, body: Any = None,
             params: dict[str, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, path, json=body, params=params, headers=headers)

    def ok(self, method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
        r = self.call(method, path, token, body)
        assert r.status_code in (200, 201), (method, path, r.status_code, r.text)
        return dict(r.json())


@dataclass
class World:
    api_id: str
    app_id: str
    app_key: str
    app_key2: str
    app_code: str
    app_code2: str
    token_id: str  # a spare owner token (revokeToken's target)
    group_id: str  # an API group with one bound host
    host: str


def make_world(client: Client, owner_token: str) -> World:
    n = next(_counter)
    api = client.ok("POST", "/v1/apis", owner_token, {"name": f"api{n}", "appcode_mode": "HEADER"})
    app = client.ok("POST", "/v1/apps", owner_token, {"name": f"matrixApp{n}", "app_key": f"matrix-key-{n}"})
    key2 = client.ok("POST", f"/v1/apps/{app['app_id']}/keys", owner_token, {"app_key": f"matrix-key2-{n}"})
    code2 = client.ok("POST", f"/v1/apps/{app['app_id']}/codes", owner_token, {})
    client.ok("POST", "/v1/grants", owner_token, {"app_id": app["app_id"], "api_id": api["api_id"], "stage": "RELEASE"})
    spare = client.ok("POST", "/v1/tokens", owner_token, {"label": f"spare{n}"})
    group = client.ok("POST", "/v1/groups", owner_token, {"name": f"group{n}"})
    host = f"m{n}-{group['group_id'][:8]}.example.com"
    client.ok("POST", f"/v1/groups/{group['group_id']}/hosts", owner_token, {"host": host})
    return World(api["api_id"], app["app_id"], app["app_key"], key2["app_key"], app["app_code"], code2["app_code"],
                 spare["token_id"], group["group_id"], host)


def _now() -> str:
    return datetime.now(UTC).isoformat()


Request = tuple[str, str, Any, "dict[str, str] | None"]

# How to call each operation about world ``w`` (method and path come from the table).
REQUESTS: dict[str, Callable[[World], tuple[dict[str, str], Any, dict[str, str] | None]]] = {
    # op_id: w -> (path parameters, body, query)
    "listApis": lambda w: ({}, None, None),
    "registerApi": lambda w: ({}, {"name": f"newapi{next(_counter)}"}, None),
    "showApi": lambda w: ({"api_id": w.api_id}, None, None),
    "modifyApi": lambda w: ({"api_id": w.api_id}, {"group": "changed"}, None),
    "deleteApi": lambda w: ({"api_id": w.api_id}, None, None),
    "createGroup": lambda w: ({}, {"name": f"newgroup{next(_counter)}"}, None),
    "listGroups": lambda w: ({}, None, None),
    "showGroup": lambda w: ({"group_id": w.group_id}, None, None),
    "bindHost": lambda w: ({"group_id": w.group_id}, {"host": f"b{next(_counter)}-{w.group_id[:8]}.example.com"}, None),
    "unbindHost": lambda w: ({"group_id": w.group_id, "host": w.host}, None, None),
    "listApps": lambda w: ({}, None, None),
    "createApp": lambda w: ({}, {"name": f"newApp{next(_counter)}"}, None),
    "showApp": lambda w: ({"app_id": w.app_id}, None, None),
    "modifyApp": lambda w: ({"app_id": w.app_id}, {"description": "changed"}, None),
    "deleteApp": lambda w: ({"app_id": w.app_id}, None, None),
    "disableApp": lambda w: ({"app_id": w.app_id}, None, None),
    "enableApp": lambda w: ({"app_id": w.app_id}, None, None),
    "listKeys": lambda w: ({"app_id": w.app_id}, None, None),
    "addKey": lambda w: ({"app_id": w.app_id}, {}, None),
    "showKey": lambda w: ({"app_id": w.app_id, "app_key": w.app_key}, None, None),
    "deleteKey": lambda w: ({"app_id": w.app_id, "app_key": w.app_key2}, None, None),
    "resetKey": lambda w: ({"app_key": w.app_key}, {}, None),
    "listCodes": lambda w: ({"app_id": w.app_id}, None, None),
    "addCode": lambda w: ({"app_id": w.app_id}, {}, None),
    "deleteCode": lambda w: ({"app_id": w.app_id}, {"code": w.app_code2}, None),
    "resetCode": lambda w: ({}, {"code": w.app_code}, None),
    "listGrants": lambda w: ({}, None, {"app_id": w.app_id}),
    "grant": lambda w: ({}, {"app_id": w.app_id, "api_id": w.api_id, "stage": "TEST"}, None),
    "revoke": lambda w: ({}, {"app_id": w.app_id, "api_id": w.api_id, "stage": "RELEASE"}, None),
    "check": lambda w: ({}, {"api_id": w.api_id, "app_key": w.app_key}, None),
    "verifyRequest": lambda w: ({}, {"api_id": w.api_id,
                                     "request": f"GET /x HTTP/1.1\r\nX-Ca-Key: {w.app_key}\r\n\r\n"}, None),
    "whoCouldCall": lambda w: ({}, None, {"api_id": w.api_id}),
    "access": lambda w: ({}, None, {"app_id": w.app_id}),
    "history": lambda w: ({}, None, {"app_id": w.app_id}),
    "replay": lambda w: ({}, None, {"app_id": w.app_id, "until": _now()}),
    "auditDigest": lambda w: ({}, None, None),
    "listTokens": lambda w: ({}, None, None),
    "issueToken": lambda w: ({}, {"label": "matrix"}, None),
    "showToken": lambda w: ({"token_id": w.token_id}, None, None),
    "revokeToken": lambda w: ({"token_id": w.token_id}, None, None),
    "auditTokens": lambda w: ({}, None, None),
}


def request_for(op: Operation, w: World) -> tuple[str, str, Any, dict[str, str] | None]:
    path_params, body, query = REQUESTS[op.op_id](w)
    path = op.path
    for k, v in path_params.items():
        path = path.replace("{" + k + "}", v)
    assert "{" not in path, (op.op_id, path)
    return op.method, path, body, query


def scope_kind(op: Operation) -> str:
    """The scope a token in scope for this operation's request has: its first target's kind."""
    assert op.access is not None
    first = op.access.target[0] if op.access.target else ""
    return "api" if first.endswith("api_id") else "app"


def expected(op: Operation, caller: str) -> int:
    """The status ``caller`` gets for ``op`` about the owner's world, from the table alone."""
    a = op.access
    assert a is not None, f"{op.op_id} declares no access"
    ok = op.status
    if caller in ("expired", "revoked", "no_token"):
        return 401
    role = {"auditor": AUDITOR, "admin": ADMIN}.get(caller, OWNER)
    if role not in a.roles:
        return 403
    if caller == "read_only" and a.kind == WRITE:
        return 403
    if caller in ("scoped_in", "scoped_out"):
        if not a.target:
            return 403  # account-wide: not for app- or API-scoped tokens
        if caller == "scoped_out":
            return 404 if a.others == "hidden" else 403
        return ok
    if caller in ("owner", "read_only"):
        return ok
    if caller == "other_owner" or (caller == "admin" and a.kind == WRITE and not a.break_glass):
        return {"own": ok, "public": ok, "forbidden": 403, "hidden": 404}[a.others]
    return ok  # auditors' and admins' reads, admins' break-glass


@dataclass
class Tokens:
    """One token per kind of caller (scoped ones are made per world, or point elsewhere)."""

    owner: str
    other_owner: str
    auditor: str
    admin: str
    read_only: str
    expired: str
    revoked: str
    elsewhere_app: str  # scoped to another app of the owner
    elsewhere_api: str  # scoped to another API of the owner

    def for_caller(self, caller: str, op: Operation, client: Client, w: World) -> str | None:
        if caller == "no_token":
            return None
        if caller == "scoped_in":
            scope = f"app:{w.app_id}" if scope_kind(op) == "app" else f"api:{w.api_id}"
            return str(client.ok("POST", "/v1/tokens", self.owner, {"scopes": [scope]})["token"])
        if caller == "scoped_out":
            return self.elsewhere_app if scope_kind(op) == "app" else self.elsewhere_api
        return str(getattr(self, caller))
