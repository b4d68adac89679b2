"""The admin API under ``/v1/``: every ledger command and query, JSON in and out.

Callers send ``Authorization: Bearer <token>`` (``authledger token create``); the token's
account is the acting account, so ownership rules apply exactly as in the CLI. Errors are
``{"error", "message", "field"}`` with the status of the LedgerError leaf: 400 invalid
input (the field named), 401 missing/invalid token, 403 not permitted, 404 unknown id,
405 a known path's wrong method (with ``Allow``), 409 conflict. Secrets appear only in the responses of the calls that create or reset
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
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledger.errors import InvalidInput, LedgerError, NotFound
from service.command_handlers import (
    add_code,
    add_key,
    bind_host,
    create_app,
    create_group,
    list_groups,
    show_group,
    unbind_host,
    delete_app,
    delete_code,
    delete_key,
    disable_app,
    enable_app,
    grant,
    issue_token,
    list_apis,
    list_apps,
    list_keys,
    list_tokens,
    modify_app,
    register_api,
    reset_code,
    reset_key,
    revoke,
    revoke_token,
    show_api,
    show_app,
)
from service.operations import Call, Operation, Param
from service.query_handlers import (
    access,
    audit_digest,
    check,
    history,
    replay,
    verify_request,
    who_could_call,
)

LOG_KEY = "authledger.log"


class Unauthenticated(LedgerError):
    """No bearer token, or one the ledger does not know (or has revoked)."""

    exit_code = 4
    http_status = 401
    code = "unauthenticated"


class UnknownRoute(NotFound):
    pass



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
                  "group_id": Param(S, description="One of your API groups (default: your default group)",
                                    schema=_UUID),
                  "group": Param(S, description="A free-text label (not used for routing; see group_id)"),
                  "auth_type": Param(S, schema={"enum": ["APP", "ANONYMOUS"]}),
                  "appcode_mode": Param(S, schema={"enum": ["DISABLE", "HEADER", "HEADER_QUERY"]}),
                  "signature_methods": Param("strings", schema={"items": {"enum": ["HmacSHA256", "HmacSHA1"]}}),
                  "nonce_required": Param("boolean"),
                  "method": Param(S, description="HTTP method the API answers (default any)"),
                  "path": Param(S, description="Path pattern, e.g. /v1/items/{id}"),
              }),
    Operation("showApi", "GET", "/v1/apis/{api_id}", "An API's settings and the apps authorized for it", show_api, tag="apis"),
    Operation("createGroup", "POST", "/v1/groups", "Create an API group (the caller owns it)", create_group, 201,
              idempotent=True, tag="groups", body={
                  "name": Param(S, True, "1-64 of letters, digits, _ . - ('default' is reserved)"),
                  "description": Param(S)}),
    Operation("listGroups", "GET", "/v1/groups", "The caller's API groups (its default group first)", list_groups,
              tag="groups"),
    Operation("showGroup", "GET", "/v1/groups/{group_id}", "One of the caller's API groups and its hosts", show_group,
              tag="groups"),
    Operation("bindHost", "POST", "/v1/groups/{group_id}/hosts",
              "Bind a host to the group: requests to it are routed only among the group's APIs", bind_host,
              tag="groups", body={"host": Param(S, True, "A DNS name or IPv4 address (normalised: lower case, "
                                                         "no trailing dot or port)")}),
    Operation("unbindHost", "DELETE", "/v1/groups/{group_id}/hosts/{host}", "Release a host from the group",
              unbind_host, tag="groups"),
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
        # A known path with a method it does not take: 405 with Allow, not the catch-all 404.
        allowed = sorted(set(ops) | ({"HEAD"} if "GET" in ops else set()))
        others = [m for m in _METHODS if m not in allowed]
        found.append(Route(path, _not_allowed(allowed), methods=others))
    found.append(Route("/v1/{rest:path}", _unknown, methods=list(_METHODS)))
    return found


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _not_allowed(allowed: list[str]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse({"error": "method_not_allowed",
                             "message": f"{request.method} is not allowed on {request.url.path[:200]}; "
                                        f"allowed: {', '.join(allowed)}"},
                            status_code=405, headers={"Allow": ", ".join(allowed)})
    return endpoint


async def _unknown(request: Request) -> Response:
    return JSONResponse({"error": "not_found", "message": f"no such endpoint: {request.method} {request.url.path}"},
                        status_code=404)
