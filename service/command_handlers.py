"""Admin API handlers that run ledger commands (APIs, apps, key pairs, AppCodes, grants, tokens)
and the plain ledger lookups; each takes a ``Call`` and returns the JSON answer."""

from __future__ import annotations

from typing import Any

from ledger.durations import parse_duration
from ledger.errors import InvalidInput, LedgerError, NotPermitted
from service.operations import SOURCE, Call, _now, _one, _receipt

# -- APIs -------------------------------------------------------------------------------


def list_apis(c: Call) -> dict[str, Any]:
    from ledger import catalog, views

    owner = _one(c, "owner")
    if owner is not None:
        from ledger import rules

        rules.account(owner, "owner")
    names = catalog.group_names(c.ledger)
    apis = [views.api(a, names) for a in catalog.apis(c.ledger, owner)]
    return {"apis": apis, "count": len(apis)}


def register_api(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.register_api(
        c.actor, b["name"], group=b.get("group", ""), auth_type=b.get("auth_type", "APP"),
        appcode_mode=b.get("appcode_mode", "DISABLE"),
        signature_methods=b.get("signature_methods", ["HmacSHA256"]),
        nonce_required=b.get("nonce_required", True), http_method=b.get("method"),
        path_pattern=b.get("path"), group_id=b.get("group_id"), source=SOURCE,
    ))


def show_api(c: Call) -> dict[str, Any]:
    from ledger import catalog, views

    api = c.ledger.get_api(c.path["api_id"])
    return views.api_with_apps(api, catalog.grants_on(c.ledger, api.id), _now(), catalog.group_names(c.ledger))


# -- API groups ---------------------------------------------------------------------------


def create_group(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.create_group(c.actor, b["name"], description=b.get("description", ""), source=SOURCE))


def list_groups(c: Call) -> dict[str, Any]:
    groups = c.ledger.group_views(c.actor)
    return {"groups": groups, "count": len(groups)}


def show_group(c: Call) -> dict[str, Any]:
    return c.ledger.group_view(c.path["group_id"], c.actor)


def bind_host(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.bind_host(c.actor, c.path["group_id"], c.body["host"], source=SOURCE))


def unbind_host(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.unbind_host(c.actor, c.path["group_id"], c.path["host"], source=SOURCE))


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
