"""The boundary convention: an event at T takes effect at T; access ends at an end time T, exclusive."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import ApiNotFound, AppNotFound, KeyPairNotFound
from projections.auth_index import AuthIndex
from projections.temporal import to_micros
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.temporal_store import open_index
from tests.audit.histories import CONSUMER, PROVIDER, T0

US = timedelta(microseconds=1)
H = timedelta(hours=1)


def at(d: timedelta) -> int:
    return to_micros(T0 + d)


@pytest.fixture
def world(ledger, db_path):
    """One API, one app with its default AppKey and an AppCode, and a story over a day."""
    api = ledger.register_api(PROVIDER, "weather", appcode_mode="HEADER", at=T0).ids["api_id"]
    r = ledger.create_app(CONSUMER, "app1", app_key="key-original", app_code="CodeAAAA0000000000wxyz", at=T0 + H)
    app = r.ids["app_id"]
    ledger.grant(PROVIDER, app, api, "RELEASE", until=T0 + 10 * H, at=T0 + 2 * H)   # in force 2h..10h
    ledger.disable_app(app, CONSUMER, at=T0 + 3 * H)                               # gap 3h..4h
    ledger.enable_app(app, CONSUMER, at=T0 + 4 * H)
    ledger.reset_key_pair("key-original", CONSUMER, at=T0 + 5 * H)                 # same AppKey: no gap
    ledger.reset_key_pair("key-original", CONSUMER, new_app_key="key-renamed", at=T0 + 6 * H)
    ledger.grant(PROVIDER, app, api, "RELEASE", until=T0 + 8 * H, at=T0 + 7 * H)   # shortened to 8h
    ledger.disable_app(app, CONSUMER, at=T0 + 9 * H)                               # same-instant flap
    ledger.enable_app(app, CONSUMER, at=T0 + 9 * H)
    store, log = open_index(db_path)
    return AuditQueries(store, LedgerEvents(log)), api, app, ledger


def test_an_event_takes_effect_at_its_own_instant(world):
    q, api, _app, _ = world
    # Check the grant at 2h: not a microsecond before, yes at 2h exactly.
    assert not q.could_call("key-original", api, "RELEASE", at(2 * H - US))
    assert q.could_call("key-original", api, "RELEASE", at(2 * H))
    # Check the disable at 3h: allowed just before, refused at 3h; the enable at 4h restores at 4h.
    assert q.could_call("key-original", api, "RELEASE", at(3 * H - US))
    assert not q.could_call("key-original", api, "RELEASE", at(3 * H))
    assert not q.could_call("key-original", api, "RELEASE", at(4 * H - US))
    assert q.could_call("key-original", api, "RELEASE", at(4 * H))


def test_access_ends_at_the_end_time_exclusive(world):
    q, api, _app, _ = world
    # Check the shortened end time (8h), not the original (10h).
    assert q.could_call("key-renamed", api, "RELEASE", at(8 * H - US))
    assert not q.could_call("key-renamed", api, "RELEASE", at(8 * H))
    assert not q.could_call("key-renamed", api, "RELEASE", at(9 * H + 30 * timedelta(minutes=1)))


def test_a_reset_keeping_the_app_key_keeps_its_interval_and_a_new_app_key_starts_one(world):
    q, api, app, _ = world
    rows = q.access_between(app, at(0 * H), at(24 * H))
    keys = [(r["credential"], r["start"], r["end"], r["start_cause"]["type"], r["end_cause"].get("type"))
            for r in rows if r["kind"] == "app_key"]
    assert keys == [
        ("key-original", at(2 * H), at(3 * H), "GrantGiven", "AppDisabled"),
        ("key-original", at(4 * H), at(6 * H), "AppEnabled", "KeyPairReset"),  # not split at 5h
        ("key-renamed", at(6 * H), at(8 * H), "KeyPairReset", None),           # expiry has no event
    ]
    last = [r for r in rows if r["credential"] == "key-renamed"][0]
    assert last["end_cause"]["kind"] == "expiry" and last["end_cause"]["at"] == "2026-03-03T11:00:00Z"
    assert not q.could_call("key-original", api, "RELEASE", at(6 * H))
    assert q.could_call("key-renamed", api, "RELEASE", at(6 * H))


def test_a_disable_and_enable_at_the_same_instant_leave_no_gap(world):
    q, api, app, ledger = world
    # Brute force agrees: both events apply at 9h, the app is enabled.
    brute = AuthIndex.build(ledger, until_time=T0 + 9 * H)
    assert brute.check("key-renamed", api, "RELEASE", at=T0 + 9 * H).allowed is False  # expired at 8h anyway
    code_rows = [r for r in q.access_between(app, at(0 * H), at(24 * H)) if r["kind"] == "app_code"]
    assert [(r["start"], r["end"]) for r in code_rows] == [(at(2 * H), at(3 * H)), (at(4 * H), at(8 * H))]


def test_the_window_clips_intervals_and_says_so(world):
    q, api, _app, _ = world
    rows = [r for r in q.who_could_call_between(api, at(5 * H), at(7 * H)) if r["kind"] == "app_key"]
    assert [(r["credential"], r["start"], r["end"], r["start_clipped"], r["end_clipped"]) for r in rows] == [
        ("key-original", at(5 * H), at(6 * H), True, False),
        ("key-renamed", at(6 * H), at(7 * H), False, True),
    ]
    assert rows[0]["start_cause"]["type"] == "AppEnabled"  # the real cause, before the window


def test_an_app_code_cannot_call_an_api_whose_appcode_mode_is_disable(ledger, db_path):
    api = ledger.register_api(PROVIDER, "nocodes", appcode_mode="DISABLE", at=T0).ids["api_id"]
    app = ledger.create_app(CONSUMER, "app1", app_key="key-aaaaaaa", at=T0).ids["app_id"]
    ledger.grant(PROVIDER, app, api, "TEST", at=T0 + H)
    store, log = open_index(db_path)
    q = AuditQueries(store, LedgerEvents(log))
    assert [r["kind"] for r in q.who_could_call_at(api, at(2 * H))] == ["app_key"]


def test_a_deleted_app_stops_everything_and_history_stays(world, db_path):
    q, api, app, ledger = world
    ledger.delete_app(app, CONSUMER, at=T0 + 7 * H + 30 * timedelta(minutes=1))
    q.store.catch_up(q.events.log)
    assert q.could_call("key-renamed", api, "RELEASE", at(7 * H + 29 * timedelta(minutes=1)))
    assert not q.could_call("key-renamed", api, "RELEASE", at(7 * H + 30 * timedelta(minutes=1)))
    assert q.history(app_id=app)[-1]["type"] == "AppDeleted"
    assert q.replay(at(8 * H))["apps"] == []
    assert q.replay(at(7 * H))["apps"][0]["credentials"][1]["credential"] == "key-renamed"


def test_unknown_names_raise_not_found(world):
    q, _api, _app, _ = world
    with pytest.raises(ApiNotFound):
        q.who_could_call_at("00000000-0000-0000-0000-000000000000", at(H))
    with pytest.raises(AppNotFound):
        q.access_at("00000000-0000-0000-0000-000000000000", at(H))
    with pytest.raises(KeyPairNotFound):
        q.app_for_key("no-such-key")
