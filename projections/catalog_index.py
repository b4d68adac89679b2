"""The catalog index: apps, APIs and grants in memory, with the indexes the admin lists filter by.

A projection of the ledger's log (a ``projections.events.Sink``), applied event by event and
caught up incrementally (``catch_up``: only the events after its position), so ``GET
/v1/apps`` and ``GET /v1/grants`` no longer scan the whole log per request
(``ledger.catalog`` did; it stays the CLI's and is the tests' brute-force reference).

It holds ids, order and the fields filters need, not the views: the admin API loads the
page's aggregates and renders them with ``ledger.views`` as before.

- apps, in creation order (the log position of ``AppCreated``): owner, name, tags, current
  AppKeys, deleted. Indexes: by owner, by AppKey, by (tag key, value).
- APIs, in registration order: owner, deleted. Index: by owner. Created API groups' names.
- grants, keyed (app id, API id, stage), in the order they were given (the position of
  their ``GrantGiven``; a renewal keeps it, a grant revoked and given again is new).
  Indexes: by app, by API, by account (the app's owner and the API's owner: the two who
  see it). Revoked grants leave; grants of deleted apps or on deleted APIs stay in the
  index and are left out when listed (``live_grant``), as ``ledger.catalog.grants`` does.

Pages are ``(items, next)``: up to ``limit`` matches after the order key ``after``, and the
order key of the last one when more follow (None at the end). Order keys are log
positions, so a listing is stable under concurrent inserts: a thing created while a
client pages lands after every page it has read, never twice nor shifting the others.

An unknown topic raises ``ProjectionError`` (as the auth index: refuse, never guess).
Readers and the writer share ``lock``; ``catch_up`` takes it.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from projections.changes import TRANSLATORS
from projections.events import ProjectionError, apply_from


@dataclass
class AppRow:
    seq: int  # the position of its AppCreated: its place in every app list
    app_id: str
    owner: str
    name: str
    tags: dict[str, str]
    keys: set[str] = field(default_factory=set)
    deleted: bool = False

    @property
    def folded_name(self) -> str:
        return self.name.casefold()


@dataclass
class ApiRow:
    seq: int
    api_id: str
    owner: str
    name: str
    deleted: bool = False


@dataclass
class GrantRow:
    seq: int  # the position of the GrantGiven that gave it
    app_id: str
    api_id: str
    stage: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.app_id, self.api_id, self.stage


class _Ordered:
    """An append-only list of (order key, item), keys increasing: the page after a key is a bisect."""

    __slots__ = ("items", "keys")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.items: list[Any] = []

    def append(self, key: int, item: Any) -> None:
        self.keys.append(key)
        self.items.append(item)

    def after(self, key: int) -> Iterator[tuple[int, Any]]:
        start = bisect_right(self.keys, key)
        keys, items = self.keys, self.items
        for i in range(start, len(keys)):
            yield keys[i], items[i]

    def __len__(self) -> int:
        return len(self.keys)


_EMPTY = _Ordered()


def page(candidates: Iterable[tuple[int, Any]], keep: Callable[[Any], bool], limit: int) -> tuple[list[Any], int | None]:
    """The first ``limit`` candidates ``keep`` accepts, and the order key of the last one when
    another accepted candidate follows (else None)."""
    found: list[Any] = []
    last = 0
    for key, item in candidates:
        if not keep(item):
            continue
        if len(found) == limit:
            return found, last
        found.append(item)
        last = key
    return found, None


class CatalogIndex:
    """Apps, APIs and grants as the admin lists need them (see the module docstring)."""

    def __init__(self) -> None:
        self.position = 0
        self.lock = threading.RLock()
        self.apps: dict[str, AppRow] = {}
        self.app_order = _Ordered()
        self.apps_by_owner: dict[str, _Ordered] = {}
        self.app_by_key: dict[str, str] = {}
        self.apps_by_tag: dict[tuple[str, str], set[str]] = {}
        self.apis: dict[str, ApiRow] = {}
        self.api_order = _Ordered()
        self.apis_by_owner: dict[str, _Ordered] = {}
        self.group_names: dict[str, str] = {}
        self.grants: dict[tuple[str, str, str], GrantRow] = {}
        self.grant_order = _Ordered()
        self.grants_by_app: dict[str, _Ordered] = {}
        self.grants_by_api: dict[str, _Ordered] = {}
        self.grants_by_account: dict[str, _Ordered] = {}

    # -- following the log ------------------------------------------------------------

    def catch_up(self, log: Any) -> int:
        """Apply the events recorded since the last catch-up from ``log`` (a
        ``projections.log.LogReader``); return how many."""
        with self.lock:
            return apply_from(log, self)

    def apply(self, position: int, topic: str, originator_id: Any, state: dict[str, Any]) -> None:
        handler = _HANDLERS.get(topic)
        if handler is None and topic not in TRANSLATORS:
            raise ProjectionError(position, topic, "unknown event topic")
        if handler is not None:
            try:
                handler(self, position, str(originator_id), state)
            except (KeyError, TypeError, AttributeError) as e:
                raise ProjectionError(position, topic, f"state without what the catalog needs ({e!r:.80})") from None
        self.position = position

    def _app_created(self, position: int, app_id: str, s: dict[str, Any]) -> None:
        row = AppRow(position, app_id, s["owner"], s["name"], dict(s["tags"] or {}))
        self.apps[app_id] = row
        self.app_order.append(position, row)
        self.apps_by_owner.setdefault(row.owner, _Ordered()).append(position, row)
        for tag in row.tags.items():
            self.apps_by_tag.setdefault(tag, set()).add(app_id)

    def _app_modified(self, _position: int, app_id: str, s: dict[str, Any]) -> None:
        row = self.apps[app_id]
        for tag in row.tags.items():
            self.apps_by_tag.get(tag, set()).discard(app_id)
        row.name, row.tags = s["name"], dict(s["tags"] or {})
        for tag in row.tags.items():
            self.apps_by_tag.setdefault(tag, set()).add(app_id)

    def _app_deleted(self, _position: int, app_id: str, _s: dict[str, Any]) -> None:
        self.apps[app_id].deleted = True

    def _key_added(self, _position: int, app_id: str, s: dict[str, Any]) -> None:
        self.apps[app_id].keys.add(s["app_key"])
        self.app_by_key[s["app_key"]] = app_id

    def _key_deleted(self, _position: int, app_id: str, s: dict[str, Any]) -> None:
        self.apps[app_id].keys.discard(s["app_key"])
        if self.app_by_key.get(s["app_key"]) == app_id:
            del self.app_by_key[s["app_key"]]

    def _key_reset(self, position: int, app_id: str, s: dict[str, Any]) -> None:
        self._key_deleted(position, app_id, s)
        self._key_added(position, app_id, {"app_key": s["new_app_key"]})

    def _api_registered(self, position: int, api_id: str, s: dict[str, Any]) -> None:
        row = ApiRow(position, api_id, s["owner"], s["name"])
        self.apis[api_id] = row
        self.api_order.append(position, row)
        self.apis_by_owner.setdefault(row.owner, _Ordered()).append(position, row)

    def _api_modified(self, _position: int, api_id: str, s: dict[str, Any]) -> None:
        row = self.apis.get(api_id)
        if row is not None:
            row.name = s["name"]

    def _api_deleted(self, _position: int, api_id: str, _s: dict[str, Any]) -> None:
        row = self.apis.get(api_id)
        if row is not None:
            row.deleted = True

    def _group_created(self, _position: int, group_id: str, s: dict[str, Any]) -> None:
        self.group_names[group_id] = s["name"]

    def _grant_given(self, position: int, app_id: str, s: dict[str, Any]) -> None:
        row = GrantRow(position, app_id, str(s["api_id"]), s["stage"])
        self.grants[row.key] = row
        self.grant_order.append(position, row)
        self.grants_by_app.setdefault(app_id, _Ordered()).append(position, row)
        self.grants_by_api.setdefault(row.api_id, _Ordered()).append(position, row)
        app = self.apps.get(app_id)
        api = self.apis.get(row.api_id)
        for account in {a.owner for a in (app, api) if a is not None}:
            self.grants_by_account.setdefault(account, _Ordered()).append(position, row)

    def _grant_revoked(self, _position: int, app_id: str, s: dict[str, Any]) -> None:
        self.grants.pop((app_id, str(s["api_id"]), s["stage"]), None)

    # -- apps ---------------------------------------------------------------------------

    def app_page(self, *, owner: str | None = None, name: str | None = None, app_id: str | None = None,
                 app_key: str | None = None, tags: dict[str, str] | None = None, after: int = 0,
                 limit: int = 100) -> tuple[list[AppRow], int | None]:
        """Apps (deleted included, as ``ledger.catalog.apps``) matching every filter given:
        ``owner``; ``name``, a case-insensitive substring; ``app_id``; ``app_key``, one of its
        current AppKeys; ``tags``, all of them. In creation order, after ``after``."""
        with self.lock:
            candidates: Iterable[tuple[int, AppRow]]
            if app_id is not None or app_key is not None:
                wanted = app_id if app_id is not None else self.app_by_key.get(app_key or "")
                if app_id is not None and app_key is not None and self.app_by_key.get(app_key) != app_id:
                    wanted = None
                row = self.apps.get(wanted or "")
                candidates = [(row.seq, row)] if row is not None and row.seq > after else []
            elif tags:
                sets = [self.apps_by_tag.get(t, set()) for t in tags.items()]
                ids = set.intersection(*sorted(sets, key=len))
                rows = sorted((self.apps[i] for i in ids), key=lambda r: r.seq)
                candidates = [(r.seq, r) for r in rows if r.seq > after]
            elif owner is not None:
                candidates = self.apps_by_owner.get(owner, _EMPTY).after(after)
            else:
                candidates = self.app_order.after(after)
            folded = name.casefold() if name is not None else None

            def keep(r: AppRow) -> bool:
                return ((owner is None or r.owner == owner)
                        and (folded is None or folded in r.folded_name)
                        and (not tags or all(r.tags.get(k) == v for k, v in tags.items())))

            return page(candidates, keep, limit)

    # -- APIs ---------------------------------------------------------------------------

    def api_page(self, *, owner: str | None = None, after: int = 0, limit: int = 100) -> tuple[list[ApiRow], int | None]:
        """APIs not deleted (of one owner, if given), in registration order, after ``after``."""
        with self.lock:
            source = self.api_order if owner is None else self.apis_by_owner.get(owner, _EMPTY)
            return page(source.after(after), lambda r: not r.deleted, limit)

    def api_names(self, api_ids: Iterable[str]) -> tuple[dict[str, str], set[str]]:
        """As ``ledger.catalog.api_names``, from memory: the names of the live APIs among
        ``api_ids`` and the ids of the deleted ones (unknown ones are in neither)."""
        with self.lock:
            names: dict[str, str] = {}
            deleted: set[str] = set()
            for api_id in api_ids:
                row = self.apis.get(str(api_id))
                if row is None:
                    continue
                if row.deleted:
                    deleted.add(row.api_id)
                else:
                    names[row.api_id] = row.name
            return names, deleted

    # -- grants -------------------------------------------------------------------------

    def live_grant(self, row: GrantRow) -> bool:
        """The grant is still held (not revoked, not given again since) by a live app on a live API."""
        if self.grants.get(row.key) is not row:
            return False
        app, api = self.apps.get(row.app_id), self.apis.get(row.api_id)
        return app is not None and not app.deleted and api is not None and not api.deleted

    def grant_page(self, actor: str | None, *, app_id: str | None = None, api_id: str | None = None,
                   stage: str | None = None, after: int = 0, limit: int = 100) -> tuple[list[GrantRow], int | None]:
        """The grants ``actor`` may see (on its APIs or held by its apps; None: every account's),
        as ``ledger.catalog.grants``, filtered by app, API and stage, in the order given."""
        with self.lock:
            lists = []
            if app_id is not None:
                lists.append(self.grants_by_app.get(app_id, _EMPTY))
            if api_id is not None:
                lists.append(self.grants_by_api.get(api_id, _EMPTY))
            if actor is not None:
                lists.append(self.grants_by_account.get(actor, _EMPTY))
            source = min(lists, key=len) if lists else self.grant_order

            def keep(r: GrantRow) -> bool:
                if (app_id is not None and r.app_id != app_id) or (api_id is not None and r.api_id != api_id):
                    return False
                if (stage is not None and r.stage != stage) or not self.live_grant(r):
                    return False
                return actor is None or actor in (self.apps[r.app_id].owner, self.apis[r.api_id].owner)

            return page(source.after(after), keep, limit)


_HANDLERS: dict[str, Callable[[CatalogIndex, int, str, dict[str, Any]], None]] = {
    "authledger:AppCreated": CatalogIndex._app_created,
    "authledger:AppModified": CatalogIndex._app_modified,
    "authledger:AppDeleted": CatalogIndex._app_deleted,
    "authledger:KeyPairAdded": CatalogIndex._key_added,
    "authledger:KeyPairDeleted": CatalogIndex._key_deleted,
    "authledger:KeyPairReset": CatalogIndex._key_reset,
    "authledger:ApiRegistered": CatalogIndex._api_registered,
    "authledger:ApiModified": CatalogIndex._api_modified,
    "authledger:ApiDeleted": CatalogIndex._api_deleted,
    "authledger:ApiGroupCreated": CatalogIndex._group_created,
    "authledger:GrantGiven": CatalogIndex._grant_given,
    "authledger:GrantRevoked": CatalogIndex._grant_revoked,
}
