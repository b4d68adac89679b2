"""The auth index: one test per reason, expiry without events, credentials that stop, AppCodes by hash."""

from __future__ import annotations

import sqlite3
import threading
import time
import types
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from projections.auth_index import AuthIndex
from projections.decision import Reason
from projections.events import ProjectionError
from projections.follow import Follower, start_following
from tests.conftest import TEST_KEY
from tests.projections.conftest import World, at


def index_of(world: World) -> AuthIndex:
    return AuthIndex.build(world.ledger)


def test_narrative_an_app_calls_until_its_grant_ends(world: World) -> None:
    index = index_of(world)
    # Check the granted stage is allowed before the end time, with the extension passed on.
    d = index.check(world.app_key, world.api_id, "RELEASE", at(30))
    assert (d.allowed, d.reason, d.app_id, d.extension) == (True, Reason.OK, world.app_id, '{"tenant":"shop"}')
    # Check the same grant denies at its end time, with no event in between.
    assert index.check(world.app_key, world.api_id, "RELEASE", at(60)).reason is Reason.AUTHORIZATION_EXPIRED
    assert index.check(world.app_key, world.api_id, "RELEASE", at(59.99)).allowed
    # Check a renewal moves the end.
    world.ledger.grant("acme", world.app_id, world.api_id, "RELEASE", until=at(120), at=at(3))
    assert AuthIndex.build(world.ledger).check(world.app_key, world.api_id, "RELEASE", at(90)).allowed


def test_unknown_key(world: World) -> None:
    d = index_of(world).check("no-such-key-123", world.api_id, "RELEASE", at(5))
    assert (d.allowed, d.reason, d.app_id) == (False, Reason.UNKNOWN_KEY, None)


def test_unknown_api(world: World) -> None:
    d = index_of(world).check(world.app_key, "00000000-0000-0000-0000-000000000000", "RELEASE", at(5))
    assert (d.allowed, d.reason, d.app_id) == (False, Reason.UNKNOWN_API, world.app_id)


def test_not_authorized_when_no_grant_for_the_api_in_any_stage(world: World) -> None:
    assert index_of(world).check(world.app_key, world.other_api_id, "RELEASE", at(5)).reason is Reason.NOT_AUTHORIZED


def test_stage_not_authorized_when_the_grant_is_in_another_stage(world: World) -> None:
    assert index_of(world).check(world.app_key, world.api_id, "TEST", at(5)).reason is Reason.STAGE_NOT_AUTHORIZED


def test_disabled_app_keeps_grants_but_cannot_call(world: World) -> None:
    world.ledger.disable_app(world.app_id, "bob", at=at(4))
    index = index_of(world)
    assert index.check(world.app_key, world.api_id, "RELEASE", at(5)).reason is Reason.APP_DISABLED
    world.ledger.enable_app(world.app_id, "bob", at=at(6))
    assert index_of(world).check(world.app_key, world.api_id, "RELEASE", at(7)).reason is Reason.OK


def test_deleted_app_answers_app_deleted_and_loses_its_secrets(world: World) -> None:
    world.ledger.delete_app(world.app_id, "bob", at=at(4))
    index = index_of(world)
    assert index.check(world.app_key, world.api_id, "RELEASE", at(5)).reason is Reason.APP_DELETED
    assert index.check(world.app_code, world.api_id, "RELEASE", at(5), kind="app_code").reason is Reason.APP_DELETED
    assert index.secret_for(world.app_key) is None
    assert index.app_for_code(world.app_code) is None


def test_deleted_precedes_unknown_api_and_disabled_precedes_grants(world: World) -> None:
    world.ledger.disable_app(world.app_id, "bob", at=at(4))
    index = index_of(world)
    assert index.check(world.app_key, "nope", "RELEASE", at(5)).reason is Reason.APP_DISABLED
    assert index.check(world.app_key, world.other_api_id, "PRE", at(5)).reason is Reason.APP_DISABLED


def test_revoked_grant_is_not_authorized(world: World) -> None:
    world.ledger.revoke("acme", world.app_id, world.api_id, "RELEASE", at=at(4))
    assert index_of(world).check(world.app_key, world.api_id, "RELEASE", at(5)).reason is Reason.NOT_AUTHORIZED


def test_expiry_is_evaluated_at_check_time_with_no_event(world: World) -> None:
    index = index_of(world)
    position = index.position
    assert index.check(world.app_key, world.api_id, "RELEASE", at(59)).allowed
    assert not index.check(world.app_key, world.api_id, "RELEASE", at(61)).allowed
    assert index.position == position
    # at=None is the clock at check time: T0+60m is long past.
    assert index.check(world.app_key, world.api_id, "RELEASE").reason is Reason.AUTHORIZATION_EXPIRED
    assert index.check(world.app_key, world.no_code_api_id, "RELEASE").allowed
    # float epoch seconds and datetimes agree.
    assert index.check(world.app_key, world.api_id, "RELEASE", at(59).timestamp()).allowed


def test_deleted_key_pair_is_no_longer_found(world: World) -> None:
    added = world.ledger.add_key_pair(world.app_id, "bob", at=at(3))
    key = added.ids["app_key"]
    assert index_of(world).check(key, world.api_id, "RELEASE", at(4)).allowed
    world.ledger.delete_key_pair(world.app_id, key, "bob", at=at(5))
    index = index_of(world)
    assert index.check(key, world.api_id, "RELEASE", at(6)).reason is Reason.UNKNOWN_KEY
    assert index.secret_for(key) is None
    assert index.check(world.app_key, world.api_id, "RELEASE", at(6)).allowed


def test_reset_replaces_the_secret_and_a_new_app_key_retires_the_old(world: World) -> None:
    reset = world.ledger.reset_key_pair(world.app_key, "bob", at=at(3))
    index = index_of(world)
    assert index.secret_for(world.app_key) == (world.app_id, reset.revealed["app_secret"])
    assert reset.revealed["app_secret"] != world.app_secret
    renamed = world.ledger.reset_key_pair(world.app_key, "bob", new_app_key="renamed-key-1", at=at(4))
    index = index_of(world)
    assert index.check(world.app_key, world.api_id, "RELEASE", at(5)).reason is Reason.UNKNOWN_KEY
    assert index.secret_for("renamed-key-1") == (world.app_id, renamed.revealed["app_secret"])


def test_app_code_is_looked_up_by_hash_and_never_stored_in_plaintext(world: World) -> None:
    index = index_of(world)
    code_hash = world.ledger.box.code_hash(world.app_code)
    assert index.check(world.app_code, world.api_id, "RELEASE", at(5), kind="app_code").allowed
    assert index.check(code_hash, world.api_id, "RELEASE", at(5), kind="app_code_hash").allowed
    assert index.check(world.app_code, world.api_id, "RELEASE", at(5)).reason is Reason.UNKNOWN_KEY
    assert index.app_for_code(world.app_code) == world.app_id
    assert world.app_code not in _all_strings(index)
    assert code_hash in _all_strings(index)


def test_app_code_on_an_api_that_disables_it(world: World) -> None:
    d = index_of(world).check(world.app_code, world.no_code_api_id, "RELEASE", at(5), kind="app_code")
    assert d.reason is Reason.APPCODE_NOT_ALLOWED
    assert index_of(world).check(world.app_key, world.no_code_api_id, "RELEASE", at(5)).allowed


def test_one_decision_path_for_every_kind_of_credential(world: World) -> None:
    """The verifier asks by app id (``kind="app_id"``), the CLI by AppKey or AppCode: the same
    path, the same prebuilt Decision objects; only AppCode kinds read the AppCode mode."""
    index = index_of(world)
    for api, stage, minutes in ((world.api_id, "RELEASE", 5), (world.api_id, "RELEASE", 60),
                                (world.api_id, "TEST", 5), (world.other_api_id, "RELEASE", 5),
                                ("00000000-0000-0000-0000-000000000000", "RELEASE", 5)):
        by_key = index.check(world.app_key, api, stage, at(minutes))
        assert index.check(world.app_id, api, stage, at(minutes), kind="app_id") is by_key
    assert index.check(world.app_id, world.no_code_api_id, "RELEASE", at(5), kind="app_id").allowed
    assert index.check(world.app_code, world.no_code_api_id, "RELEASE", at(5),
                       kind="app_code").reason is Reason.APPCODE_NOT_ALLOWED
    assert index.check("no-such-app", world.api_id, "RELEASE", at(5), kind="app_id").reason is Reason.UNKNOWN_KEY
    assert index.check(world.app_key, world.api_id, "RELEASE", at(5), kind="app_id").reason is Reason.UNKNOWN_KEY
    world.ledger.disable_app(world.app_id, "bob", at=at(4))
    disabled = index_of(world)
    assert disabled.check(world.app_id, world.api_id, "RELEASE", at(5), kind="app_id").reason is Reason.APP_DISABLED


def test_check_takes_any_instant_form_and_refuses_bad_arguments(world: World) -> None:
    index = index_of(world)
    ok = index.check(world.app_key, world.api_id, "RELEASE", at(5))
    t = at(5).timestamp()
    for when in (t, int(t), at(5)):
        assert index.check(world.app_key, world.api_id, "RELEASE", when) is ok
        assert index.check(world.app_id, world.api_id, "RELEASE", when, kind="app_id") is ok
    assert index.check(world.app_key, world.api_id, "RELEASE", at(60).timestamp()).reason is Reason.AUTHORIZATION_EXPIRED
    assert index.check(world.app_key, world.api_id, "PRE", None).reason is Reason.STAGE_NOT_AUTHORIZED
    with pytest.raises(ValueError, match="naive datetime"):
        index.check(world.app_key, world.api_id, "RELEASE", at(5).replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown credential kind"):
        index.check(world.app_key, world.api_id, "RELEASE", t, kind="bogus")
    with pytest.raises(TypeError):  # an unhashable credential: dict lookups refuse it, nothing is changed
        index.check(["x"], world.api_id, "RELEASE", t)  # type: ignore[arg-type]
    assert index.check(world.app_key, world.api_id, "RELEASE", t) is ok


def test_reset_app_code_retires_the_old_code(world: World) -> None:
    new = world.ledger.reset_app_code(world.app_code, "bob", at=at(3)).revealed["app_code"]
    index = index_of(world)
    assert index.check(world.app_code, world.api_id, "RELEASE", at(5), kind="app_code").reason is Reason.UNKNOWN_KEY
    assert index.check(new, world.api_id, "RELEASE", at(5), kind="app_code").allowed


def test_without_a_box_no_secret_is_decrypted(world: World) -> None:
    index = AuthIndex(None)
    Follower(world.ledger, index).catch_up()
    assert index.secret_for(world.app_key) is None
    assert world.app_secret not in _all_strings(index)
    assert index.check(world.app_key, world.api_id, "RELEASE", at(5)).allowed


def test_build_until_position_and_until_time(world: World) -> None:
    world.ledger.disable_app(world.app_id, "bob", at=at(10))
    full = index_of(world)
    before = AuthIndex.build(world.ledger, until_time=at(9))
    assert before.check(world.app_key, world.api_id, "RELEASE", at(9)).allowed
    assert full.check(world.app_key, world.api_id, "RELEASE", at(9)).reason is Reason.APP_DISABLED
    assert before.position == full.position  # every event was read; later ones skipped
    upto = AuthIndex.build(world.ledger, until_position=full.position - 1)
    assert upto.digest() == before.digest() and upto.position == full.position - 1


def test_digest_changes_with_content_and_equals_for_same_history(world: World) -> None:
    a, b = index_of(world), index_of(world)
    assert a.digest() == b.digest()
    world.ledger.modify_app(world.app_id, "bob", extension="v2", at=at(3))
    c = index_of(world)
    assert c.digest() != a.digest()
    assert c.check(world.app_key, world.api_id, "RELEASE", at(5)).extension == "v2"


# -- following -------------------------------------------------------------------------


def test_follower_applies_in_process_writes_at_once(world: World) -> None:
    index = AuthIndex(world.ledger.box)
    handle = start_following(world.ledger, index, poll_interval=5.0)  # a poll would be far too late
    try:
        _wait(lambda: index.position > 0)
        r = world.ledger.disable_app(world.app_id, "bob", at=at(4))
        t0 = time.perf_counter()
        _wait(lambda: index.position >= r.position)
        assert time.perf_counter() - t0 < 1.0
        assert index.check(world.app_key, world.api_id, "RELEASE", at(5)).reason is Reason.APP_DISABLED
    finally:
        handle.stop()
    assert not handle.alive


def test_follower_polls_writes_from_another_process(world: World, db_path: str) -> None:
    index = AuthIndex(world.ledger.box)
    handle = start_following(world.ledger, index, poll_interval=0.02)
    other = open_ledger(db_path, key=TEST_KEY)  # another writer: no save listener reaches us
    try:
        r = other.disable_app(world.app_id, "bob", at=at(4))
        _wait(lambda: index.position >= r.position)
        assert index.check(world.app_key, world.api_id, "RELEASE", at(5)).reason is Reason.APP_DISABLED
    finally:
        handle.stop()
        other.close()


def test_a_write_right_after_catch_up_is_applied_at_once(memory_ledger: Any) -> None:
    """Fault: the library's subscription pulls what is recorded before its listener is in place,
    so a revocation committed in that gap waited for the next write (the old follower used it;
    this test had to wait for ``recorder._listeners`` to dodge the gap). The follower now uses
    the ledger's save listener, registered before its first catch-up: no gap."""
    for attempt in range(20):  # the gap was a few milliseconds wide: try it many times
        index = AuthIndex(memory_ledger.box)
        follower = Follower(memory_ledger, index, poll_interval=30.0)  # a poll would be far too late
        stop = threading.Event()
        first = memory_ledger.register_api("acme", f"maps{attempt}", at=at(0))
        thread = threading.Thread(target=follower.run, args=(stop,))
        thread.start()
        try:
            _wait(lambda: index.position >= first.position)
            r = memory_ledger.register_api("acme", f"weather{attempt}", at=at(0))  # at once, in the gap
            _wait(lambda: index.position >= r.position, timeout=2.0)
            assert index.api_settings(r.ids["api_id"]) is not None
        finally:
            stop.set()
            follower.stop_waking()
            thread.join(5)
        assert not thread.is_alive()


def test_follower_resumes_from_a_saved_position(world: World) -> None:
    full = index_of(world)
    partial = AuthIndex.build(world.ledger, until_position=3)
    assert Follower(world.ledger, partial).catch_up() == full.position - 3
    assert partial.digest() == full.digest()


# -- corruption --------------------------------------------------------------------------


def _corrupt(db_path: str, position: int) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (b"\xc1\xff garbage", position))


@pytest.mark.sqlite_only  # edits the SQLite file directly
def test_a_corrupted_event_stops_the_projection_loudly(world: World, db_path: str) -> None:
    position = index_of(world).position - 1
    _corrupt(db_path, position)
    with pytest.raises(ProjectionError) as raised:
        AuthIndex.build(world.ledger)
    assert raised.value.position == position
    assert f"position {position}" in str(raised.value) and "authledger:" in str(raised.value)


@pytest.mark.sqlite_only  # edits the SQLite file directly
def test_a_corrupted_event_stops_the_follower_and_stop_reraises(world: World, db_path: str) -> None:
    _corrupt(db_path, 2)
    index = AuthIndex(world.ledger.box)
    handle = start_following(world.ledger, index)
    _wait(lambda: not handle.alive)
    assert index.position == 1  # stopped before the bad event, never past it
    with pytest.raises(ProjectionError):
        handle.stop()


def test_an_unknown_topic_is_refused(world: World) -> None:
    index = AuthIndex(None)
    with pytest.raises(ProjectionError, match="unknown event topic"):
        index.apply(1, "authledger:SomethingNew", world.ledger.get_app(world.app_id).id, {})


def test_a_state_missing_a_field_is_refused(world: World) -> None:
    index = AuthIndex(None)
    with pytest.raises(ProjectionError, match="position 7"):
        index.apply(7, "authledger:AppCreated", world.ledger.get_app(world.app_id).id, {"owner": "x"})


# -- helpers -----------------------------------------------------------------------------


def _wait(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def _all_strings(obj: Any, seen: set[int] | None = None) -> set[str]:
    """Every string reachable from ``obj`` (attributes, slots, containers), recursively."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, (bytes, int, float, bool, type(None))):
        return set()
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= _all_strings(k, seen) | _all_strings(v, seen)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            out |= _all_strings(v, seen)
        return out
    if isinstance(obj, (types.MethodType, types.FunctionType, types.BuiltinFunctionType, type)):
        return out
    for name in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, name):
            out |= _all_strings(getattr(obj, name), seen)
    if hasattr(obj, "__dict__"):
        for v in vars(obj).values():
            out |= _all_strings(v, seen)
    return out
