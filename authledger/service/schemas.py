"""The admin API's response schemas: ``components/schemas`` of the OpenAPI document and the
success schema of each operation (``RESPONSES``, keyed by operationId).

Kept beside the operation table rather than in it, so that adding an operation is one line
in ``authledger.service.admin.OPERATIONS`` plus one entry here (tests/service/test_response_schemas.py
fails for an operation without one, and validates every operation's real answers against
its schema). Objects are closed (``additionalProperties: false``): a field added to an
answer must be added here, so the document cannot drift from what the server says.

Every instant is an ``Instant``: ISO 8601 in UTC with ``Z``, microseconds only when non-zero
(``ledger.isotime``).
"""

from __future__ import annotations

from typing import Any

from ledger.isotime import PATTERN

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(s: Schema) -> Schema:
    if set(s) == {"type"} and isinstance(s["type"], str):
        return {"type": [s["type"], "null"]}
    return {"anyOf": [s, {"type": "null"}]}


def obj(props: dict[str, Schema], optional: tuple[str, ...] = (), description: str = "") -> Schema:
    """A closed object: every property required but the ``optional`` ones."""
    s: Schema = {"type": "object", "properties": props,
                 "required": [k for k in props if k not in optional], "additionalProperties": False}
    if description:
        s["description"] = description
    return s


def listing(item: Schema, description: str, **extra: Schema) -> Schema:
    """A page of a list (authledger.service.paging): the items, and the cursor of the next page."""
    return obj({**extra, "data": {"type": "array", "items": item, "maxItems": 1000},
                "next": nullable({"type": "string", "maxLength": 64})},
               description=description + "; next: the cursor of the next page (null: the last)")


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
UUID: Schema = {"type": "string", "format": "uuid"}
STAGE: Schema = {"type": "string", "enum": ["RELEASE", "PRE", "TEST"]}
INSTANT = ref("Instant")
MAYBE_INSTANT = nullable(INSTANT)
MAYBE_STR = nullable(STR)
# A grant's description (GrantGiven v2): null for grants given without one, or before it existed.
GRANT_DESCRIPTION: Schema = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 180}, {"type": "null"}],
                             "description": "What the grant is for, as given with it (at most 180 characters)"}

# -- resources -------------------------------------------------------------------------

_PUBLIC_APP = {"app_id": UUID, "name": STR, "owner": STR,
               "status": {"type": "string", "enum": ["enabled", "disabled", "deleted"]}}

_API = {
    "api_id": UUID, "name": STR, "owner": STR, "group": STR,
    "auth_type": {"type": "string", "enum": ["APP", "ANONYMOUS"]},
    "appcode_mode": {"type": "string", "enum": ["DISABLE", "HEADER", "HEADER_QUERY"]},
    "signature_methods": {"type": "array", "items": STR}, "nonce_required": BOOL,
    "method": STR, "path": MAYBE_STR, "registered_at": INSTANT, "modified_at": INSTANT, "version": INT,
    "group_id": UUID, "group_name": STR,
}

COMPONENTS: dict[str, Schema] = {
    "Instant": {"type": "string", "format": "date-time", "pattern": PATTERN,
                "description": "ISO 8601 in UTC with Z; microseconds only when non-zero",
                "examples": ["2026-01-31T12:00:00Z", "2026-01-31T12:00:00.250000Z"]},
    "Error": obj({"error": STR, "message": STR, "field": nullable(STR)},
                 description="Every error: a stable code, a one-line message, the field at fault"),
    "Api": obj(_API, description="An API's settings"),
    "ApiWithApps": obj({**_API, "authorized_apps": {"type": "array", "items": ref("AuthorizedApp")}},
                       description="An API's settings and the apps authorized for it now"),
    "AuthorizedApp": obj({
        "app_id": UUID, "app_name": STR, "app_owner": STR, "app_status": STR, "stage": STAGE,
        "until": MAYBE_INSTANT, "granted_by": MAYBE_STR, "granted_at": INSTANT, "description": GRANT_DESCRIPTION,
    }, description="An app with a grant in force on the API"),
    "KeyPair": obj({"app_key": STR, "app_secret": {"type": "string", "const": "********"}, "default": BOOL,
                    "added_at": INSTANT, "secret_set_at": INSTANT}, description="A key pair, secret masked"),
    "AppCode": obj({"app_code": STR, "added_at": INSTANT}, description="An AppCode, masked to its last four"),
    "Grant": obj({"api_id": STR, "api_name": MAYBE_STR, "stage": STAGE, "until": MAYBE_INSTANT, "in_force": BOOL,
                  "granted_by": MAYBE_STR, "granted_at": INSTANT, "description": GRANT_DESCRIPTION},
                 description="A grant the app holds"),
    "PublicApp": obj(_PUBLIC_APP, description="What any account may see of an app"),
    "App": obj({
        **_PUBLIC_APP, "description": STR, "tags": {"type": "object", "additionalProperties": STR},
        "extension": STR, "created_at": INSTANT, "modified_at": INSTANT, "version": INT,
        "key_pairs": {"type": "array", "items": ref("KeyPair")},
        "app_codes": {"type": "array", "items": ref("AppCode")},
        "grants": {"type": "array", "items": ref("Grant")},
    }, description="The owner's view of an app (secrets masked)"),
    "Token": obj({"token_id": UUID, "account": STR, "label": STR, "role": ref("Role"),
                  "scopes": {"type": "array", "items": STR}, "expires_at": MAYBE_INSTANT, "issued_at": INSTANT,
                  "issued_by": MAYBE_STR, "revoked": BOOL, "revoked_at": MAYBE_INSTANT, "revoked_by": MAYBE_STR},
                 description="A bearer token (never the token itself)"),
    "Role": {"type": "string", "enum": ["owner", "auditor", "admin"]},
    "LiveToken": obj({"token_id": UUID, "account": STR, "label": STR, "role": ref("Role"),
                      "scopes": {"type": "array", "items": STR}, "expires_at": MAYBE_INSTANT,
                      "issued_at": INSTANT, "issued_by": MAYBE_STR, "revoked_at": MAYBE_INSTANT, "can": STR},
                     description="A token live at the instant asked, and what it could do"),
    "TokensAt": obj({"at": INSTANT, "account": MAYBE_STR, "tokens": {"type": "array", "items": ref("LiveToken")},
                     "count": INT}, description="Who could administer what at an instant"),
    "Decision": obj({"allowed": BOOL, "reason": STR, "app_id": MAYBE_STR, "extension": MAYBE_STR, "api_id": STR,
                     "stage": STAGE, "at": INSTANT, "position": INT},
                    description="May the credential call the API in the stage at the instant"),
    "Verification": obj({
        "accepted": BOOL, "status": INT, "error_message": MAYBE_STR, "reason": MAYBE_STR, "app_id": MAYBE_STR,
        "app_key": MAYBE_STR, "stage": nullable(STAGE), "string_to_sign": MAYBE_STR,
        "system_parameters": {"type": "object", "additionalProperties": STR}, "position": INT,
    }, description="The gateway's verdict on a raw request"),
    # -- audit answers ------------------------------------------------------------------
    "Cause": {"description": "What opened or closed an interval: an event, or a grant's end time",
              "oneOf": [
                  obj({"kind": {"const": "event"}, "type": MAYBE_STR, "position": INT, "timestamp": MAYBE_INSTANT,
                       "actor": MAYBE_STR, "source": MAYBE_STR}),
                  obj({"kind": {"const": "expiry"}, "at": INSTANT, "end_set_at_position": nullable(INT)}),
              ]},
    "CallerAt": obj({"app_id": UUID, "stage": STAGE, "kind": STR, "credential": STR, "credential_id": STR,
                     "grant_until": MAYBE_INSTANT}, description="A credential that could call the API"),
    "AccessAt": obj({"api_id": UUID, "stage": STAGE, "kind": STR, "credential": STR, "credential_id": STR,
                     "grant_until": MAYBE_INSTANT}, description="An API the credential could call"),
    "Interval": obj({
        "app_id": UUID, "api_id": UUID, "stage": STAGE, "kind": STR, "credential": STR, "credential_id": STR,
        "start": INSTANT, "end": MAYBE_INSTANT, "start_cause": nullable(ref("Cause")),
        "end_cause": nullable(ref("Cause")), "start_clipped": BOOL, "end_clipped": BOOL,
    }, description="When a credential could call, [start, end) clipped to the window (end null: open)"),
    "WhoCouldCallAt": obj({"api_id": UUID, "group_id": UUID, "group_name": STR, "stage": nullable(STAGE), "at": INSTANT,
                           "could_call": {"type": "array", "items": ref("CallerAt")}}),
    "WhoCouldCallWindow": obj({"api_id": UUID, "group_id": UUID, "group_name": STR, "stage": nullable(STAGE),
                               "from": INSTANT, "to": INSTANT,
                               "intervals": {"type": "array", "items": ref("Interval")}}),
    "AccessAtAnswer": obj({"app_id": UUID, "app_key": MAYBE_STR, "at": INSTANT,
                           "could_call": {"type": "array", "items": ref("AccessAt")}}),
    "AccessWindow": obj({"app_id": UUID, "app_key": MAYBE_STR, "from": INSTANT, "to": INSTANT,
                         "intervals": {"type": "array", "items": ref("Interval")}}),
    "Event": obj({"position": INT, "type": STR, "timestamp": MAYBE_INSTANT, "actor": MAYBE_STR,
                  "source": MAYBE_STR, "originator_id": UUID,
                  "fields": {"type": "object", "description": "The event's own fields; secrets left out, "
                                                              "AppCodes masked, until an Instant"}},
                 description="One event of the log"),
    "Replay": obj({
        "at": INSTANT,
        "apis": {"type": "array", "items": obj({"api_id": UUID, "owner": STR, "name": STR, "auth_type": STR,
                                                 "appcode_mode": STR})},
        "apps": {"type": "array", "items": obj({
            "app_id": UUID, "owner": STR, "name": MAYBE_STR, "enabled": BOOL,
            "credentials": {"type": "array", "items": obj({"kind": STR, "credential": STR})},
            "grants": {"type": "array", "items": obj({"api_id": UUID, "stage": STAGE, "until": MAYBE_INSTANT,
                                                       "in_force": BOOL})},
        })},
    }, description="The authorization state as of an instant"),
    "Digest": obj({"digest": {"type": "string", "pattern": "^[0-9a-f]{64}@[0-9]+$"},
                   "head": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "position": INT,
                   "recorded_digest": nullable({"type": "string", "pattern": "^[0-9a-f]{64}@[0-9]+$"}),
                   "events": INT},
                  description="The hash-chain head recomputed from the log, and the one the audit index recorded"),
}

# -- receipts ----------------------------------------------------------------------------

_RECEIPT: dict[str, Schema] = {
    "changed": BOOL, "events": INT, "position": nullable(INT), "timestamp": MAYBE_INSTANT,
    "replayed": {"const": True}, "withheld": {"type": "array", "items": STR},
}
_REPLAY_ONLY = ("replayed", "withheld")


def receipt(ids: dict[str, Schema], revealed: tuple[str, ...] = (), name: str = "") -> Schema:
    """What a write answers: its ids, the secrets it reveals (once: not on a replay), where it landed."""
    props = {**ids, **{k: STR for k in revealed}, **_RECEIPT}
    return obj(props, optional=(*revealed, *_REPLAY_ONLY),
               description="What the write did" + (f" ({name})" if name else "")
               + "; replayed and withheld only on an idempotent replay")


_APP = {"app_id": UUID}
_KEY = {"app_id": UUID, "app_key": STR}
_CODE = {"app_id": UUID, "app_code_hint": STR}

# The answers that are not resources above: lists and the receipts of writes, by name.
COMPONENTS.update({
    "ApiList": listing(ref("Api"), "A page of APIs"),
    "AppList": listing(ref("App"), "A page of apps"),
    "KeyPairList": listing(ref("KeyPair"), "A page of the app's key pairs", app_id=UUID),
    "TokenList": listing(ref("Token"), "A page of tokens"),
    "AppCodeList": listing(ref("AppCode"), "A page of the app's AppCodes", app_id=UUID),
    "KeyPairOfApp": obj({"app_id": UUID, **COMPONENTS["KeyPair"]["properties"]},
                        description="One key pair of an app, secret masked"),
    "GrantListItem": obj({
        "app_id": UUID, "app_name": STR, "app_owner": STR, "app_status": STR, "api_id": UUID, "api_name": STR,
        "api_owner": STR, "stage": STAGE, "until": MAYBE_INSTANT, "in_force": BOOL, "granted_by": MAYBE_STR,
        "granted_at": INSTANT, "changed_at": INSTANT, "description": GRANT_DESCRIPTION,
    }, description="A grant on one of the caller's APIs or held by one of the caller's apps"),
    "GrantList": listing(ref("GrantListItem"), "A page of grants"),
    "ApiGroup": obj({"group_id": UUID, "name": STR, "owner": STR, "description": STR,
                     "hosts": {"type": "array", "items": STR}, "default": BOOL, "created_at": MAYBE_INSTANT},
                    description="An API group and the hosts bound to it (default: the owner's implicit group)"),
    "ApiGroupList": listing(ref("ApiGroup"), "A page of API groups"),
    "GroupReceipt": receipt({"group_id": UUID}, name="an API group created"),
    "HostReceipt": receipt({"group_id": UUID, "host": STR}, name="a host bound to or released from a group"),
    "History": obj({"events": {"type": "array", "items": ref("Event")}}),
    "ApiReceipt": obj({**receipt({"api_id": UUID, "group_id": UUID})["properties"]},
                      optional=("group_id", *_REPLAY_ONLY),
                      description="What the write did (an API registered, in its group; modified or deleted)"),
    "AppCreated": receipt({**_APP, "app_key": STR}, ("app_secret", "app_code"),
                          name="an app with its default key pair and AppCode; the secrets shown once"),
    "AppReceipt": receipt(_APP, name="an app changed, disabled, enabled or deleted"),
    "KeyPairReceipt": receipt(_KEY, ("app_secret",), name="a key pair added, reset or deleted; a new secret shown once"),
    "AppCodeReceipt": receipt(_CODE, ("app_code",), name="an AppCode added or reset; the new code shown once"),
    "GrantReceipt": receipt({"stage": STAGE, "until": MAYBE_INSTANT,
                             "granted": {"type": "array", "items": obj({"app_id": UUID, "api_id": UUID})}},
                            name="the (app, API) pairs newly granted or renewed"),
    "RevokeReceipt": receipt({**_APP, "api_id": UUID, "stage": STAGE, "role": STR},
                             name="a grant taken back, by the API's owner (provider) or the app's (consumer)"),
    "TokenIssued": receipt({"token_id": UUID, "account": STR, "label": STR, "role": ref("Role"),
                            "scopes": {"type": "array", "items": STR}, "expires_at": MAYBE_INSTANT}, ("token",),
                           name="a bearer token; the token shown once"),
    "TokenRevoked": receipt({"token_id": UUID, "account": STR, "revoked": BOOL}, name="a token revoked"),
})

# The success answer of each operation (by operationId).
RESPONSES: dict[str, Schema] = {
    "listApis": ref("ApiList"),
    "registerApi": ref("ApiReceipt"),
    "showApi": ref("ApiWithApps"),
    "modifyApi": ref("ApiReceipt"),
    "createGroup": ref("GroupReceipt"),
    "listGroups": ref("ApiGroupList"),
    "showGroup": ref("ApiGroup"),
    "bindHost": ref("HostReceipt"),
    "unbindHost": ref("HostReceipt"),
    "deleteApi": ref("ApiReceipt"),
    "listApps": ref("AppList"),
    "createApp": ref("AppCreated"),
    "showApp": {"anyOf": [ref("App"), ref("PublicApp")]},
    "modifyApp": ref("AppReceipt"),
    "deleteApp": ref("AppReceipt"),
    "disableApp": ref("AppReceipt"),
    "enableApp": ref("AppReceipt"),
    "listKeys": ref("KeyPairList"),
    "showKey": ref("KeyPairOfApp"),
    "listCodes": ref("AppCodeList"),
    "addKey": ref("KeyPairReceipt"),
    "deleteKey": ref("KeyPairReceipt"),
    "resetKey": ref("KeyPairReceipt"),
    "addCode": ref("AppCodeReceipt"),
    "deleteCode": ref("AppReceipt"),
    "resetCode": ref("AppCodeReceipt"),
    "listGrants": ref("GrantList"),
    "grant": ref("GrantReceipt"),
    "revoke": ref("RevokeReceipt"),
    "check": ref("Decision"),
    "verifyRequest": ref("Verification"),
    "whoCouldCall": {"oneOf": [ref("WhoCouldCallAt"), ref("WhoCouldCallWindow")]},
    "access": {"oneOf": [ref("AccessAtAnswer"), ref("AccessWindow")]},
    "history": ref("History"),
    "replay": ref("Replay"),
    "auditDigest": ref("Digest"),
    "listTokens": ref("TokenList"),
    "issueToken": ref("TokenIssued"),
    "showToken": ref("Token"),
    "auditTokens": ref("TokensAt"),
    "revokeToken": ref("TokenRevoked"),
}
