"""The admin API under ``/v1/``: every ledger command and query, JSON in and out.

Callers send ``Authorization: Bearer <token>`` (``authledger token create``); the token's
account is the acting account, so ownership rules apply exactly as in the CLI. Each
operation's ``access`` (authledger.service.permissions) says which token roles may call it, read or
write, and what a scoped token may name; it is enforced once, before the handler, and the
OpenAPI document shows it (``x-roles``). Errors are
``{"error", "message", "field"}`` (``field`` null when none; built by
``authledger.service.errors.error_response`` for every error path) with the status of the error's
class: 400 invalid input (the field named), 401 missing/invalid token, 403 not permitted,
404 unknown id or route, 405 a known path's wrong method (with ``Allow``), 409 conflict,
413 body too large, 415 a body that is not JSON, 503 store unavailable or busy. Creates
answer 201 with ``Location`` (the operation's ``location``). Secrets appear only in the
responses of the calls that create or reset them. Each operation is declared once in ``OPERATIONS``; authledger.service.openapi describes the
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
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledger import idempotency
from ledger.errors import InvalidInput, LedgerError
from authledger.service.command_handlers import (
    add_code,
    add_key,
    bind_host,
    create_app,
    create_group,
    list_groups,
    show_group,
    unbind_host,
    delete_app,
    delete_api,
    delete_code,
    delete_key,
    disable_app,
    enable_app,
    grant,
    issue_token,
    list_apis,
    list_apps,
    list_codes,
    list_grants,
    list_keys,
    list_tokens,
    modify_api,
    modify_app,
    register_api,
    reset_code,
    reset_key,
    revoke,
    revoke_token,
    show_api,
    show_app,
    show_key,
    show_token,
)
from authledger.service.errors import MethodNotAllowed, Unauthenticated, UnknownRoute, UnsupportedMediaType, error_response
from authledger.service.operations import SOURCE, Call, Operation, Param
from authledger.service.permissions import acting, authorize, in_scope, read, write
from authledger.service.query_handlers import (
    access,
    audit_digest,
    audit_tokens,
    check,
    history,
    replay,
    verify_request,
    who_could_call,
)

LOG_KEY = "authledger.log"


__all__ = ["OPERATIONS", "Unauthenticated", "UnknownRoute", "routes"]


# -- the table --------------------------------------------------------------------------

S = "string"
_STAGE = {"enum": ["RELEASE", "PRE", "TEST"]}
_UUID = {"format": "uuid"}
_TAGS = {"additionalProperties": {"type": "string"}}
# Every list: a page of up to ``limit`` and the ``next`` cursor (authledger.service.paging).
_PAGE = {
    "limit": Param("integer", description="Items per page, 1-1000 (default 100)",
                   schema={"minimum": 1, "maximum": 1000, "default": 100}),
    "cursor": Param(S, description="The next of the previous page (opaque; only for the same listing)",
                    schema={"maxLength": 64}),
}

OPERATIONS: list[Operation] = [
    Operation("listApis", "GET", "/v1/apis", "Registered APIs (of one owner, if given)", list_apis, tag="apis",
              query={"owner": Param(S, description="Only APIs of this account"), **_PAGE},
              access=read("public")),
    Operation("registerApi", "POST", "/v1/apis", "Register an API (the caller owns it)", register_api, 201,
              idempotent=True, tag="apis", location="/v1/apis/{api_id}", body={
                  "name": Param(S, True, "1-128 of letters, digits, _ . -"),
                  "group_id": Param(S, description="One of your API groups (default: your default group)",
                                    schema=_UUID),
                  "group": Param(S, description="A free-text label (not used for routing; see group_id)"),
                  "auth_type": Param(S, schema={"enum": ["APP", "ANONYMOUS"]}),
                  "appcode_mode": Param(S, schema={"enum": ["DISABLE", "HEADER", "HEADER_QUERY"]}),
                  "signature_methods": Param("strings", schema={"items": {"enum": ["HmacSHA256", "HmacSHA1"]}}),
                  "nonce_required": Param("boolean"),
                  "method": Param(S, description="HTTP method the API answers (default any)"),
                  "path": Param(S, description="Path pattern, e.g. /v1/items/{id}"),
              },
              access=write("own")),
    Operation("showApi", "GET", "/v1/apis/{api_id}", "An API's settings and the apps authorized for it", show_api, tag="apis",
              access=read("public", "path.api_id")),
    Operation("modifyApi", "PATCH", "/v1/apis/{api_id}",
              "Change an API's settings (owner only; the gateway and later audits use them from now on)",
              modify_api, tag="apis", body={
                  "name": Param(S), "group": Param(S),
                  "auth_type": Param(S, schema={"enum": ["APP", "ANONYMOUS"]}),
                  "appcode_mode": Param(S, schema={"enum": ["DISABLE", "HEADER", "HEADER_QUERY"]}),
                  "signature_methods": Param("strings", schema={"items": {"enum": ["HmacSHA256", "HmacSHA1"]}}),
                  "nonce_required": Param("boolean"),
                  "method": Param(S, description="HTTP method the API answers; ANY for any"),
                  "path": Param(S, description="Path pattern, e.g. /v1/items/{id}; empty to remove it"),
              },
              access=write("forbidden", "path.api_id")),
    Operation("deleteApi", "DELETE", "/v1/apis/{api_id}",
              "Delete an API (owner only): every grant on it ends now; its history stays", delete_api, tag="apis",
              access=write("forbidden", "path.api_id")),
    Operation("createGroup", "POST", "/v1/groups", "Create an API group (the caller owns it)", create_group, 201,
              idempotent=True, tag="groups", location="/v1/groups/{group_id}", body={
                  "name": Param(S, True, "1-64 of letters, digits, _ . - ('default' is reserved)"),
                  "description": Param(S)},
              access=write("own")),
    Operation("listGroups", "GET", "/v1/groups", "The caller's API groups (its default group first)", list_groups,
              tag="groups", query=dict(_PAGE), access=read("own")),
    Operation("showGroup", "GET", "/v1/groups/{group_id}", "One of the caller's API groups and its hosts", show_group,
              tag="groups", access=read("hidden")),
    Operation("bindHost", "POST", "/v1/groups/{group_id}/hosts",
              "Bind a host to the group: requests to it are routed only among the group's APIs", bind_host,
              tag="groups", body={"host": Param(S, True, "A DNS name or IPv4 address (normalised: lower case, "
                                                         "no trailing dot or port)")},
              access=write("hidden")),
    Operation("unbindHost", "DELETE", "/v1/groups/{group_id}/hosts/{host}", "Release a host from the group",
              unbind_host, tag="groups", access=write("hidden")),
    Operation("listApps", "GET", "/v1/apps", "The caller's apps (auditors and admins: every account's), filtered",
              list_apps, tag="apps", query={
                  "name": Param(S, description="Name contains this (case-insensitive; plain text, 1-64)",
                                schema={"minLength": 1, "maxLength": 64}),
                  "app_id": Param(S, schema=_UUID), "app_key": Param(S, description="Holds this AppKey now"),
                  "tag": Param("strings", description="KEY=VALUE, repeatable (all must match)"),
                  "owner": Param(S, description="Auditors, admins: only this account's"), **_PAGE},
              access=read("own")),
    Operation("createApp", "POST", "/v1/apps", "Create an app with its default key pair and an AppCode", create_app, 201,
              idempotent=True, tag="apps", reveals=("app_secret", "app_code"), location="/v1/apps/{app_id}", body={
                  "name": Param(S, True, "4-26 letters, digits, _; starts with a letter"),
                  "description": Param(S), "tags": Param("object", schema=_TAGS), "extension": Param(S),
                  "app_key": Param(S), "app_secret": Param(S), "app_code": Param(S),
              },
              access=write("own")),
    Operation("showApp", "GET", "/v1/apps/{app_id}", "An app (owner view, or public view for others)", show_app, tag="apps",
              access=read("public", "path.app_id")),
    Operation("modifyApp", "PATCH", "/v1/apps/{app_id}", "Change an app's attributes", modify_app, tag="apps", body={
        "name": Param(S), "description": Param(S), "tags": Param("object", schema=_TAGS), "extension": Param(S)},
              access=write("forbidden", "path.app_id")),
    Operation("deleteApp", "DELETE", "/v1/apps/{app_id}", "Delete an app", delete_app, tag="apps",
              access=write("forbidden", "path.app_id")),
    Operation("disableApp", "POST", "/v1/apps/{app_id}/disable", "Disable an app (grants kept)", disable_app, tag="apps",
              access=write("forbidden", "path.app_id", break_glass=True)),
    Operation("enableApp", "POST", "/v1/apps/{app_id}/enable", "Enable a disabled app", enable_app, tag="apps",
              access=write("forbidden", "path.app_id", break_glass=True)),
    Operation("listKeys", "GET", "/v1/apps/{app_id}/keys", "An app's key pairs (secrets masked)", list_keys, tag="keys",
              query=dict(_PAGE), access=read("forbidden", "path.app_id")),
    Operation("addKey", "POST", "/v1/apps/{app_id}/keys", "Add a key pair", add_key, 201, idempotent=True, tag="keys",
              reveals=("app_secret",), location="/v1/apps/{app_id}/keys/{app_key}",
              body={"app_key": Param(S), "app_secret": Param(S)},
              access=write("forbidden", "path.app_id")),
    Operation("showKey", "GET", "/v1/apps/{app_id}/keys/{app_key}", "One of the app's key pairs (secret masked)",
              show_key, tag="keys",
              access=read("forbidden", "path.app_id")),
    Operation("deleteKey", "DELETE", "/v1/apps/{app_id}/keys/{app_key}", "Delete an added key pair", delete_key, tag="keys",
              access=write("forbidden", "path.app_id", break_glass=True)),
    Operation("resetKey", "POST", "/v1/keys/{app_key}/reset", "New secret (and optionally AppKey) for a pair", reset_key,
              idempotent=True, tag="keys", reveals=("app_secret",),
              body={"new_app_key": Param(S), "new_app_secret": Param(S)},
              access=write("hidden", "key:path.app_key")),
    Operation("listCodes", "GET", "/v1/apps/{app_id}/codes", "An app's AppCodes (masked)", list_codes, tag="codes",
              query=dict(_PAGE), access=read("forbidden", "path.app_id")),
    # An AppCode is a secret: it never names a URL. Its Location is the app's list of (masked) codes.
    Operation("addCode", "POST", "/v1/apps/{app_id}/codes", "Add an AppCode", add_code, 201, idempotent=True, tag="codes",
              reveals=("app_code",), location="/v1/apps/{app_id}/codes", body={"code": Param(S)},
              access=write("forbidden", "path.app_id")),
    Operation("deleteCode", "POST", "/v1/apps/{app_id}/codes/delete", "Delete an AppCode (given in the body)",
              delete_code, tag="codes", body={"code": Param(S, True)},
              access=write("forbidden", "path.app_id", break_glass=True)),
    Operation("resetCode", "POST", "/v1/codes/reset", "Replace an AppCode", reset_code, idempotent=True, tag="codes",
              reveals=("app_code",), body={"code": Param(S, True), "new_code": Param(S)},
              access=write("hidden", "code:body.code")),
    Operation("listGrants", "GET", "/v1/grants",
              "Grants on the caller's APIs or held by the caller's apps (in force or expired)", list_grants,
              tag="grants", query={"app_id": Param(S, schema=_UUID), "api_id": Param(S, schema=_UUID),
                                   "stage": Param(S, schema=_STAGE), **_PAGE},
              access=read("own", "query.app_id", "query.api_id")),
    # A grant has no id of its own: it is (app, API, stage), given or renewed, in bulk. 200, no
    # Location; GET /v1/grants?app_id=&api_id=&stage= finds it.
    Operation("grant", "POST", "/v1/grants", "Authorize apps for APIs in a stage (bulk: one to many)", grant,
              idempotent=True, tag="grants", body={
                  "app_id": Param("string_or_strings", True, "An app id, or up to 100"),
                  "api_id": Param("string_or_strings", True, "An API id, or up to 100"),
                  "stage": Param(S, True, schema=_STAGE),
                  "until": Param(S, description="ISO 8601 end time with timezone"),
                  "for": Param(S, description="Duration instead of until: 30d, 12h, 90m, 45s, 2w"),
                  "description": Param(S, description="What the grant is for, at most 180 characters; kept "
                                       "by the grant (giving it again changes only its end time)",
                                       schema={"type": "string", "maxLength": 180}),
              },
              access=write("forbidden", "body.api_id")),
    Operation("revoke", "POST", "/v1/revoke", "Take a grant back (API owner or app owner)", revoke, tag="grants",
              body={"app_id": Param(S, True), "api_id": Param(S, True), "stage": Param(S, True, schema=_STAGE)},
              access=write("forbidden", "body.app_id", "body.api_id", break_glass=True)),
    Operation("check", "POST", "/v1/check", "May this credential call the API in the stage (now or at)?", check,
              tag="gateway", body={
                  "api_id": Param(S, True), "stage": Param(S, schema=_STAGE), "app_key": Param(S),
                  "app_code": Param(S), "at": Param(S, description="ISO 8601 instant with timezone"),
              },
              access=read("forbidden", "credential", "body.api_id")),
    Operation("verifyRequest", "POST", "/v1/verify-request", "Verify a raw HTTP/1.1 request as the gateway would",
              verify_request, tag="gateway", body={
                  "api_id": Param(S, True), "request": Param(S, True, "Request line, headers, blank line, body"),
                  "at": Param(S), "window": Param("number"),
              },
              access=read("forbidden", "request", "body.api_id")),
    Operation("whoCouldCall", "GET", "/v1/audit/who-could-call",
              "Apps and credentials that could call your API at an instant, or their intervals in a window",
              who_could_call, tag="audit", query={
                  "api_id": Param(S, True), "stage": Param(S, schema=_STAGE),
                  "at": Param(S, description="ISO 8601 instant (default now)"),
                  "from": Param(S, description="Window start (with to)"), "to": Param(S, description="Window end")},
              access=read("forbidden", "query.api_id")),
    Operation("access", "GET", "/v1/audit/access", "What your app (or one AppKey) could call, at an instant or in a window",
              access, tag="audit", query={"app_id": Param(S), "app_key": Param(S), "at": Param(S),
                                          "from": Param(S), "to": Param(S)},
              access=read("forbidden", "query.app_id", "key:query.app_key")),
    Operation("history", "GET", "/v1/audit/history", "The events of your app, API or AppKey (secrets never shown)",
              history, tag="audit", query={"app_id": Param(S), "api_id": Param(S), "app_key": Param(S)},
              access=read("forbidden", "query.app_id", "query.api_id", "key:query.app_key")),
    Operation("replay", "GET", "/v1/audit/replay", "Your app's or API's authorization state as of an instant",
              replay, tag="audit", query={"until": Param(S, True), "app_id": Param(S), "api_id": Param(S)},
              access=read("forbidden", "query.app_id", "query.api_id")),
    Operation("auditDigest", "GET", "/v1/audit/digest", "The hash-chain head of the log (HEAD@POSITION)",
              audit_digest, tag="audit",
              access=read("public")),
    Operation("listTokens", "GET", "/v1/tokens", "The caller's tokens (never the token itself)", list_tokens, tag="tokens",
              query={"account": Param(S, description="Auditors, admins: this account's (default every account's)"),
                     **_PAGE},
              access=read("own")),
    Operation("issueToken", "POST", "/v1/tokens", "Issue a token: owners for their own account, admins for any",
              issue_token, 201, idempotent=True, tag="tokens", reveals=("token",), location="/v1/tokens/{token_id}",
              body={
                  "label": Param(S), "account": Param(S, description="Whose token (default the caller's)"),
                  "role": Param(S, schema={"enum": ["owner", "auditor", "admin"]}, description="Default owner"),
                  "scopes": Param("strings", description="read-only, app:<app id> or api:<api id>"),
                  "expires_at": Param(S, description="ISO 8601 instant with timezone"),
                  "for": Param(S, description="Lifetime instead of expires_at: 30d, 12h, 90m, 45s, 2w")},
              access=write("own", break_glass=True)),
    Operation("showToken", "GET", "/v1/tokens/{token_id}", "One of the caller's tokens (never the token itself)",
              show_token, tag="tokens",
              access=read("hidden")),
    Operation("revokeToken", "DELETE", "/v1/tokens/{token_id}", "Revoke one of the caller's tokens (admins: any)",
              revoke_token, tag="tokens",
              access=write("hidden", break_glass=True)),
    Operation("auditTokens", "GET", "/v1/audit/tokens",
              "Who could administer what at an instant: the tokens live then, with role and scopes", audit_tokens,
              tag="audit", query={"at": Param(S, description="ISO 8601 instant (default now)"),
                                  "account": Param(S, description="Only this account's (owners: their own)")},
              access=read("own")),
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
    return check_fields(op, data)


def check_fields(op: Operation, data: Any) -> dict[str, Any]:
    """The body's fields, each known and of its declared type (InvalidInput naming the field)."""
    assert op.body is not None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object", field="body")
    data = dict(data)
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


def _json_body(op: Operation, content_type: str | None, raw: bytes) -> None:
    """A body must be JSON: 415 for a Content-Type that says otherwise (none at all is taken as JSON)."""
    if op.body is None or not raw.strip() or content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType(f"the body must be JSON (Content-Type: application/json), got {media[:60]!r}",
                                   field="content-type")


def _location(op: Operation, result: dict[str, Any]) -> dict[str, str]:
    """A create's Location: the new resource's URL (path-quoted ids), when the answer names it."""
    if op.location is None:
        return {}
    from urllib.parse import quote

    try:
        return {"Location": op.location.format_map({k: quote(str(v), safe="") for k, v in result.items()})}
    except KeyError:
        return {}


def _authenticate(service: Any, header: str | None) -> Any:
    """The token's principal (account, role, scopes); 401 for none, unknown, revoked or expired
    (one message for the three: a token's fate is no oracle either)."""
    from ledger.tokens import principal_for_token

    if not header:
        raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)", field="authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be: Bearer <token>", field="authorization")
    principal = principal_for_token(service.ledger, token.strip())
    if principal is None:
        raise Unauthenticated("invalid, expired or revoked token", field="authorization")
    return principal


def _endpoint(service: Any, op: Operation) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        extra = request.scope.get(LOG_KEY)
        try:
            raw = await request.body() if op.body is not None else b""

            def run() -> Any:
                # Who is asking comes first: an unauthenticated caller learns nothing else.
                principal = _authenticate(service, request.headers.get("authorization"))
                actor = principal.account
                if extra is not None:
                    extra["actor"] = actor
                    extra["role"] = principal.role
                authorize(op, principal)  # role and read-only: the one gate (authledger.service.permissions)
                _json_body(op, request.headers.get("content-type"), raw)
                body = _check_body(op, raw) if op.body is not None else {}
                query: dict[str, list[str]] = {}
                for k, v in request.query_params.multi_items():
                    query.setdefault(k, []).append(v)
                key = idempotency_key(op, request.headers.getlist(IDEMPOTENCY_HEADER))
                return perform(service, principal, op, dict(request.path_params), body, query, key, authorized=True)

            result = await run_in_threadpool(run)
            position = result.get("position") if op.method != "GET" else None
            if isinstance(position, int):
                await run_in_threadpool(_await_index, service, position)
        except LedgerError as e:
            if extra is not None:
                extra["error"] = e.code
            return error_response(e)
        if result.get("replayed") is True:
            return JSONResponse(result, status_code=200, headers={REPLAYED_HEADER: "true", **_location(op, result)})
        return JSONResponse(result, status_code=op.status, headers=_location(op, result) or None)

    return endpoint


def perform(service: Any, principal: Any, op: Operation, path: dict[str, str], body: dict[str, Any],
            query: dict[str, list[str]], key: str | None = None, *, source: str = SOURCE,
            authorized: bool = False) -> dict[str, Any]:
    """Run one operation for ``principal``: the role gate, the fields, the scope, then the
    handler under the idempotency key. The admin API and the console both come through here,
    so a rule is enforced once (``body`` already parsed: a dict of the operation's fields)."""
    if not authorized:
        authorize(op, principal)
    if op.body is not None:
        body = check_fields(op, body)
    elif body:
        raise InvalidInput(f"{op.op_id} takes no body", field="body")
    for k in query:
        if k not in op.query:
            raise InvalidInput(f"unknown query parameter {k[:40]!r}", field=k[:64])
    for k, p in op.query.items():
        if p.required and not query.get(k):
            raise InvalidInput(f"query parameter {k} is required", field=k)
    call = Call(service, principal.account, path, body, query, principal, source)
    in_scope(op, principal, call)  # an app- or API-scoped token: only about its app or API
    if key is not None and not op.idempotent:
        raise InvalidInput(f"{op.op_id} does not take an {IDEMPOTENCY_HEADER} header", field="idempotency_key")
    call.idempotency = idempotency.request(key, op.op_id, {"path": call.path, "body": body})
    with acting(op, principal):
        return op.handler(call)


BY_ID: dict[str, Operation] = {op.op_id: op for op in OPERATIONS}


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
        # A known path with a method it does not take: 405 with Allow, not the catch-all 404.
        allowed = sorted(set(ops) | ({"HEAD"} if "GET" in ops else set()))
        others = [m for m in _METHODS if m not in allowed]
        found.append(Route(path, _not_allowed(allowed), methods=others))
    found.append(Route("/v1/{rest:path}", _unknown, methods=list(_METHODS)))
    return found


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _not_allowed(allowed: list[str]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return error_response(MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path[:200]}; allowed: {', '.join(allowed)}", allowed))
    return endpoint


async def _unknown(request: Request) -> Response:
    return error_response(UnknownRoute(f"no such endpoint: {request.method} {request.url.path[:200]}", field="path"))
