"""Aggregates as plain dicts for output. Never a plaintext AppSecret or AppCode.

Owners see everything but secrets (secrets masked as ``********``, AppCodes as
``****`` + their last four characters); any other account sees an app's public view:
id, name, owner and status. That is how a provider finds a consumer's app by its id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.crypto import mask_code
from ledger.isotime import iso

if TYPE_CHECKING:
    from ledger.domain import Api, App, Grant

SECRET_MASK = "********"


def status(app: App) -> str:
    if app.deleted:
        return "deleted"
    return "enabled" if app.enabled else "disabled"


def in_force(grant: Grant, now: datetime) -> bool:
    """Whether the grant has not reached its end time at ``now``."""
    return grant.until is None or now < grant.until


def public_app(app: App) -> dict[str, Any]:
    """What any account may see of an app."""
    return {"app_id": str(app.id), "name": app.name, "owner": app.owner, "status": status(app)}


def key_pairs(app: App) -> list[dict[str, Any]]:
    return [
        {
            "app_key": kp.app_key,
            "app_secret": SECRET_MASK,
            "default": kp.is_default,
            "added_at": iso(kp.added_at),
            "secret_set_at": iso(kp.secret_set_at),
        }
        for kp in app.key_pairs.values()
    ]


def app_codes(app: App) -> list[dict[str, Any]]:
    return [{"app_code": mask_code(c.hint), "added_at": iso(c.added_at)} for c in app.app_codes.values()]


def owner_app(app: App, api_names: Mapping[str, str], now: datetime,
              ended: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The owner's view: attributes, masked credentials, and the grants it holds (not those
    on the APIs in ``ended``: deleted, their grants ended with them)."""
    grants = [
        {
            "api_id": g.api_id,
            "api_name": api_names.get(g.api_id),
            "stage": g.stage,
            "until": iso(g.until),
            "in_force": in_force(g, now),
            "granted_by": g.granted_by,
            "granted_at": iso(g.granted_at),
            "description": g.description,
        }
        for g in app.grants.values()
        if g.api_id not in ended
    ]
    return {
        **public_app(app),
        "description": app.description,
        "tags": dict(app.tags),
        "extension": app.extension,
        "created_at": iso(app.created_on),
        "modified_at": iso(app.modified_on),
        "version": app.version,
        "key_pairs": key_pairs(app),
        "app_codes": app_codes(app),
        "grants": grants,
    }


def api(api: Api, group_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An API's settings. ``group_id``/``group_name``: the API group it is routed in
    (``default``: the owner's default group); ``group`` is the free-text label of older
    registrations, shown as given and never used for routing. ``group_names`` maps created
    groups' ids to names (``catalog.group_names``)."""
    group_id = api.effective_group_id
    return {
        "api_id": str(api.id),
        "name": api.name,
        "owner": api.owner,
        "group_id": group_id,
        "group_name": (group_names or {}).get(group_id, "default"),
        "group": api.group,
        "auth_type": api.auth_type,
        "appcode_mode": api.appcode_mode,
        "signature_methods": list(api.signature_methods),
        "nonce_required": api.nonce_required,
        "method": api.http_method or "ANY",
        "path": api.path_pattern,
        "registered_at": iso(api.created_on),
        "modified_at": iso(api.modified_on),
        "version": api.version,
    }


def grant(app: App, api_: Api, g: Grant, now: datetime) -> dict[str, Any]:
    """One grant as ``grant list`` and ``GET /v1/grants`` show it."""
    return {
        "app_id": str(app.id),
        "app_name": app.name,
        "app_owner": app.owner,
        "app_status": status(app),
        "api_id": str(api_.id),
        "api_name": api_.name,
        "api_owner": api_.owner,
        "stage": g.stage,
        "until": iso(g.until),
        "in_force": in_force(g, now),
        "granted_by": g.granted_by,
        "granted_at": iso(g.granted_at),
        "changed_at": iso(g.changed_at),
        "description": g.description,
    }


def api_with_apps(api_: Api, held: Iterable[tuple[App, Grant]], now: datetime,
                  group_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An API's settings and the apps currently authorized to call it (grants in force)."""
    apps = [
        {
            "app_id": str(app.id),
            "app_name": app.name,
            "app_owner": app.owner,
            "app_status": status(app),
            "stage": g.stage,
            "until": iso(g.until),
            "granted_by": g.granted_by,
            "granted_at": iso(g.granted_at),
            "description": g.description,
        }
        for app, g in held
        if not app.deleted and in_force(g, now)
    ]
    return {**api(api_, group_names), "authorized_apps": apps}
