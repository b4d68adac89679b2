"""Admin API handlers that run ledger commands (APIs, apps, key pairs, AppCodes, grants, tokens)
and the plain ledger lookups; each takes a ``Call`` and returns the JSON answer."""

from __future__ import annotations

from typing import Any

from ledger.durations import grant_end, parse_duration
from ledger.errors import InvalidInput, NotPermitted
from authledger.service.operations import Call, _now, _one, _receipt
from authledger.service.paging import Pager, answer


def _pager(c: Call, *listing: Any) -> Pager:
    """The request's paging, its cursors bound to this listing: the operation, the caller's
    account and role, and the filters (``listing``)."""
    role = c.principal.role if c.principal is not None else None
    return Pager(c.service.cursor_key, (*listing, c.actor, role), c.query)

# -- APIs -------------------------------------------------------------------------------


def list_apis(c: Call) -> dict[str, Any]:
    from ledger import catalog, views

    owner = _one(c, "owner")
    if owner is not None:
        from ledger import rules

        rules.account(owner, "owner")
    pager = _pager(c, "listApis", owner)
    index = c.service.catalog_now()
    rows, last = index.api_page(owner=owner, after=pager.after, limit=pager.limit)
    names = dict(index.group_names)
    return answer([views.api(c.ledger.get_api(r.api_id), names) for r in rows], pager.next(last))


def register_api(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.register_api(
        c.actor, b["name"], group=b.get("group", ""), auth_type=b.get("auth_type", "APP"),
        appcode_mode=b.get("appcode_mode", "DISABLE"),
        signature_methods=b.get("signature_methods", ["HmacSHA256"]),
        nonce_required=b.get("nonce_required", True), http_method=b.get("method"),
        path_pattern=b.get("path"), group_id=b.get("group_id"), source=c.source, idempotency=c.idempotency,
    ))


def show_api(c: Call) -> dict[str, Any]:
    """The API's settings (public) and the apps authorized for it: all of them for its owner
    (and auditors, admins); for anyone else only their own apps (issue 14.3: another
    tenant's consumers are no one else's business)."""
    from ledger import catalog, views

    api = c.ledger.live_api(c.path["api_id"])  # a deleted API is gone (404); audits keep its history
    held = catalog.grants_on(c.ledger, api.id)
    if api.owner != c.actor and not c.sees_all:
        held = [(app, g) for app, g in held if app.owner == c.actor]
    return views.api_with_apps(api, held, _now(), catalog.group_names(c.ledger))


def modify_api(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.modify_api(
        c.path["api_id"], c.actor, name=b.get("name"), group=b.get("group"), auth_type=b.get("auth_type"),
        appcode_mode=b.get("appcode_mode"), signature_methods=b.get("signature_methods"),
        nonce_required=b.get("nonce_required"),
        # "method": "ANY" answers any method again; "path": "" removes the pattern (no routing by path).
        **({"http_method": b["method"]} if "method" in b else {}),
        **({"path_pattern": b["path"] or None} if "path" in b else {}),
        source=c.source, idempotency=c.idempotency,
    ))


def delete_api(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.delete_api(c.path["api_id"], c.actor, source=c.source, idempotency=c.idempotency))


# -- API groups ---------------------------------------------------------------------------


def create_group(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.create_group(c.actor, b["name"], description=b.get("description", ""), source=c.source, idempotency=c.idempotency))


def list_groups(c: Call) -> dict[str, Any]:
    pager = _pager(c, "listGroups")
    return answer(*pager.slice(c.ledger.group_views(c.actor)))


def show_group(c: Call) -> dict[str, Any]:
    return c.ledger.group_view(c.path["group_id"], c.actor, sees_all=c.sees_all)


def bind_host(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.bind_host(c.actor, c.path["group_id"], c.body["host"], source=c.source, idempotency=c.idempotency))


def unbind_host(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.unbind_host(c.actor, c.path["group_id"], c.path["host"], source=c.source, idempotency=c.idempotency))


# -- apps -------------------------------------------------------------------------------


def _app_view(c: Call, app: Any) -> dict[str, Any]:
    from ledger import catalog, views

    if app.owner != c.actor and not c.sees_all:
        return views.public_app(app)
    names, ended = catalog.api_names(c.ledger, app)
    return views.owner_app(app, names, _now(), ended)


def _tags(values: list[str]) -> dict[str, str]:
    tags = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise InvalidInput(f"tag filter must be KEY=VALUE, got {v[:40]!r}", field="tag")
        tags[k] = val
    return tags


MAX_NAME_FILTER = 64
MAX_TAG_FILTERS = 16


def _name_filter(c: Call) -> str | None:
    """The ``name`` filter: a plain substring (no pattern), 1-64 printable characters."""
    name = _one(c, "name")
    if name is not None and not (1 <= len(name) <= MAX_NAME_FILTER and name.isprintable()):
        raise InvalidInput(f"name filter must be 1-{MAX_NAME_FILTER} printable characters", field="name")
    return name


def list_apps(c: Call) -> dict[str, Any]:
    """The caller's apps (auditors, admins: every account's, or ``owner``'s), filtered by
    ``name`` (case-insensitive substring), ``app_id``, ``app_key``, ``tag`` (all given), paged.
    Every filter narrows the caller's own listing: naming another tenant's app or AppKey
    finds nothing (the same empty page as an unknown one)."""
    from ledger import rules
    from ledger.core import parse_id

    owner = _whose(c, "owner", "apps")
    name = _name_filter(c)
    app_id, app_key = _one(c, "app_id"), _one(c, "app_key")
    app_id = None if app_id is None else str(parse_id(app_id, "app"))
    if app_key is not None:
        rules.app_key(app_key)
    tag_values = c.query.get("tag", [])
    if len(tag_values) > MAX_TAG_FILTERS:
        raise InvalidInput(f"give at most {MAX_TAG_FILTERS} tag filters", field="tag")
    tags = _tags(tag_values)
    pager = _pager(c, "listApps", owner, name, app_id, app_key, *sorted(f"{k}={v}" for k, v in tags.items()))
    rows, last = c.service.catalog_now().app_page(owner=owner, name=name, app_id=app_id, app_key=app_key,
                                                  tags=tags, after=pager.after, limit=pager.limit)
    index = c.service.catalog
    return answer([_listed_app(c, index, c.ledger.get_app(r.app_id)) for r in rows], pager.next(last))


def _listed_app(c: Call, index: Any, app: Any) -> dict[str, Any]:
    """An app of the caller's listing (its own, or any for auditors and admins): the owner's
    view, the names of the APIs it holds grants on from the catalog index (no API loads)."""
    from ledger import views

    if app.owner != c.actor and not c.sees_all:
        return views.public_app(app)
    names, ended = index.api_names(api_id for api_id, _stage in app.grants)
    return views.owner_app(app, names, _now(), ended)


def create_app(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.create_app(
        c.actor, b["name"], description=b.get("description", ""), tags=b.get("tags"),
        extension=b.get("extension", ""), app_key=b.get("app_key"), app_secret=b.get("app_secret"),
        app_code=b.get("app_code"), source=c.source, idempotency=c.idempotency,
    ))


def show_app(c: Call) -> dict[str, Any]:
    return _app_view(c, c.ledger.get_app(c.path["app_id"]))


def modify_app(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.modify_app(
        c.path["app_id"], c.actor, name=b.get("name"), description=b.get("description"),
        tags=b.get("tags"), extension=b.get("extension"), source=c.source, idempotency=c.idempotency,
    ))


def delete_app(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.delete_app(c.path["app_id"], c.actor, source=c.source, idempotency=c.idempotency))


def disable_app(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.disable_app(c.path["app_id"], c.actor, source=c.source, idempotency=c.idempotency))


def enable_app(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.enable_app(c.path["app_id"], c.actor, source=c.source, idempotency=c.idempotency))


# -- key pairs and AppCodes -------------------------------------------------------------


def _own_app(c: Call) -> Any:
    app = c.ledger.get_app(c.path["app_id"])
    if app.owner != c.actor and not c.sees_all:
        raise NotPermitted(f"account {c.actor} does not own app {app.id}", field="actor")
    return app


def list_keys(c: Call) -> dict[str, Any]:
    from ledger import views

    app = _own_app(c)
    pager = _pager(c, "listKeys", str(app.id))
    return answer(*pager.slice(views.key_pairs(app)), app_id=str(app.id))


def show_key(c: Call) -> dict[str, Any]:
    from ledger import rules, views
    from ledger.errors import KeyPairNotFound

    app_key = rules.app_key(c.path["app_key"])
    app = _own_app(c)
    for pair in views.key_pairs(app):
        if pair["app_key"] == app_key:
            return {"app_id": str(app.id), **pair}
    raise KeyPairNotFound(app_key)


def list_codes(c: Call) -> dict[str, Any]:
    from ledger import views

    app = _own_app(c)
    pager = _pager(c, "listCodes", str(app.id))
    return answer(*pager.slice(views.app_codes(app)), app_id=str(app.id))


def add_key(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.add_key_pair(
        c.path["app_id"], c.actor, app_key=b.get("app_key"), app_secret=b.get("app_secret"), source=c.source,
        idempotency=c.idempotency,
    ))


def delete_key(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.delete_key_pair(c.path["app_id"], c.path["app_key"], c.actor, source=c.source, idempotency=c.idempotency))


def reset_key(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.reset_key_pair(
        c.path["app_key"], c.actor, new_app_key=b.get("new_app_key"),
        new_app_secret=b.get("new_app_secret"), source=c.source, idempotency=c.idempotency,
    ))


def add_code(c: Call) -> dict[str, Any]:
    return _receipt(c.ledger.add_app_code(c.path["app_id"], c.actor, code=c.body.get("code"), source=c.source, idempotency=c.idempotency))


def delete_code(c: Call) -> dict[str, Any]:
    # The code is a secret: it travels in the body, never in a path that logs could keep.
    return _receipt(c.ledger.delete_app_code(c.path["app_id"], c.body["code"], c.actor, source=c.source, idempotency=c.idempotency))


def reset_code(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.reset_app_code(b["code"], c.actor, new_code=b.get("new_code"), source=c.source, idempotency=c.idempotency))


# -- grants -----------------------------------------------------------------------------

def grant(c: Call) -> dict[str, Any]:
    b = c.body
    until = grant_end(b.get("until"), b.get("for"), _now())
    return _receipt(c.ledger.grant(c.actor, b["app_id"], b["api_id"], b["stage"], until=until,
                                   description=b.get("description"), source=c.source, idempotency=c.idempotency))


def list_grants(c: Call) -> dict[str, Any]:
    """Grants in force or expired on the caller's APIs or held by its apps (auditors, admins:
    every account's), filtered by app, API and stage, in the order they were given, paged."""
    from ledger import rules, views
    from ledger.core import parse_id

    app_id, api_id, stage = _one(c, "app_id"), _one(c, "api_id"), _one(c, "stage")
    app_id = None if app_id is None else str(parse_id(app_id, "app"))
    api_id = None if api_id is None else str(parse_id(api_id, "api"))
    if stage is not None:
        rules.stage(stage)
    pager = _pager(c, "listGrants", app_id, api_id, stage)
    rows, last = c.service.catalog_now().grant_page(None if c.sees_all else c.actor, app_id=app_id,
                                                    api_id=api_id, stage=stage, after=pager.after,
                                                    limit=pager.limit)
    now = _now()
    apps: dict[str, Any] = {}
    apis: dict[str, Any] = {}
    found = []
    for r in rows:
        app = apps.get(r.app_id) or apps.setdefault(r.app_id, c.ledger.get_app(r.app_id))
        api = apis.get(r.api_id) or apis.setdefault(r.api_id, c.ledger.get_api(r.api_id))
        g = app.grants.get((r.api_id, r.stage))
        if g is not None and not app.deleted and not api.deleted:  # not revoked or deleted since
            found.append(views.grant(app, api, g, now))
    return answer(found, pager.next(last))


def revoke(c: Call) -> dict[str, Any]:
    b = c.body
    return _receipt(c.ledger.revoke(c.actor, b["app_id"], b["api_id"], b["stage"], source=c.source, idempotency=c.idempotency))


# -- tokens -----------------------------------------------------------------------------


def _whose(c: Call, name: str, what: str) -> str | None:
    """The account a listing is about: the caller's own; an auditor's or admin's choice
    (None: every account)."""
    from ledger import rules

    given = _one(c, name)
    if given is not None:
        rules.account(given, name)
    if c.sees_all:
        return given
    if given is not None and given != c.actor:
        raise NotPermitted(f"only auditors and admins list another account's {what}", field=name)
    return c.actor


def list_tokens(c: Call) -> dict[str, Any]:
    from ledger.tokens import list_tokens as tokens_of

    account = _whose(c, "account", "tokens")
    pager = _pager(c, "listTokens", account)
    return answer(*pager.slice([t.to_dict() for t in tokens_of(c.ledger, account)]))


def show_token(c: Call) -> dict[str, Any]:
    from ledger.core import parse_id
    from ledger.tokens import list_tokens as tokens_of

    from ledger.tokens import TokenNotFound

    uid = str(parse_id(c.path["token_id"], "token"))
    for t in tokens_of(c.ledger, None if c.sees_all else c.actor):
        if t.token_id == uid:
            return t.to_dict()
    # Another account's token answers as an unknown one, as revokeToken does (issue 14.3).
    raise TokenNotFound(uid)


def issue_token(c: Call) -> dict[str, Any]:
    """Owners issue owner tokens for their own account; admins any role for any account
    (ledger.tokens.issue_token decides, the issuer recorded as the event's actor)."""
    from ledger.tokens import issue_token as issue

    b = c.body
    expires: Any = b.get("expires_at")
    if b.get("for") is not None:
        if expires is not None:
            raise InvalidInput("give expires_at or for, not both", field="for")
        expires = _now() + parse_duration(b["for"])
    return _receipt(issue(c.ledger, b.get("account", c.actor), b.get("label", ""), role=b.get("role", "owner"),
                          scopes=b.get("scopes"), expires_at=expires, issuer=c.principal, source=c.source, idempotency=c.idempotency))


def revoke_token(c: Call) -> dict[str, Any]:
    from ledger.tokens import ADMIN
    from ledger.tokens import revoke_token as revoke_

    admin = c.principal is not None and c.principal.role == ADMIN
    return _receipt(revoke_(c.ledger, c.path["token_id"], c.actor, admin=admin, source=c.source, idempotency=c.idempotency))
