"""Read helpers over the log until projections exist: list APIs and apps, find grants.

Each helper scans the notification log for one creation topic (or GrantGiven) and then
loads current state through the ledger, so results are always as fresh as the log.
This is linear in the log; a projection replaces it when lists get long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.application import Ledger
    from ledger.domain import Api, App, Grant

API_REGISTERED = "authledger:ApiRegistered"
APP_CREATED = "authledger:AppCreated"
GRANT_GIVEN = "authledger:GrantGiven"
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
    """Registered APIs (of one owner, if given), in registration order."""
    found = []
    for n in _scan(ledger, [API_REGISTERED]):
        created = ledger.mapper.to_domain_event(n)
        if owner is None or created.owner == owner:  # the owner never changes
            found.append(ledger.get_api(n.originator_id))
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
    for app_id in app_ids:
        app = ledger.get_app(app_id)
        if app.deleted:
            continue
        held.extend((app, g) for (aid, _stage), g in app.grants.items() if aid == key)
    return held
