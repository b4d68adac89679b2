"""Index changes: what the auth index needs to know of each ledger event, and nothing more.

``translate(topic, originator_id, state)`` is a pure function from one stored event to a
short list of change records; ``AuthIndex.apply_change`` applies one record. The ledger's
own index is translate + apply_change; gateways receive only change records (over Redis,
``projections.wire``), so the domain's events can evolve without breaking them.

A change record is a tuple whose first item names its kind (lists are accepted too: that
is what msgpack gives back):

    ("api_set", api_id, owner, auth_type, appcode_mode, signature_methods, nonce_required,
                http_method, path_pattern)     registered, or modified (all settings again)
    ("api_removed", api_id)                    deleted: its grants end, later ones grant nothing
    ("app_set", app_id, {field: value})   fields among owner, extension, enabled, deleted;
                                           an app's first app_set carries owner + extension
    ("key_set", app_key, app_id, secret_sealed)   the AppSecret stays sealed (SecretBox)
    ("key_removed", app_key, app_id)
    ("code_set", code_hash, app_id)
    ("code_removed", code_hash, app_id)
    ("grant_set", app_id, api_id, stage, end)     end: float epoch seconds, None = never
    ("grant_removed", app_id, api_id, stage)
    ("api_group", api_id, group_id)       the API is in this group (after its api_set; an API
                                           with none is in its owner's default group)
    ("group_set", group_id, owner, name)  an API group (created groups only: default ones are implicit)
    ("host_set", host, group_id)          the normal host name is bound to the group
    ("host_removed", host, group_id)      ... and no longer

A ledger with no groups makes none of the last four, so gateways older than groups keep
following it; the first group event makes them refuse the stream as they refuse any
change they do not know (logged, re-bootstrap, answering from the index they have).

An unknown topic raises ``ProjectionError`` (a newer writer's event could change
authorization: refuse, never guess); a state missing a field raises KeyError/TypeError,
which ``AuthIndex.apply`` turns into ``ProjectionError`` with the position.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

Change = tuple[Any, ...]

# Kind → number of items in the record (kind included): the wire codec checks arity.
ARITY = {
    "api_set": 9,
    "api_removed": 2,
    "app_set": 3,
    "key_set": 4,
    "key_removed": 3,
    "code_set": 3,
    "code_removed": 3,
    "grant_set": 5,
    "grant_removed": 4,
    "api_group": 3,
    "group_set": 4,
    "host_set": 3,
    "host_removed": 3,
}
APP_FIELDS = frozenset(("owner", "extension", "enabled", "deleted"))


def _end(until: Any) -> float | None:
    if until is None:
        return None
    if type(until) is datetime:
        return until.timestamp()
    if isinstance(until, datetime):
        return until.timestamp()
    return float(until)


def _api_registered(api_id: str, s: dict[str, Any]) -> list[Change]:
    return [("api_set", api_id, s["owner"], s["auth_type"], s["appcode_mode"],
             tuple(s["signature_methods"]), bool(s["nonce_required"]), s["http_method"], s["path_pattern"])]


_api_modified = _api_registered  # ApiModified carries every setting (and the owner) again


def _api_deleted(api_id: str, _s: dict[str, Any]) -> list[Change]:
    return [("api_removed", api_id)]


def _api_registered_in_group(api_id: str, s: dict[str, Any]) -> list[Change]:
    changes = _api_registered(api_id, s)
    group_id = s.get("group_id")  # absent from events older than groups: the default group
    if group_id is not None:
        changes.append(("api_group", api_id, group_id))
    return changes


def _group_created(group_id: str, s: dict[str, Any]) -> list[Change]:
    return [("group_set", group_id, s["owner"], s["name"])]


def _host_bound(group_id: str, s: dict[str, Any]) -> list[Change]:
    return [("host_set", s["host"], group_id)]


def _host_unbound(group_id: str, s: dict[str, Any]) -> list[Change]:
    return [("host_removed", s["host"], group_id)]


def _app_created(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("app_set", app_id, {"owner": s["owner"], "extension": s["extension"],
                                 "enabled": True, "deleted": False})]


def _app_modified(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("app_set", app_id, {"extension": s["extension"]})]


def _app_disabled(app_id: str, _s: dict[str, Any]) -> list[Change]:
    return [("app_set", app_id, {"enabled": False})]


def _app_enabled(app_id: str, _s: dict[str, Any]) -> list[Change]:
    return [("app_set", app_id, {"enabled": True})]


def _app_deleted(app_id: str, _s: dict[str, Any]) -> list[Change]:
    return [("app_set", app_id, {"deleted": True})]


def _key_pair_added(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("key_set", s["app_key"], app_id, s["secret_sealed"])]


def _key_pair_deleted(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("key_removed", s["app_key"], app_id)]


def _key_pair_reset(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("key_removed", s["app_key"], app_id), ("key_set", s["new_app_key"], app_id, s["secret_sealed"])]


def _app_code_added(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("code_set", s["code_hash"], app_id)]


def _app_code_deleted(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("code_removed", s["code_hash"], app_id)]


def _app_code_reset(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("code_removed", s["code_hash"], app_id), ("code_set", s["new_code_hash"], app_id)]


def _grant_set(app_id: str, s: dict[str, Any]) -> list[Change]:
    # Most of a long log is grants given and renewed: kept lean on purpose.
    return [("grant_set", app_id, s["api_id"], s["stage"], _end(s["until"]))]


def _grant_revoked(app_id: str, s: dict[str, Any]) -> list[Change]:
    return [("grant_removed", app_id, s["api_id"], s["stage"])]


def _nothing(_app_id: str, _s: dict[str, Any]) -> list[Change]:
    return []


TRANSLATORS: dict[str, Callable[[str, dict[str, Any]], list[Change]]] = {
    "authledger:ApiRegistered": _api_registered_in_group,
    "authledger:ApiModified": _api_modified,
    "authledger:ApiDeleted": _api_deleted,
    "authledger:ApiGroupCreated": _group_created,
    "authledger:HostBound": _host_bound,
    "authledger:HostUnbound": _host_unbound,
    # Host claims only enforce uniqueness in the ledger; the index learns hosts from group events.
    "authledger:HostClaimed": _nothing,
    "authledger:HostReleased": _nothing,
    "authledger:HostReclaimed": _nothing,
    "authledger:AppCreated": _app_created,
    "authledger:AppModified": _app_modified,
    "authledger:AppDisabled": _app_disabled,
    "authledger:AppEnabled": _app_enabled,
    "authledger:AppDeleted": _app_deleted,
    "authledger:KeyPairAdded": _key_pair_added,
    "authledger:KeyPairDeleted": _key_pair_deleted,
    "authledger:KeyPairReset": _key_pair_reset,
    "authledger:AppCodeAdded": _app_code_added,
    "authledger:AppCodeDeleted": _app_code_deleted,
    "authledger:AppCodeReset": _app_code_reset,
    "authledger:GrantGiven": _grant_set,
    "authledger:GrantEndChanged": _grant_set,
    "authledger:GrantRevoked": _grant_revoked,
    # Claims only enforce uniqueness in the ledger; the index learns keys from app events.
    "authledger:AppKeyClaimed": _nothing,
    "authledger:AppCodeClaimed": _nothing,
    # Admin API bearer tokens (ledger.tokens): not gateway credentials.
    "authledger:TokenIssued": _nothing,
    "authledger:TokenRevoked": _nothing,
    # Idempotency records (ledger.domain.IdempotencyRecord): a request's fingerprint and ids.
    "authledger:IdempotencyKeyUsed": _nothing,
}


def translate(position: int, topic: str, originator_id: str, state: dict[str, Any]) -> list[Change]:
    """The index changes one stored event makes (raises ProjectionError on an unknown topic)."""
    translator = TRANSLATORS.get(topic)
    if translator is None:
        from projections.events import ProjectionError

        raise ProjectionError(position, topic, "unknown event topic")
    return translator(originator_id, state)
