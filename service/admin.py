"""The admin API under ``/v1/``: every ledger command and query, JSON in and out.

Callers send ``Authorization: Bearer <token>`` (``authledger token create``); the token's
account is the acting account, so ownership rules apply exactly as in the CLI. Errors are
``{"error", "message", "field"}`` with the status of the LedgerError leaf: 400 invalid
input (the field named), 401 missing/invalid token, 403 not permitted, 404 unknown id,
409 conflict. Secrets appear only in the responses of the calls that create or reset
them. Each operation is declared once in ``OPERATIONS``; service.openapi describes the
same table, so the document cannot drift from the routes.

The POST operations that generate ids or credentials (``idempotent=True``) take an
``Idempotency-Key`` header (1-255 printable ASCII; the draft's quoted sf-string form is
accepted too): a re-sent request with the same key and the same path and body returns the
first response's ids with status 200 and ``Idempotent-Replayed: true``, writes nothing,
and does not reveal the secrets again; the same key with another request is 422. Other
operations refuse the header (400) rather than ignore it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledger.errors import InvalidInput, LedgerError, NotFound, NotPermitted

LOG_KEY = "authledger.log"
SOURCE = "http"


class Unauthenticated(LedgerError):
    """No bearer token, or one the ledger does not know (or has revoked)."""

    exit_code = 4
    http_status = 401
    code = "unauthenticated"


class UnknownRoute(NotFound):
    pass


# -- operation table --------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A body field or query parameter: its JSON type and whether it is required."""

    type: str  # string | boolean | object | strings | string_or_strings | integer
    required: bool = False
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    op_id: str
    method: str
    path: str
    summary: str
    handler: Callable[..., Any]
    status: int = 200
    body: dict[str, Param] | None = None
    query: dict[str, Param] = field(default_factory=dict)
    tag: str = ""
    reveals: tuple[str, ...] = ()
    idempotent: bool = False  # takes an Idempotency-Key header


@dataclass
class Call:
    """One admin call: who acts, path parameters, body and query."""

    service: Any
    actor: str
    path: dict[str, str]
    body: dict[str, Any]
    query: dict[str, list[str]]

    @property
    def ledger(self) -> Any:
        return self.service.ledger


def _now() -> datetime:
    return datetime.now(UTC)


def _receipt(r: Any) -> dict[str, Any]:
    return r.to_dict()


# -- APIs -------------------------------------------------------------------------------


def list_apis(c: Call) -> dict[str, Any]:
    from ledger import catalog, views

    owner = _one(c, "owner")
    if owner is not None:
        from ledger import rules

        rules.account(owner, "owner")
    apis = [views.api(a) for a in catalog.apis(c.ledger, owner)]
    return {"apis": apis, "count": len(apis)}


def register_api(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.register_api(
        c.actor, b["name"], group=b.get("group", ""), auth_type=b.get("auth_type", "APP"),
        appcode_mode=b.get("appcode_mode", "DISABLE"),
        signature_methods=b.get("signature_methods", ["HmacSHA256"]),
        nonce_required=b.get("nonce_required", True), http_method=b.get("method"),
        path_pattern=b.get("path"), source=SOURCE,
    ))


def show_api(c: Call) -> dict[str, Any]:
    from ledger import catalog, views

    api = c.ledger.get_api(c.path["api_id"])
    return views.api_with_apps(api, catalog.grants_on(c.ledger, api.id), _now())


# -- apps -------------------------------------------------------------------------------


def _api_names(ledger: Any, app: Any) -> dict[str, str]:
    names = {}
    for api_id, _stage in app.grants:
        try:
            names[api_id] = ledger.get_api(api_id).name
        except LedgerError:
            pass
    return names


def _app_view(c: Call, app: Any) -> dict[str, Any]:
    from ledger import views

    if app.owner != c.actor:
        return views.public_app(app)
    return views.owner_app(app, _api_names(c.ledger, app), _now())


def _tags(values: list[str]) -> dict[str, str]:
    tags = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise InvalidInput(f"tag filter must be KEY=VALUE, got {v[:40]!r}", field="tag")
        tags[k] = val
    return tags


def list_apps(c: Call) -> dict[str, Any]:
    from ledger import catalog

    apps = [_app_view(c, a) for a in catalog.apps(c.ledger, c.actor, _tags(c.query.get("tag", [])))]
    return {"apps": apps, "count": len(apps)}


def create_app(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.create_app(
        c.actor, b["name"], description=b.get("description", ""), tags=b.get("tags"),
        extension=b.get("extension", ""), app_key=b.get("app_key"), app_secret=b.get("app_secret"),
        app_code=b.get("app_code"), source=SOURCE,
    ))


def show_app(c: Call) -> dict[str, Any]:
    return _app_view(c, c.ledger.get_app(c.path["app_id"]))


def modify_app(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.modify_app(
        c.path["app_id"], c.actor, name=b.get("name"), description=b.get("description"),
        tags=b.get("tags"), extension=b.get("extension"), source=SOURCE,
    ))


def delete_app(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.delete_app(c.path["app_id"], c.actor, source=SOURCE))


def disable_app(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.disable_app(c.path["app_id"], c.actor, source=SOURCE))


def enable_app(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.enable_app(c.path["app_id"], c.actor, source=SOURCE))


# -- key pairs and AppCodes -------------------------------------------------------------


def list_keys(c: Call) -> dict[str, Any]:
    from ledger import views

    app = c.ledger.get_app(c.path["app_id"])
    if app.owner != c.actor:
        raise NotPermitted(f"account {c.actor} does not own app {app.id}", field="actor")
    pairs = views.key_pairs(app)
    return {"app_id": str(app.id), "key_pairs": pairs, "count": len(pairs)}


def add_key(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.add_key_pair(
        c.path["app_id"], c.actor, app_key=b.get("app_key"), app_secret=b.get("app_secret"), source=SOURCE
    ))


def delete_key(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.delete_key_pair(c.path["app_id"], c.path["app_key"], c.actor, source=SOURCE))


def reset_key(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.reset_key_pair(
        c.path["app_key"], c.actor, new_app_key=b.get("new_app_key"),
        new_app_secret=b.get("new_app_secret"), source=SOURCE,
    ))


def add_code(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.add_app_code(c.path["app_id"], c.actor, code=c.body.get("code"), source=SOURCE))


def delete_code(c: Call) -> dict[str, Any]:
    # The code is a secret: it travels in the body, never in a path that logs could keep.
    return _receipt(c.ledger.delete_app_code(c.path["app_id"], c.body["code"], c.actor, source=SOURCE))


def reset_code(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.reset_app_code(b["code"], c.actor, new_code=b.get("new_code"), source=SOURCE))


# -- grants -----------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w``: a positive duration of at most 100 years."""
    text = value.strip()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit() or len(text) > 12:
        raise InvalidInput(f"for must be a number and a unit (s, m, h, d, w), got {text[:40]!r}", field="for")
    seconds = int(text[:-1]) * _UNITS[text[-1]]
    if not 0 < seconds <= 100 * 366 * 86400:
        raise InvalidInput("for must be more than 0 and at most 100 years", field="for")
    return timedelta(seconds=seconds)


def grant(c: Call) -> dict[str, Any]:
    b = c.body
    until: Any = b.get("until")
    if b.get("for") is not None:
        if until is not None:
            raise InvalidInput("give until or for, not both", field="for")
        until = _now() + parse_duration(b["for"])
    return _receipt(c.ledger.grant(c.actor, b["app_id"], b["api_id"], b["stage"], until=until, source=SOURCE))


def revoke(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.revoke(c.actor, b["app_id"], b["api_id"], b["stage"], source=SOURCE))


# -- gateway queries --------------------------------------------------------------------


def _instant(value: Any) -> float:
    if value is None:
        return _now().timestamp()
    from ledger import rules

    return rules.aware_instant(value, "at").timestamp()


def check(c: Call) -> dict[str, Any]:
    from ledger import rules

    b = c.body
    if (b.get("app_key") is None) == (b.get("app_code") is None):
        raise InvalidInput("give exactly one of app_key or app_code", field="app_key")
    stage = rules.stage(b.get("stage", "RELEASE"))
    api_id = b["api_id"]
    at = _instant(b.get("at"))
    index = c.service.index
    if b.get("app_key") is not None:
        decision = index.check(b["app_key"], api_id, stage, at)
    else:
        decision = index.check(c.ledger.box.code_hash(b["app_code"]), api_id, stage, at, kind="app_code_hash")
    data = decision.to_dict()
    data.update(api_id=api_id, stage=stage, at=datetime.fromtimestamp(at, UTC).isoformat(),
                position=index.position)
    return data


def verify_request(c: Call) -> dict[str, Any]:
    """Verify a raw HTTP/1.1 request as the gateway would (its own nonce store: nothing burnt)."""
    from gateway.verifier import Verifier
    from ledger.cli.gateway import parse_http_request

    b = c.body
    window = b.get("window", 900)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= 86400 * 366:
        raise InvalidInput("window must be a number of seconds (0 to 1 year)", field="window")
    raw = b["request"].encode("utf-8", "surrogatepass")
    method, path, query, headers, body = parse_http_request(raw)
    at = _instant(b.get("at"))
    verifier = Verifier(c.service.index, window_seconds=window, clock=lambda: at)
    v = verifier.verify(method, path, query, headers, body, b["api_id"])
    return {
        "accepted": v.accepted, "status": v.status, "error_message": v.error_message,
        "reason": v.reason.value if v.reason is not None else None, "app_id": v.app_id,
        "app_key": v.app_key, "stage": v.stage, "string_to_sign": v.string_to_sign,
        "system_parameters": v.system_parameters(), "position": c.service.index.position,
    }


# -- tokens -----------------------------------------------------------------------------


def list_tokens(c: Call) -> dict[str, Any]:
    from ledger.tokens import list_tokens as tokens_of

    found = [t.to_dict() for t in tokens_of(c.ledger, c.actor)]
    return {"tokens": found, "count": len(found)}


def issue_token(c: Call) -> dict[str, Any]:
    from ledger.tokens import issue_token as issue

    return _receipt(issue(c.ledger, c.actor, c.body.get("label", ""), source=SOURCE))


def revoke_token(c: Call) -> dict[str, Any]:
    from ledger.tokens import revoke_token as revoke_

    return _receipt(revoke_(c.ledger, c.path["token_id"], c.actor, source=SOURCE))


# -- audit queries (projections.temporal*, the same answers as `authledger who-could-call` ...) --


def _one(c: Call, name: str) -> str | None:
    values = c.query.get(name)
    return values[0] if values else None


def _audit(c: Call) -> Any:
    """Audit queries over the SQLite ledger file (the temporal index beside it, caught up)."""
    from projections.temporal_queries import AuditQueries, LedgerEvents
    from projections.temporal_store import open_index

    if c.service.db_path is None:
        raise NotFound("audit queries need the server to run on a SQLite ledger file", field="db")
    store, log = open_index(c.service.db_path)
    return AuditQueries(store, LedgerEvents(log))


def _owned_api(c: Call, api_id: str) -> str:
    api = c.ledger.get_api(api_id)
    if api.owner != c.actor:
        raise NotPermitted(f"only the owner of API {api.id} may audit it", field="actor")
    return str(api.id)


def _owned_app(c: Call, app_id: str) -> str:
    app = c.ledger.get_app(app_id)
    if app.owner != c.actor:
        raise NotPermitted(f"only the owner of app {app.id} may audit it", field="actor")
    return str(app.id)


def _owned_key(c: Call, app_key: str) -> str:
    from ledger import rules

    rules.app_key(app_key)
    return _owned_app(c, str(c.ledger.app_id_for_key(app_key)))


def who_could_call(c: Call) -> dict[str, Any]:
    from ledger import rules
    from projections.instants import when, with_iso_bounds
    from projections.temporal import iso

    api_id = _owned_api(c, _one(c, "api_id") or "")
    stage = _one(c, "stage")
    if stage is not None:
        rules.stage(stage)
    t, lo, hi = when(_one(c, "at"), _one(c, "from"), _one(c, "to"))
    q = _audit(c)
    if t is not None:
        return {"api_id": api_id, "stage": stage, "at": iso(t), "could_call": q.who_could_call_at(api_id, t, stage)}
    rows = with_iso_bounds(q.who_could_call_between(api_id, lo, hi, stage))
    return {"api_id": api_id, "stage": stage, "from": iso(lo), "to": iso(hi), "intervals": rows}


def access(c: Call) -> dict[str, Any]:
    from projections.instants import when, with_iso_bounds
    from projections.temporal import iso

    app_id, app_key = _one(c, "app_id"), _one(c, "app_key")
    if (app_id is None) == (app_key is None):
        raise InvalidInput("give exactly one of app_id or app_key", field="app_id")
    app_id = _owned_app(c, app_id) if app_id is not None else _owned_key(c, app_key or "")
    t, lo, hi = when(_one(c, "at"), _one(c, "from"), _one(c, "to"))
    q = _audit(c)
    if t is not None:
        return {"app_id": app_id, "app_key": app_key, "at": iso(t), "could_call": q.access_at(app_id, t, app_key)}
    rows = with_iso_bounds(q.access_between(app_id, lo, hi, app_key))
    return {"app_id": app_id, "app_key": app_key, "from": iso(lo), "to": iso(hi), "intervals": rows}


def history(c: Call) -> dict[str, Any]:
    app_id, api_id, app_key = _one(c, "app_id"), _one(c, "api_id"), _one(c, "app_key")
    if sum(x is not None for x in (app_id, api_id, app_key)) != 1:
        raise InvalidInput("give exactly one of app_id, api_id or app_key", field="app_id")
    if app_id is not None:
        app_id = _owned_app(c, app_id)
    elif api_id is not None:
        api_id = _owned_api(c, api_id)
    else:
        _owned_key(c, app_key or "")
    return {"events": _audit(c).history(app_id=app_id, api_id=api_id, app_key=app_key)}


def replay(c: Call) -> dict[str, Any]:
    from projections.instants import instant

    app_id, api_id = _one(c, "app_id"), _one(c, "api_id")
    if app_id is None and api_id is None:
        raise InvalidInput("give app_id or api_id (one you own): the whole ledger is not any one account's",
                           field="app_id")
    app_id = _owned_app(c, app_id) if app_id is not None else None
    api_id = _owned_api(c, api_id) if api_id is not None else None
    until = _one(c, "until")
    if until is None:
        raise InvalidInput("until is required", field="until")
    return _audit(c).replay(instant(until, "until"), app_id=app_id, api_id=api_id)


def audit_digest(c: Call) -> dict[str, Any]:
    from projections.chain import format_digest

    q = _audit(c)
    head, pos = q.store.chain_head()
    return {"digest": format_digest(head, pos), "head": head.hex(), "position": pos}


# -- the table --------------------------------------------------------------------------

S = "string"
_STAGE = {"enum": ["RELEASE", "PRE", "TEST"]}
_UUID = {"format": "uuid"}
_TAGS = {"additionalProperties": {"type": "string"}}

OPERATIONS: list[Operation] = [
    Operation("listApis", "GET", "/v1/apis", "Registered APIs (of one owner, if given)", list_apis, tag="apis",
              query={"owner": Param(S, description="Only APIs of this account")}),
    Operation("registerApi", "POST", "/v1/apis", "Register an API (the caller owns it)", register_api, 201,
              idempotent=True, tag="apis", body={
                  "name": Param(S, True, "1-128 of letters, digits, _ . -"),
                  "group": Param(S, description="API group"),
                  "auth_type": Param(S, schema={"enum": ["APP", "ANONYMOUS"]}),
                  "appcode_mode": Param(S, schema={"enum": ["DISABLE", "HEADER", "HEADER_QUERY"]}),
                  "signature_methods": Param("strings", schema={"items": {"enum": ["HmacSHA256", "HmacSHA1"]}}),
                  "nonce_required": Param("boolean"),
                  "method": Param(S, description="HTTP method the API answers (default any)"),
                  "path": Param(S, description="Path pattern, e.g. /v1/items/{id}"),
              }),
    Operation("showApi", "GET", "/v1/apis/{api_id}", "An API's settings and the apps authorized for it", show_api, tag="apis"),
    Operation("listApps", "GET", "/v1/apps", "The caller's apps (filtered by tags)", list_apps, tag="apps",
              query={"tag": Param("strings", description="KEY=VALUE, repeatable")}),
    Operation("createApp", "POST", "/v1/apps", "Create an app with its default key pair and an AppCode", create_app, 201,
              idempotent=True, tag="apps", reveals=("app_secret", "app_code"), body={
                  "name": Param(S, True, "4-26 letters, digits, _; starts with a letter"),
                  "description": Param(S), "tags": Param("object", schema=_TAGS), "extension": Param(S),
                  "app_key": Param(S), "app_secret": Param(S), "app_code": Param(S),
              }),
    Operation("showApp", "GET", "/v1/apps/{app_id}", "An app (owner view, or public view for others)", show_app, tag="apps"),
    Operation("modifyApp", "PATCH", "/v1/apps/{app_id}", "Change an app's attributes", modify_app, tag="apps", body={
        "name": Param(S), "description": Param(S), "tags": Param("object", schema=_TAGS), "extension": Param(S)}),
    Operation("deleteApp", "DELETE", "/v1/apps/{app_id}", "Delete an app", delete_app, tag="apps"),
    Operation("disableApp", "POST", "/v1/apps/{app_id}/disable", "Disable an app (grants kept)", disable_app, tag="apps"),
    Operation("enableApp", "POST", "/v1/apps/{app_id}/enable", "Enable a disabled app", enable_app, tag="apps"),
    Operation("listKeys", "GET", "/v1/apps/{app_id}/keys", "An app's key pairs (secrets masked)", list_keys, tag="keys"),
    Operation("addKey", "POST", "/v1/apps/{app_id}/keys", "Add a key pair", add_key, 201, idempotent=True, tag="keys",
              reveals=("app_secret",), body={"app_key": Param(S), "app_secret": Param(S)}),
    Operation("deleteKey", "DELETE", "/v1/apps/{app_id}/keys/{app_key}", "Delete an added key pair", delete_key, tag="keys"),
    Operation("resetKey", "POST", "/v1/keys/{app_key}/reset", "New secret (and optionally AppKey) for a pair", reset_key,
              idempotent=True, tag="keys", reveals=("app_secret",),
              body={"new_app_key": Param(S), "new_app_secret": Param(S)}),
    Operation("addCode", "POST", "/v1/apps/{app_id}/codes", "Add an AppCode", add_code, 201, idempotent=True, tag="codes",
              reveals=("app_code",), body={"code": Param(S)}),
    Operation("deleteCode", "POST", "/v1/apps/{app_id}/codes/delete", "Delete an AppCode (given in the body)",
              delete_code, tag="codes", body={"code": Param(S, True)}),
    Operation("resetCode", "POST", "/v1/codes/reset", "Replace an AppCode", reset_code, idempotent=True, tag="codes",
              reveals=("app_code",), body={"code": Param(S, True), "new_code": Param(S)}),
    Operation("grant", "POST", "/v1/grants", "Authorize apps for APIs in a stage (bulk: one to many)", grant,
              idempotent=True, tag="grants", body={
                  "app_id": Param("string_or_strings", True, "An app id, or up to 100"),
                  "api_id": Param("string_or_strings", True, "An API id, or up to 100"),
                  "stage": Param(S, True, schema=_STAGE),
                  "until": Param(S, description="ISO 8601 end time with timezone"),
                  "for": Param(S, description="Duration instead of until: 30d, 12h, 90m, 45s, 2w"),
              }),
    Operation("revoke", "POST", "/v1/revoke", "Take a grant back (API owner or app owner)", revoke, tag="grants",
              body={"app_id": Param(S, True), "api_id": Param(S, True), "stage": Param(S, True, schema=_STAGE)}),
    Operation("check", "POST", "/v1/check", "May this credential call the API in the stage (now or at)?", check,
              tag="gateway", body={
                  "api_id": Param(S, True), "stage": Param(S, schema=_STAGE), "app_key": Param(S),
                  "app_code": Param(S), "at": Param(S, description="ISO 8601 instant with timezone"),
              }),
    Operation("verifyRequest", "POST", "/v1/verify-request", "Verify a raw HTTP/1.1 request as the gateway would",
              verify_request, tag="gateway", body={
                  "api_id": Param(S, True), "request": Param(S, True, "Request line, headers, blank line, body"),
                  "at": Param(S), "window": Param("number"),
              }),
    Operation("whoCouldCall", "GET", "/v1/audit/who-could-call",
              "Apps and credentials that could call your API at an instant, or their intervals in a window",
              who_could_call, tag="audit", query={
                  "api_id": Param(S, True), "stage": Param(S, schema=_STAGE),
                  "at": Param(S, description="ISO 8601 instant (default now)"),
                  "from": Param(S, description="Window start (with to)"), "to": Param(S, description="Window end")}),
    Operation("access", "GET", "/v1/audit/access", "What your app (or one AppKey) could call, at an instant or in a window",
              access, tag="audit", query={"app_id": Param(S), "app_key": Param(S), "at": Param(S),
                                          "from": Param(S), "to": Param(S)}),
    Operation("history", "GET", "/v1/audit/history", "The events of your app, API or AppKey (secrets never shown)",
              history, tag="audit", query={"app_id": Param(S), "api_id": Param(S), "app_key": Param(S)}),
    Operation("replay", "GET", "/v1/audit/replay", "Your app's or API's authorization state as of an instant",
              replay, tag="audit", query={"until": Param(S, True), "app_id": Param(S), "api_id": Param(S)}),
    Operation("auditDigest", "GET", "/v1/audit/digest", "The hash-chain head of the log (HEAD@POSITION)",
              audit_digest, tag="audit"),
    Operation("listTokens", "GET", "/v1/tokens", "The caller's tokens (never the token itself)", list_tokens, tag="tokens"),
    Operation("issueToken", "POST", "/v1/tokens", "Issue another token for the caller's account", issue_token, 201,
              idempotent=True, tag="tokens", reveals=("token",), body={"label": Param(S)}),
    Operation("revokeToken", "DELETE", "/v1/tokens/{token_id}", "Revoke one of the caller's tokens", revoke_token,
              tag="tokens"),
]


# -- the HTTP edge ----------------------------------------------------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "strings": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "string_or_strings": lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v)),
}
_TYPE_WORDS = {"string": "a string", "boolean": "true or false", "number": "a number", "object": "an object",
               "strings": "a list of strings", "string_or_strings": "a string or a list of strings"}


def _check_body(op: Operation, raw: bytes) -> dict[str, Any]:
    assert op.body is not None
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidInput("body must be a JSON object", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object", field="body")
    for name in data:
        if name not in op.body:
            raise InvalidInput(f"unknown field {str(name)[:40]!r}", field=str(name)[:64])
    for name, p in op.body.items():
        value = data.get(name)
        if value is None:
            if p.required:
                raise InvalidInput(f"{name} is required", field=name)
            data.pop(name, None)
            continue
        if not _TYPES[p.type](value):
            raise InvalidInput(f"{name} must be {_TYPE_WORDS[p.type]}", field=name)
    return data


def _error(e: LedgerError) -> Response:
    # 503: the event store is unavailable (ledger.store.StoreUnavailable, retriable).
    status = e.http_status if 400 <= e.http_status < 500 or e.http_status == 503 else 500
    headers = {"WWW-Authenticate": 'Bearer realm="authledger"'} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    return JSONResponse(e.to_dict(), status_code=status, headers=headers)


def _authenticate(service: Any, header: str | None) -> str:
    from ledger.tokens import account_for_token

    if not header:
        raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)", field="authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be: Bearer <token>", field="authorization")
    account = account_for_token(service.ledger, token.strip())
    if account is None:
        raise Unauthenticated("invalid or revoked token", field="authorization")
    return account


def _endpoint(service: Any, op: Operation) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        extra = request.scope.get(LOG_KEY)
        try:
            raw = await request.body() if op.body is not None else b""

            def run() -> Any:
                # Who is asking comes first: an unauthenticated caller learns nothing else.
                actor = _authenticate(service, request.headers.get("authorization"))
                if extra is not None:
                    extra["actor"] = actor
                body = _check_body(op, raw) if op.body is not None else {}
                query: dict[str, list[str]] = {}
                for k, v in request.query_params.multi_items():
                    if k not in op.query:
                        raise InvalidInput(f"unknown query parameter {k[:40]!r}", field=k[:64])
                    query.setdefault(k, []).append(v)
                for k, p in op.query.items():
                    if p.required and not query.get(k):
                        raise InvalidInput(f"query parameter {k} is required", field=k)
                call = Call(service, actor, dict(request.path_params), body, query)
                key = idempotency_key(op, request.headers.getlist(IDEMPOTENCY_HEADER))
                with service.ledger.idempotent(key, op.op_id, {"path": call.path, "body": body}):
                    return op.handler(call)

            result = await run_in_threadpool(run)
            position = result.get("position") if op.method != "GET" else None
            if isinstance(position, int):
                await run_in_threadpool(_await_index, service, position)
        except LedgerError as e:
            if extra is not None:
                extra["error"] = e.code
            return _error(e)
        if result.get("replayed") is True:
            return JSONResponse(result, status_code=200, headers={REPLAYED_HEADER: "true"})
        return JSONResponse(result, status_code=op.status)

    return endpoint


IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_key(op: Operation, values: list[str]) -> str | None:
    """The request's idempotency key (validated by the ledger), or None without the header."""
    if not values:
        return None
    if not op.idempotent:
        raise InvalidInput(f"{op.op_id} does not take an {IDEMPOTENCY_HEADER} header", field="idempotency_key")
    if len(values) > 1:
        raise InvalidInput(f"give one {IDEMPOTENCY_HEADER} header", field="idempotency_key")
    key = values[0]
    if len(key) >= 2 and key[0] == key[-1] == '"':  # the draft's sf-string form: "abc"
        key = key[1:-1]
    return key


def _await_index(service: Any, position: int, timeout: float = 2.0) -> None:
    """Read your writes: return once the gateway index has applied ``position`` (or timeout).

    The follower is woken by this process's save at once, so this is usually a millisecond;
    after it, ``/authz`` answers with the change the admin call just made.
    """
    deadline = time.monotonic() + timeout
    while service.index.position < position and time.monotonic() < deadline:
        time.sleep(0.0005)


def routes(service: Any) -> list[Route]:
    """One Starlette route per path, dispatching on the method."""
    by_path: dict[str, dict[str, Operation]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, {})[op.method] = op
    found = []
    for path, ops in by_path.items():
        for method, op in ops.items():
            found.append(Route(path, _endpoint(service, op), methods=[method], name=op.op_id))
    found.append(Route("/v1/{rest:path}", _unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return found


async def _unknown(request: Request) -> Response:
    return JSONResponse({"error": "not_found", "message": f"no such endpoint: {request.method} {request.url.path}"},
                        status_code=404)
