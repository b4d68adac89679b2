"""An API modified or deleted (issue 17.5): the gateway's index and router, the audit index
and the reports take the change at its instant, followed and rebuilt alike, and what a
command refuses leaves no event."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import ApiNotFound, InvalidInput, NotPermitted
from projections.auth_index import AuthIndex
from projections.changes import ARITY
from projections.decision import Reason
from projections.follow import Follower
from projections.temporal import to_micros
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.temporal_store import open_index
from projections.wire import decode_message, encode_message
from authledger.service.authz import Router
from tests.projections.conftest import World, at


def _audit(db_path: str) -> AuditQueries:
    store, log = open_index(db_path)
    return AuditQueries(store, LedgerEvents(log))


def _position(ledger: Any) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


def test_modified_settings_reach_the_index_and_the_router_and_the_past_keeps_the_old(world: World) -> None:
    L = world.ledger
    L.modify_api(world.api_id, "acme", name="weather2", auth_type="APP", appcode_mode="HEADER",
                 http_method="GET", path_pattern="/v1/weather/{city}", at=at(3))
    followed = AuthIndex(L.box)
    follower = Follower(L, followed)
    follower.catch_up()
    router = Router(followed)
    assert router.resolve("GET", "/v1/weather/paris") == world.api_id
    version = followed.api_version

    L.modify_api(world.api_id, "acme", appcode_mode="DISABLE", path_pattern="/v2/forecast/{city}",
                 signature_methods="HmacSHA1", nonce_required=False, at=at(10))
    follower.catch_up()
    assert followed.api_version != version  # the router rebuilds its table
    assert router.resolve("GET", "/v1/weather/paris") is None  # the old path routes nowhere now
    assert router.resolve("GET", "/v2/forecast/paris") == world.api_id
    s = followed.api_settings(world.api_id)
    assert s is not None and (s.appcode_mode, s.signature_methods, s.nonce_required) == ("DISABLE", ("HmacSHA1",), False)
    # The AppCode could call before the change, not after; the AppKey both times.
    assert followed.check(world.app_code, world.api_id, "RELEASE", at(11), kind="app_code").reason \
        is Reason.APPCODE_NOT_ALLOWED
    past = AuthIndex.build(L, until_time=at(9))
    assert past.check(world.app_code, world.api_id, "RELEASE", at(9), kind="app_code").allowed
    assert followed.digest() == AuthIndex.build(L).digest()

    # The audit index: who could call at 9 (AppKey and AppCode), at 11 (the AppKey only).
    q = _audit(_where(L))
    kinds = lambda m: sorted(r["kind"] for r in q.who_could_call_at(world.api_id, to_micros(at(m))))  # noqa: E731
    assert kinds(9) == ["app_code", "app_key"]
    assert kinds(11) == ["app_key"]
    codes = [r for r in q.who_could_call_between(world.api_id, to_micros(at(0)), to_micros(at(30)))
             if r["kind"] == "app_code"]
    assert [(r["start"], r["end"], r["end_cause"]["type"]) for r in codes] == \
        [(to_micros(at(2)), to_micros(at(10)), "ApiModified")]
    assert [a["name"] for a in q.replay(to_micros(at(1)))["apis"] if a["api_id"] == world.api_id] == ["weather"]
    assert [a["appcode_mode"] for a in q.replay(to_micros(at(11)))["apis"] if a["api_id"] == world.api_id] == \
        ["DISABLE"]
    q.store.close()


def _url(ledger: Any) -> str:
    from ledger.store import url_from_env

    return url_from_env(ledger.env)


def _where(ledger: Any) -> str:
    name = ledger.env.get("SQLITE_DBNAME")
    return name if ledger.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" else _url(ledger)


def test_deleting_an_api_ends_every_grant_on_it_at_that_instant(world: World) -> None:
    L = world.ledger
    q0 = _audit(_where(L))  # an index built before the deletion: it catches up incrementally
    q0.store.close()
    followed = AuthIndex(L.box)
    follower = Follower(L, followed)
    follower.catch_up()
    L.delete_api(world.api_id, "acme", at=at(10))
    follower.catch_up()
    for index in (followed, AuthIndex.build(L)):
        d = index.check(world.app_key, world.api_id, "RELEASE", at(11))
        assert (d.allowed, d.reason) == (False, Reason.UNKNOWN_API)
        assert index.api_settings(world.api_id) is None
        assert world.api_id not in index.api_ids()
        # The other grant of the app (another API) is untouched.
        assert index.check(world.app_key, world.no_code_api_id, "RELEASE", at(11)).allowed
    assert followed.digest() == AuthIndex.build(L).digest()
    assert AuthIndex.build(L, until_time=at(9)).check(world.app_key, world.api_id, "RELEASE", at(9)).allowed

    q = _audit(_where(L))
    assert q.who_could_call_at(world.api_id, to_micros(at(9)))
    assert q.who_could_call_at(world.api_id, to_micros(at(10))) == []  # in force from its instant on
    assert q.access_at(world.app_id, to_micros(at(11))) != []  # the other API
    assert all(r["api_id"] != world.api_id for r in q.access_at(world.app_id, to_micros(at(11))))
    rows = q.who_could_call_between(world.api_id, to_micros(at(0)), to_micros(at(30)))
    assert rows and {r["end_cause"]["type"] for r in rows} == {"ApiDeleted"}
    assert {r["end"] for r in rows} == {to_micros(at(10))}
    assert q.replay(to_micros(at(11)), api_id=world.api_id)["apis"] == []
    types = [e["type"] for e in q.history(api_id=world.api_id)]
    assert types.count("ApiDeleted") == 1 and types[0] == "ApiRegistered"
    q.store.close()

    # The ledger: the API is gone for every command, its grants gone from the app's views.
    with pytest.raises(ApiNotFound):
        L.live_api(world.api_id)
    with pytest.raises(ApiNotFound):
        L.grant("acme", world.app_id, world.api_id, "PRE", at=at(12))
    with pytest.raises(ApiNotFound):
        L.revoke("acme", world.app_id, world.api_id, "RELEASE", at=at(12))
    from ledger import catalog

    assert catalog.grants_on(L, world.api_id) == []
    assert world.api_id not in [str(a.id) for a in catalog.apis(L)]
    assert [str(api.id) for _app, api, _g in catalog.grants(L, "bob")] == [world.no_code_api_id]


def test_a_grant_saved_after_the_deletion_by_a_racing_writer_grants_nothing(world: World) -> None:
    """The race: a grant command read the API before another deleted it, and saved after.
    Neither the gateway's index (followed, rebuilt, bootstrapped over the wire) nor the audit
    index lets the grant open access."""
    L = world.ledger
    followed = AuthIndex(L.box)
    follower = Follower(L, followed)
    follower.catch_up()
    L.delete_api(world.api_id, "acme", at=at(10))
    app = L.get_app(world.app_id)  # what the racing grant command had decided
    app.grant(world.api_id, "PRE", None)
    L.save(app)
    follower.catch_up()
    rebuilt = AuthIndex.build(L)
    booted = AuthIndex(L.box)
    for change in followed.changes():
        booted.apply_change(change)
    for index in (followed, rebuilt, booted):
        assert not index.check(world.app_key, world.api_id, "PRE", at(12)).allowed
    assert followed.digest() == rebuilt.digest() == booted.digest()
    q = _audit(_where(L))
    assert q.who_could_call_at(world.api_id, to_micros(at(12))) == []
    assert q.who_could_call_between(world.api_id, to_micros(at(10)), to_micros(at(60))) == []
    q.store.close()


def test_refused_api_commands_write_nothing(world: World) -> None:
    L = world.ledger
    before = _position(L)
    with pytest.raises(NotPermitted):
        L.modify_api(world.api_id, "bob", name="stolen")
    with pytest.raises(NotPermitted):
        L.delete_api(world.api_id, "bob")
    with pytest.raises(InvalidInput) as e:
        L.modify_api(world.api_id, "acme", appcode_mode="SOMETIMES")
    assert e.value.field == "appcode_mode"
    with pytest.raises(InvalidInput):
        L.modify_api(world.api_id, "acme", path_pattern="no-slash")
    with pytest.raises(InvalidInput):
        L.modify_api("not-a-uuid", "acme", name="x")
    assert L.modify_api(world.api_id, "acme", name="weather").events == 0  # nothing changes
    assert _position(L) == before
    L.delete_api(world.api_id, "acme")
    after = _position(L)
    for again in (lambda: L.delete_api(world.api_id, "acme"), lambda: L.modify_api(world.api_id, "acme", name="x")):
        with pytest.raises(ApiNotFound) as nf:
            again()
        assert nf.value.exit_code == 3 and nf.value.http_status == 404
    assert _position(L) == after


def test_the_wire_carries_api_removed() -> None:
    assert ARITY["api_removed"] == 2
    m = decode_message(encode_message(4, 5, [("api_removed", "a1")]))
    assert m.changes == (("api_removed", "a1"),)
