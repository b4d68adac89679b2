"""Read helpers over the log until projections exist: list APIs and apps, find grants.

Each helper scans the notification log for one creation topic (or GrantGiven) and then
loads current state through the ledger, so results are always as fresh as the log.
This is linear in the log; a projection replaces it when lists get long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ledger.errors import LedgerError

if TYPE_CHECKING:
    from ledger.application import Ledger
    from ledger.domain import Api, ApiGroup, App, Grant

API_REGISTERED = "authledger:ApiRegistered"
APP_CREATED = "authledger:AppCreated"
GRANT_GIVEN = "authledger:GrantGiven"
API_MODIFIED = "authledger:ApiModified"  # (api modify, when present) every setting again
API_DELETED = "authledger:ApiDeleted"
GROUP_CREATED = "authledger:ApiGroupCreated"
HOST_TOPICS = ("authledger:HostBound", "authledger:HostUnbound")
PAGE = 500


def _scan(ledger: Ledger, topics: Sequence[str]) -> Iterator[Any]:
    """Every notification with one of ``topics``, oldest first, page by page."""
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, PAGE, topics=list(topics))
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def apis(ledger: Ledger, owner: str | None = None) -> list[Api]:
    """Registered APIs not deleted (of one owner, if given), in registration order."""
    found = []
    for n in _scan(ledger, [API_REGISTERED]):
        created = ledger.mapper.to_domain_event(n)
        if owner is None or created.owner == owner:  # the owner never changes
            api = ledger.get_api(n.originator_id)
            if not api.deleted:
                found.append(api)
    return found


def api_names(ledger: Ledger, app: App) -> tuple[dict[str, str], set[str]]:
    """The names of the live APIs the app holds grants on, and the ids of the deleted ones
    (a grant on a deleted API ended with it: views leave it out)."""
    names: dict[str, str] = {}
    deleted: set[str] = set()
    for api_id, _stage in app.grants:
        if api_id in names or api_id in deleted:
            continue
        try:
            api = ledger.get_api(api_id)
        except LedgerError:
            continue
        if api.deleted:
            deleted.add(api_id)
        else:
            names[api_id] = api.name
    return names, deleted


def grants(ledger: Ledger, actor: str | None, *, app_id: str | None = None, api_id: str | None = None,
           stage: str | None = None) -> list[tuple[App, Api, Grant]]:
    """The grants in force or expired that ``actor`` may see: on APIs it owns or held by
    apps it owns, never another tenant's (None: every account's, for auditors and admins); only grants of live apps on live APIs (a revoked
    grant, a deleted app's or a deleted API's ended and is in the audit trail instead).
    Filtered by app, API and stage when given; in the order they were first given."""
    held: dict[Any, None] = {}
    for n in _scan(ledger, [GRANT_GIVEN]):
        if app_id is not None and str(n.originator_id) != app_id:
            continue
        if api_id is not None and ledger.mapper.to_domain_event(n).api_id != api_id:
            continue
        held[n.originator_id] = None
    apis_: dict[str, Api | None] = {}
    found = []
    for aid in held:
        app = ledger.get_app(aid)
        if app.deleted:
            continue
        for (gid, gstage), g in app.grants.items():
            if (api_id is not None and gid != api_id) or (stage is not None and gstage != stage):
                continue
            if gid not in apis_:
                try:
                    apis_[gid] = ledger.get_api(gid)
                except LedgerError:
                    apis_[gid] = None
            api = apis_[gid]
            if api is None or api.deleted or (actor is not None and actor not in (api.owner, app.owner)):
                continue
            found.append((app, api, g))
    return found


def apps(ledger: Ledger, owner: str | None = None, tags: dict[str, str] | None = None) -> list[App]:
    """Apps (of one owner, carrying all ``tags``, if given), in creation order, deleted included."""
    found = []
    for n in _scan(ledger, [APP_CREATED]):
        if owner is not None and ledger.mapper.to_domain_event(n).owner != owner:
            continue
        app = ledger.get_app(n.originator_id)
        if tags and any(app.tags.get(k) != v for k, v in tags.items()):
            continue
        found.append(app)
    return found


def grants_on(ledger: Ledger, api_id: object) -> list[tuple[App, Grant]]:
    """(app, grant) for every grant currently held on the API by a live app (any stage)."""
    key = str(api_id)
    app_ids: dict[Any, None] = {}
    for n in _scan(ledger, [GRANT_GIVEN]):
        if ledger.mapper.to_domain_event(n).api_id == key:
            app_ids[n.originator_id] = None
    held = []
    if ledger.get_api(api_id).deleted:
        return held  # its grants ended with it
    for app_id in app_ids:
        app = ledger.get_app(app_id)
        if app.deleted:
            continue
        held.extend((app, g) for (aid, _stage), g in app.grants.items() if aid == key)
    return held


def groups(ledger: Ledger, owner: str | None = None) -> list[ApiGroup]:
    """API groups created (by one owner, if given), in creation order; default groups are implicit."""
    found = []
    for n in _scan(ledger, [GROUP_CREATED]):
        if owner is None or ledger.mapper.to_domain_event(n).owner == owner:
            found.append(ledger.repository.get(n.originator_id))
    return found


def group_names(ledger: Ledger) -> dict[str, str]:
    """Created API group id -> name (a group's name never changes); default groups are ``default``."""
    return {str(n.originator_id): ledger.mapper.to_domain_event(n).name for n in _scan(ledger, [GROUP_CREATED])}


def routes(ledger: Ledger) -> list[tuple[str, str, str, str | None, str | None]]:
    """Every routed API as (api id, owner, group id, method, path pattern), from its registration.

    Read from the ApiRegistered events alone (no aggregate loads: a registration checks
    its route against every other API). Events older than groups have no ``group_id``:
    the owner's default group.
    """
    from ledger.rules import default_group_id

    found: dict[str, tuple[str, str, str, str | None, str | None]] = {}
    for n in _scan(ledger, [API_REGISTERED, API_MODIFIED, API_DELETED]):
        api_id = str(n.originator_id)
        if n.topic == API_DELETED:
            found.pop(api_id, None)
            continue
        e = ledger.mapper.to_domain_event(n)
        if n.topic == API_MODIFIED:  # carries every setting again, not the group (it stays)
            if api_id in found:
                found[api_id] = (*found[api_id][:3], e.http_method, e.path_pattern)
            continue
        group_id = getattr(e, "group_id", None) or default_group_id(e.owner)
        found[api_id] = (api_id, e.owner, group_id, e.http_method, e.path_pattern)
    return [r for r in found.values() if r[4]]


def hosted_groups(ledger: Ledger) -> set[str]:
    """The ids of the groups bound to at least one host now."""
    count: dict[str, int] = {}
    for n in _scan(ledger, HOST_TOPICS):
        gid = str(n.originator_id)
        count[gid] = count.get(gid, 0) + (1 if n.topic == HOST_TOPICS[0] else -1)
    return {g for g, c in count.items() if c > 0}
