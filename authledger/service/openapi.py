"""The OpenAPI 3.1 document of the admin API, generated from ``authledger.service.admin.OPERATIONS``.

Served at ``/v1/openapi.json``. Generated from the same table the routes come from, so
every endpoint and body field is described and the document cannot drift; each operation's
answer has its schema (``authledger.service.schemas``: resources, receipts, audit answers, Error, with
every instant an ISO 8601 UTC ``Instant``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from authledger.service.admin import OPERATIONS, Operation, Param
from authledger.service.schemas import COMPONENTS, RESPONSES
from authledger.service.permissions import roles_text

_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")
_UUID_PARAMS = {"app_id", "api_id", "token_id"}
_ERROR_STATUSES = {
    "400": "Invalid input (the field is named)",
    "401": "Missing, invalid, expired or revoked bearer token",
    "403": "The token's role, scope or account may not do this",
    "404": "Unknown id",
    "409": "Conflict: duplicate AppKey/AppCode, deleted app, concurrent change, host already bound, overlapping route; log_mismatch: the log no longer matches its recorded chain (audit)",
    "413": "Request body too large",
    "415": "The body is not JSON (Content-Type other than application/json)",
    "503": "The store is unavailable, full or busy (store_unavailable, store_full, busy; Retry-After)",
}
_IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"},
    "description": "Run at most once per key (per account, never expiring; a quoted sf-string is accepted "
                   "too): a repeat with the same request returns the first result's ids with 200 and "
                   "Idempotent-Replayed: true, writes nothing and does not reveal secrets again; the "
                   "same key with another request is 422.",
}


def _schema(p: Param) -> dict[str, Any]:
    if p.type == "strings":
        s: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    elif p.type == "string_or_strings":
        s = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 100}]}
    else:
        s = {"type": p.type}
    extra = dict(p.schema)
    if "items" in extra and s.get("type") == "array":
        s["items"] = {"type": "string", **extra.pop("items")}
    s.update(extra)
    if p.description:
        s["description"] = p.description
    return s


def _access(op: Operation) -> dict[str, Any]:
    """The operation's access rule (authledger.service.permissions), as the gate enforces it."""
    a = op.access
    if a is None:
        return {"roles": []}
    return {"kind": a.kind, "roles": list(a.roles), "others": a.others, "scoped": bool(a.target),
            "break_glass": a.break_glass}


def _operation(op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    for name in _PATH_PARAM.findall(op.path):
        schema: dict[str, Any] = {"type": "string"}
        if name in _UUID_PARAMS:
            schema["format"] = "uuid"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, p in op.query.items():
        q: dict[str, Any] = {"name": name, "in": "query", "required": p.required, "schema": _schema(p)}
        if p.type == "strings":
            q.update(style="form", explode=True)
        if p.description:
            q["description"] = p.description
        params.append(q)
    # An operation added to the table without a schema yet is described as an object
    # (tests/service/test_response_schemas.py fails until it has one).
    answer = RESPONSES.get(op.op_id, {"type": "object"})
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "OK" + (f"; reveals {', '.join(op.reveals)} once" if op.reveals else ""),
            "content": {"application/json": {"schema": answer}},
        }
    }
    if op.location is not None:
        responses[str(op.status)]["headers"] = {"Location": {
            "description": f"The new resource: {op.location}", "schema": {"type": "string"}}}
    if op.idempotent:
        params.append(dict(_IDEMPOTENCY))
        said = ("the request already ran under this Idempotency-Key; the first response's ids, nothing written"
                + (f", {', '.join(op.reveals)} not shown again" if op.reveals else ""))
        replayed = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}}
        if str(op.status) == "200":
            responses["200"]["description"] += "; or replayed: " + said
            responses["200"]["headers"] = replayed
        else:
            responses["200"] = {"description": "Replayed: " + said, "headers": replayed,
                                "content": {"application/json": {"schema": answer}}}
    for status, text in _ERROR_STATUSES.items():
        if status in ("413", "415") and op.body is None:
            continue
        responses[status] = {"description": text,
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if op.idempotent:
        responses["422"] = {"description": "The Idempotency-Key was used for a different request",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    doc: dict[str, Any] = {
        "operationId": op.op_id,
        "summary": op.summary,
        "description": roles_text(op.access),
        "x-roles": list(op.access.roles) if op.access else [],
        "x-access": _access(op),
        "tags": [op.tag] if op.tag else [],
        "parameters": params,
        "responses": responses,
    }
    if op.body is not None:
        doc["requestBody"] = {
            "required": any(p.required for p in op.body.values()),
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {name: _schema(p) for name, p in op.body.items()},
                "required": [name for name, p in op.body.items() if p.required],
                "additionalProperties": False,
            }}},
        }
    return doc


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authledger admin API",
            "version": "1",
            "description": "Every ledger command and query over HTTP. Authenticate with "
            "`Authorization: Bearer <token>` (`authledger token create --account A`); the token's "
            "account is the acting account and its role (owner, auditor, admin) and scopes "
            "(read-only, one app or one API) say what it may call: each operation's `x-roles` and "
            "`x-access`, and its description.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": COMPONENTS,
        },
    }
