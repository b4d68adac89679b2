"""Snapshots (ledger/snapshots.py): an aggregate loaded from its newest snapshot and the
events after it is the aggregate replayed from all its events, at every version; snapshots
hold no plaintext secret; they are stored on SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.domain import App
from ledger.errors import LedgerError
from ledger.snapshots import SNAPSHOT_INTERVAL, LedgerSnapshot
from tests.conftest import TEST_KEY

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
STAGES = ("RELEASE", "PRE", "TEST")


def state(aggregate: Any) -> Any:
    """Everything an aggregate holds (its id and version included), but its unsaved events,
    its attributes' values in order: dicts as lists of items (a dict's order is what views
    list key pairs in, and ``==`` on dicts ignores it), dataclasses as their fields, types kept."""
    return {k: _ordered(v) for k, v in vars(aggregate).items() if k != "_pending_events"}


def _ordered(x: Any) -> Any:
    if isinstance(x, dict):
        return [(_ordered(k), _ordered(v)) for k, v in x.items()]
    if hasattr(x, "__dataclass_fields__"):
        return (type(x).__name__, _ordered(vars(x)))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_ordered(v) for v in x])
    return (type(x).__name__, x)


def replayed(ledger: Ledger, aggregate_id: UUID, version: int | None = None) -> Any:
    """The aggregate rebuilt from every one of its events (up to ``version``), no snapshot."""
    aggregate = None
    for e in ledger.events.get(aggregate_id, lte=version):
        aggregate = e.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate


def snapshot_versions(ledger: Ledger, aggregate_id: UUID) -> list[int]:
    assert ledger.snapshots is not None
    return [s.originator_version for s in ledger.snapshots.get(aggregate_id)]


# -- the property: snapshot + later events == every event -------------------------------------

OPS = ("grant", "grant_bulk", "renew", "revoke", "disable", "enable", "modify", "add_key", "delete_key",
       "reset_key", "add_code", "delete_code", "reset_code")


def _apply(ledger: Ledger, app_id: str, apis: list[str], op: str, n: int, codes: list[str], step: int) -> None:
    at = T0 + timedelta(minutes=step)
    api, stage = apis[n % len(apis)], STAGES[n % 3]
    app = ledger.get_app(app_id)
    keys = list(app.key_pairs)
    if op == "grant":
        ledger.grant("prov", app_id, api, stage, until=at + timedelta(days=n + 1),
                     description=[None, "", "nightly sync", "ünïcode ✓"][n % 4], at=at)
    elif op == "grant_bulk":
        ledger.grant("prov", app_id, apis, stage, description="bulk", at=at)
    elif op == "renew":
        ledger.grant("prov", app_id, api, stage, until=at + timedelta(hours=n + 1), at=at)
    elif op == "revoke":
        ledger.revoke("prov", app_id, api, stage, at=at)
    elif op == "disable":
        ledger.disable_app(app_id, "cons", at=at)
    elif op == "enable":
        ledger.enable_app(app_id, "cons", at=at)
    elif op == "modify":
        ledger.modify_app(app_id, "cons", tags={"n": str(n)}, description=f"step {step}", at=at)
    elif op == "add_key":
        ledger.add_key_pair(app_id, "cons", at=at)
    elif op == "delete_key":
        ledger.delete_key_pair(app_id, keys[n % len(keys)], "cons", at=at)
    elif op == "reset_key":
        new_key = f"resetKey{step:04d}" if n % 2 else None
        ledger.reset_key_pair(keys[n % len(keys)], "cons", new_app_key=new_key, at=at)
    elif op == "add_code":
        codes.append(ledger.add_app_code(app_id, "cons", at=at).revealed["app_code"])
    elif op == "delete_code" and codes:
        ledger.delete_app_code(app_id, codes.pop(n % len(codes)), "cons", at=at)
    elif op == "reset_code" and codes:
        i = n % len(codes)
        codes[i] = ledger.reset_app_code(codes[i], "cons", at=at).revealed["app_code"]


@settings(max_examples=40)
@given(interval=st.integers(1, 9),
       ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 11)), min_size=1, max_size=45))
def test_an_app_loaded_from_a_snapshot_and_later_events_is_the_app_replayed_from_all_events(
        interval: int, ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "ledger.db")
        ledger = open_ledger(db, key=TEST_KEY)
        ledger.snapshotting_intervals = {App: interval}  # type: ignore[misc]
        apis = [ledger.register_api("prov", f"api{i}", at=T0).ids["api_id"] for i in range(3)]
        r = ledger.create_app("cons", "snapApp", at=T0)
        app_id, codes = r.ids["app_id"], [r.revealed["app_code"]]
        for step, (op, n) in enumerate(ops):
            try:
                _apply(ledger, app_id, apis, op, n, codes, step)
            except LedgerError:
                pass  # refused (a grant revoked twice, the default key deleted): wrote nothing
        ledger.close()

        cold = open_ledger(db, key=TEST_KEY)  # a new process: nothing cached
        try:
            uid = UUID(app_id)
            head = cold.get_app(uid)
            assert state(head) == state(replayed(cold, uid))
            versions = snapshot_versions(cold, uid)
            if head.version >= interval + 3:  # a save holds at most 3 of the app's events
                assert versions and versions[-1] > head.version - interval - 3
            assert all(v <= head.version for v in versions)
            for v in range(1, head.version + 1):
                assert state(cold.repository.get(uid, version=v)) == state(replayed(cold, uid, v)), v
        finally:
            cold.close()


# -- on both stores ---------------------------------------------------------------------------

def test_snapshots_are_stored_and_used_on_sqlite_and_postgres(ledger: Ledger, db_path: str) -> None:
    assert ledger.snapshots is not None
    api = ledger.register_api("prov", "weather").ids["api_id"]
    app_id = ledger.create_app("cons", "longLived").ids["app_id"]
    ledger.grant("prov", app_id, api, "RELEASE", description="for the long run")
    uid = UUID(app_id)
    while ledger.get_app(uid).version < 2 * SNAPSHOT_INTERVAL + 7:
        ledger.grant("prov", app_id, api, "RELEASE", until=datetime.now(timezone.utc) + timedelta(
            days=1, seconds=ledger.get_app(uid).version))
    assert snapshot_versions(ledger, uid) == [SNAPSHOT_INTERVAL, 2 * SNAPSHOT_INTERVAL]

    cold = open_ledger(db_path, key=TEST_KEY)
    try:
        app = cold.get_app(uid)
        assert state(app) == state(replayed(cold, uid))
        assert app.grants[(api, "RELEASE")].description == "for the long run"
        # Only the events after the newest snapshot are read to load it.
        assert len(list(cold.events.get(uid, gt=2 * SNAPSHOT_INTERVAL))) == 7
    finally:
        cold.close()


def test_a_snapshot_holds_no_plaintext_secret_nor_appcode(ledger: Ledger, db_path: str) -> None:
    ledger.snapshotting_intervals = {App: 1}  # type: ignore[misc]
    secret, code = "Snap!Secret#0123456789", "SnapCode0123456789"
    r = ledger.create_app("alice", "Vault", app_key="snapKey001", app_secret=secret, app_code=code)
    app_id = r.ids["app_id"]
    plaintexts = [secret, code]
    plaintexts.append(ledger.add_key_pair(app_id, "alice", app_secret="Second!Secret#0000000").revealed["app_secret"])
    plaintexts.append(ledger.reset_key_pair("snapKey001", "alice").revealed["app_secret"])
    plaintexts.append(ledger.add_app_code(app_id, "alice").revealed["app_code"])
    plaintexts.append(ledger.reset_app_code(code, "alice", new_code="SnapReset0123456789").revealed["app_code"])
    app = ledger.get_app(app_id)
    raw = _snapshot_bytes(db_path)
    assert len(snapshot_versions(ledger, UUID(app_id))) == 5
    assert b"snapKey001" in raw  # AppKeys are identifiers: the scan sees the snapshot's state
    for pair in app.key_pairs.values():
        assert pair.secret_sealed in raw  # the sealed form is what a snapshot holds
    for text in plaintexts:
        assert text.encode() not in raw, "plaintext secret in a snapshot"
        assert base64.b64encode(text.encode()) not in raw
    assert ledger.open_secret(app, "snapKey001") == plaintexts[3]


def _snapshot_bytes(db_path: str) -> bytes:
    if db_path.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db_path) as conn:
            rows = conn.execute("SELECT topic, state FROM ledger_snapshots").fetchall()
        return b"".join(t.encode() + bytes(s) for t, s in rows)
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return b"".join(t.encode() + s for t, s in conn.execute("SELECT topic, state FROM stored_snapshots"))
    finally:
        conn.close()


def test_a_version_1_app_snapshot_is_upcast_when_loaded(memory_ledger: Ledger) -> None:
    """App.class_version 2 added grants' description to the snapshot state: a state of
    version 1 (no class_version recorded, grants without description) still loads."""
    ledger = memory_ledger
    api = ledger.register_api("prov", "weather").ids["api_id"]
    app_id = ledger.create_app("cons", "oldState").ids["app_id"]
    ledger.grant("prov", app_id, api, "PRE")
    uid = UUID(app_id)
    taken = LedgerSnapshot.take(ledger.get_app(uid))
    assert taken.state["class_version"] == 2 and taken.topic == "authledger:App"
    old = {k: v for k, v in taken.state.items() if k != "class_version"}
    old["grants"] = [{k: v for k, v in g.items() if k != "description"} for g in old["grants"]]
    assert ledger.snapshots is not None
    ledger.snapshots.put([LedgerSnapshot(originator_id=uid, originator_version=taken.originator_version,  # type: ignore[call-arg]
                                         timestamp=taken.timestamp, topic="authledger:App", state=old)])
    ledger.repository.cache = None  # type: ignore[assignment]  # load from the store
    app = ledger.repository.get(uid)
    assert app.grants[(api, "PRE")].description is None
    assert state(app) == state(replayed(ledger, uid))


@pytest.mark.parametrize("error", ["OperationalError", "IntegrityError"])
def test_a_snapshot_that_cannot_be_written_leaves_the_command_applied(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch, error: str) -> None:
    """A snapshot is a cache: the store away, or another process having written the same
    version first (the unique key), is no failure of the command that reached a multiple."""
    from eventsourcing import persistence

    ledger.snapshotting_intervals = {App: 2}  # type: ignore[misc]
    api = ledger.register_api("prov", "weather").ids["api_id"]
    app_id = ledger.create_app("cons", "racedApp").ids["app_id"]  # versions 1-3: one snapshot, at 3
    uid = UUID(app_id)
    assert snapshot_versions(ledger, uid) == [3]
    assert ledger.snapshots is not None

    def refuse(*_: Any, **__: Any) -> None:
        raise getattr(persistence, error)("refused")

    monkeypatch.setattr(ledger.snapshots, "put", refuse)
    receipt = ledger.grant("prov", app_id, api, "TEST", description="kept")  # version 4: a multiple
    assert receipt.events == 1 and receipt.position is not None
    monkeypatch.undo()
    assert snapshot_versions(ledger, uid) == [3]
    ledger.repository.cache = None  # type: ignore[assignment]
    assert ledger.get_app(uid).grants[(api, "TEST")].description == "kept"


def test_apis_groups_and_host_claims_load_from_snapshots_as_replayed(ledger: Ledger, db_path: str) -> None:
    from ledger.domain import Api, ApiGroup, HostClaim

    ledger.snapshotting_intervals = {Api: 2, ApiGroup: 2, HostClaim: 2}  # type: ignore[misc]
    group = ledger.create_group("prov", "edge").ids["group_id"]
    api = ledger.register_api("prov", "weather", group_id=group, http_method="GET", path_pattern="/w/{city}").ids["api_id"]
    for i in range(5):
        ledger.modify_api(api, "prov", name=f"weather{i}", signature_methods=("HmacSHA256", "HmacSHA1")[: 1 + i % 2])
        ledger.bind_host("prov", group, "api.example.com")
        ledger.unbind_host("prov", group, "api.example.com")
    ledger.bind_host("prov", group, f"h{5}.example.com")
    claim = HostClaim.create_id("api.example.com")
    cold = open_ledger(db_path, key=TEST_KEY)
    try:
        for uid in (UUID(api), UUID(group), claim):
            assert snapshot_versions(cold, uid), uid
            assert state(cold.repository.get(uid)) == state(replayed(cold, uid))
        assert cold.get_api(api).signature_methods == ("HmacSHA256",)
    finally:
        cold.close()
