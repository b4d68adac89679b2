"""The catalog index (the admin lists' projection) equals a brute-force replay of the log.

Random histories are driven through the Ledger API, including commands the ledger refuses.
One ``CatalogIndex`` is caught up incrementally after every command; the reference is
recomputed from scratch each time from the events (``ledger.catalog``: a scan of the log
and the aggregates it loads), with the filters applied to the aggregates in plain Python.
For random filters and page sizes, the concatenated pages equal the reference's full
filtered list, in the reference's order, without duplicates; paging while other commands
create apps and give grants between pages still yields every item once, in order.
"""

from __future__ import annotations

from projections.log import log_for

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import catalog
from ledger.bootstrap import open_ledger
from ledger.errors import LedgerError
from projections.catalog_index import CatalogIndex
from tests.conftest import TEST_KEY

ACCOUNTS = ("acme", "bob", "zeta")
STAGES = ("RELEASE", "PRE", "TEST")
NAMES = ("shopApp", "ShopMart", "blogapp", "mapsTool", "Weather_1")
TAGS = ({}, {"env": "prod"}, {"env": "dev"}, {"env": "prod", "team": "a"}, {"team": "a"})
MISSING = "00000000-0000-4000-8000-000000000000"

pick = st.integers(0, 9)
actor = st.sampled_from(ACCOUNTS)
op = st.one_of(
    st.tuples(st.just("register_api"), actor),
    *[st.tuples(st.just("create_app"), actor, st.sampled_from(NAMES), st.integers(0, len(TAGS) - 1))] * 3,
    st.tuples(st.just("modify_app"), pick, actor, st.sampled_from(NAMES), st.integers(0, len(TAGS) - 1)),
    st.tuples(st.just("delete_app"), pick, actor),
    st.tuples(st.just("add_key_pair"), pick, actor),
    st.tuples(st.just("delete_key_pair"), pick, pick, actor),
    st.tuples(st.just("reset_key_pair"), pick, actor, st.booleans()),
    *[st.tuples(st.just("grant"), actor, st.lists(pick, min_size=1, max_size=3), pick,
                st.sampled_from(STAGES))] * 3,
    *[st.tuples(st.just("revoke"), actor, pick, pick, st.sampled_from(STAGES))] * 2,
    st.tuples(st.just("regrant"), actor, pick, pick, st.sampled_from(STAGES)),
    st.tuples(st.just("delete_api"), pick, actor),
    st.tuples(st.just("rename_api"), pick, actor),
)
inserts = st.one_of(
    st.tuples(st.just("create_app"), actor, st.sampled_from(NAMES), st.integers(0, len(TAGS) - 1)),
    st.tuples(st.just("grant"), actor, st.lists(pick, min_size=1, max_size=3), pick, st.sampled_from(STAGES)),
)


def _nth(items: list[str], i: int) -> str:
    return items[i % len(items)] if items else MISSING


class Driver:
    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.apps: list[str] = []
        self.apis: list[str] = []
        self.keys: list[str] = []
        for i, owner in enumerate(ACCOUNTS):  # something to grant from the first command on
            self.register_api(owner)
            self.create_app(ACCOUNTS[(i + 1) % len(ACCOUNTS)], NAMES[i], i)

    def run(self, o: tuple[Any, ...]) -> bool:
        try:
            getattr(self, o[0])(*o[1:])
        except LedgerError:
            return False
        return True

    def register_api(self, owner: str) -> None:
        self.apis.append(self.ledger.register_api(owner, f"api{len(self.apis)}").ids["api_id"])

    def create_app(self, owner: str, name: str, tags: int) -> None:
        r = self.ledger.create_app(owner, name, tags=TAGS[tags])
        self.apps.append(r.ids["app_id"])
        self.keys.append(r.ids["app_key"])

    def modify_app(self, i: int, who: str, name: str, tags: int) -> None:
        self.ledger.modify_app(_nth(self.apps, i), who, name=name, tags=TAGS[tags])

    def delete_app(self, i: int, who: str) -> None:
        self.ledger.delete_app(_nth(self.apps, i), who)

    def add_key_pair(self, i: int, who: str) -> None:
        self.keys.append(self.ledger.add_key_pair(_nth(self.apps, i), who).ids["app_key"])

    def delete_key_pair(self, i: int, k: int, who: str) -> None:
        self.ledger.delete_key_pair(_nth(self.apps, i), _nth(self.keys, k) if self.keys else "missing-key", who)

    def reset_key_pair(self, k: int, who: str, rename: bool) -> None:
        new = f"renamed-{len(self.keys):04d}" if rename else None
        r = self.ledger.reset_key_pair(_nth(self.keys, k) if self.keys else "missing-key", who, new_app_key=new)
        self.keys.append(r.ids["app_key"])

    def grant(self, who: str, apps: list[int], api: int, stage: str) -> None:
        self.ledger.grant(who, [_nth(self.apps, i) for i in apps], _nth(self.apis, api), stage)

    def revoke(self, who: str, app: int, api: int, stage: str) -> None:
        self.ledger.revoke(who, _nth(self.apps, app), _nth(self.apis, api), stage)

    def regrant(self, who: str, app: int, api: int, stage: str) -> None:
        """Taken back and given again: a new grant, listed where it was given the second time."""
        self.revoke(who, app, api, stage)
        self.ledger.grant(who, [_nth(self.apps, app)], _nth(self.apis, api), stage)

    def rename_api(self, i: int, who: str) -> None:
        self.ledger.modify_api(_nth(self.apis, i), who, name=f"renamed{i}")

    def delete_api(self, i: int, who: str) -> None:
        self.ledger.delete_api(_nth(self.apis, i), who)


# -- the brute-force reference ------------------------------------------------------------------


def reference_apps(ledger: Any, f: dict[str, Any]) -> list[str]:
    """App ids matching the filters, from a scan of the log (ledger.catalog), in creation order."""
    found = []
    for app in catalog.apps(ledger, f.get("owner")):
        if f.get("name") is not None and f["name"].casefold() not in app.name.casefold():
            continue
        if f.get("app_id") is not None and str(app.id) != f["app_id"]:
            continue
        if f.get("app_key") is not None and f["app_key"] not in app.key_pairs:
            continue
        if any(app.tags.get(k) != v for k, v in (f.get("tags") or {}).items()):
            continue
        found.append(str(app.id))
    return found


def reference_grants(ledger: Any, actor: str | None, f: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(app, API, stage) of the grants ``actor`` may see, from ledger.catalog, in the order given
    (the position of the GrantGiven that gave each, found by scanning the log)."""
    given: dict[tuple[str, str, str], int] = {}
    for n in catalog._scan(ledger, [catalog.GRANT_GIVEN]):
        e = ledger.mapper.to_domain_event(n)
        given[(str(n.originator_id), e.api_id, e.stage)] = n.id
    keys = [(str(app.id), str(api.id), g.stage) for app, api, g in catalog.grants(ledger, actor, **f)]
    return sorted(keys, key=lambda k: given[k])


def all_pages(fetch: Any, limit: int, between: Any = None) -> list[Any]:
    """Every page of a listing, concatenated (``between`` runs after each page)."""
    seen: list[Any] = []
    after = 0
    for _ in range(10_000):
        rows, last = fetch(after, limit)
        assert len(rows) <= limit
        seen.extend(rows)
        if last is None:
            return seen
        assert rows, "a page with a next is never empty"
        after = last
        if between is not None:
            between()
    raise AssertionError("paging never ended")


def app_ids(index: CatalogIndex, f: dict[str, Any], limit: int, between: Any = None) -> list[str]:
    ids = [r.app_id for r in all_pages(lambda a, n: index.app_page(after=a, limit=n, **f), limit, between)]
    assert len(ids) == len(set(ids)), "an app listed twice"
    return ids


def grant_keys(index: CatalogIndex, actor: str | None, f: dict[str, Any], limit: int,
               between: Any = None) -> list[tuple[str, str, str]]:
    keys = [r.key for r in all_pages(lambda a, n: index.grant_page(actor, after=a, limit=n, **f), limit, between)]
    assert len(keys) == len(set(keys)), "a grant listed twice"
    return keys


def app_filters(d: Driver, draw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if draw(st.booleans()):
        f["owner"] = draw(actor)
    if draw(st.booleans()):
        f["name"] = draw(st.sampled_from(("shop", "APP", "mart", "w", "none", "_1")))
    if draw(st.integers(0, 4)) == 0:
        f["app_id"] = _nth(d.apps, draw(pick))
    if draw(st.integers(0, 4)) == 0:
        f["app_key"] = _nth(d.keys, draw(pick)) if d.keys else "missing-key"
    if draw(st.integers(0, 2)) == 0:
        f["tags"] = TAGS[draw(st.integers(1, len(TAGS) - 1))]
    return f


def grant_filters(d: Driver, draw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if draw(st.booleans()):
        f["app_id"] = _nth(d.apps, draw(pick))
    if draw(st.booleans()):
        f["api_id"] = _nth(d.apis, draw(pick))
    if draw(st.booleans()):
        f["stage"] = draw(st.sampled_from(STAGES))
    return f


def _open() -> tuple[Any, Any]:
    tmp = tempfile.TemporaryDirectory()
    return tmp, open_ledger(str(Path(tmp.name) / "ledger.db"), key=TEST_KEY)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=45), data=st.data())
def test_followed_catalog_pages_equal_a_replay_of_the_log(ops: list[tuple[Any, ...]], data: Any) -> None:
    tmp, ledger = _open()
    try:
        d = Driver(ledger)
        index = CatalogIndex()
        for step, o in enumerate(ops):
            d.run(o)
            index.catch_up(log_for(ledger))  # incremental: only the events since the last step
            if step % 5 and step != len(ops) - 1:
                continue
            for _ in range(3):
                f = app_filters(d, data.draw)
                limit = data.draw(st.integers(1, 6))
                assert app_ids(index, f, limit) == reference_apps(ledger, f), f
            for app_id in d.apps:  # the API names an app's view shows, from memory
                app = ledger.get_app(app_id)
                assert index.api_names(a for a, _s in app.grants) == catalog.api_names(ledger, app)
            for who in (*ACCOUNTS, None):
                f = grant_filters(d, data.draw)
                limit = data.draw(st.integers(1, 6))
                assert grant_keys(index, who, f, limit) == reference_grants(ledger, who, f), (who, f)
        # The followed index equals one built from the whole log at once.
        fresh = CatalogIndex()
        fresh.catch_up(log_for(ledger))
        assert fresh.position == index.position
        assert app_ids(fresh, {}, 1000) == app_ids(index, {}, 1000)
        assert grant_keys(fresh, None, {}, 1000) == grant_keys(index, None, {}, 1000)
    finally:
        ledger.close()
        tmp.cleanup()


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(op, min_size=3, max_size=30), more=st.lists(inserts, min_size=1, max_size=20), data=st.data())
def test_paging_is_stable_under_concurrent_inserts(ops: list[tuple[Any, ...]], more: list[tuple[Any, ...]],
                                                   data: Any) -> None:
    """Apps created and grants given between pages: every item once, in order; what existed
    when paging began is all there, and the pages end with what the log holds then."""
    tmp, ledger = _open()
    try:
        d = Driver(ledger)
        index = CatalogIndex()
        for o in ops:
            d.run(o)
        index.catch_up(log_for(ledger))
        pending = list(more)

        def insert() -> None:
            if pending:
                d.run(pending.pop(0))
            index.catch_up(log_for(ledger))

        f = app_filters(d, data.draw)
        before = reference_apps(ledger, f)
        seen = app_ids(index, f, data.draw(st.integers(1, 4)), insert)
        after = reference_apps(ledger, f)
        assert [i for i in seen if i in before] == before  # nothing that was there was skipped
        assert seen == after  # in the log's order, with what was created meanwhile at the end
        who = data.draw(st.sampled_from((*ACCOUNTS, None)))
        g = grant_filters(d, data.draw)
        before_g = reference_grants(ledger, who, g)
        seen_g = grant_keys(index, who, g, data.draw(st.integers(1, 4)), insert)
        after_g = reference_grants(ledger, who, g)
        assert [k for k in seen_g if k in before_g] == before_g
        assert seen_g == after_g
    finally:
        ledger.close()
        tmp.cleanup()


def test_an_unknown_topic_stops_the_catalog() -> None:
    from projections.events import ProjectionError

    index = CatalogIndex()
    try:
        index.apply(1, "authledger:SomethingNew", MISSING, {})
    except ProjectionError as e:
        assert e.position == 1 and index.position == 0
    else:
        raise AssertionError("an unknown topic was applied")
