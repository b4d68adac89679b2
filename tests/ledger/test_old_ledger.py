"""A ledger written before grant descriptions and snapshots stays readable.

``tests/fixtures/ledger-v1.db`` was written by the code of commit 5c407f0
(``tests/fixtures/make_ledger_v1.py``): its GrantGiven events are version 1 (no
``description``, no ``class_version``) and it has no snapshot table. Today's code reads them
through ``App.GrantGiven.upcast_v1_v2`` (description None), writes version-2 events beside
them, and snapshots the old app like any other.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

import pytest

from ledger import views
from ledger.bootstrap import open_ledger
from ledger.transcoder import unpack
from projections.auth_index import AuthIndex
from tests.conftest import TEST_KEY
from tests.ledger.test_snapshots import replayed, snapshot_versions, state

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ledger-v1.db"
GRANT_GIVEN = "authledger:GrantGiven"


def _raw_grants_given(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT state FROM stored_events WHERE topic=? ORDER BY rowid", (GRANT_GIVEN,)).fetchall()
        return [unpack(r[0]) for r in rows]
    finally:
        conn.close()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    copy = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURE, copy)
    return copy


def test_the_fixture_really_is_a_ledger_from_before_the_change() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert "stored_snapshots" not in tables
    given = _raw_grants_given(FIXTURE)
    assert len(given) == 3
    assert all("description" not in s and "class_version" not in s for s in given)


def test_an_old_ledger_loads_its_v1_grants_with_no_description(old_db: Path) -> None:
    ledger = open_ledger(str(old_db), key=TEST_KEY)
    try:
        notes = ledger.recorder.select_notifications(1, 1000, topics=[GRANT_GIVEN])
        events = [ledger.mapper.to_domain_event(n) for n in notes]
        assert len(events) == 3 and all(e.description is None for e in events)  # type: ignore[attr-defined]
        app_id = events[0].originator_id
        app = ledger.get_app(app_id)
        assert app.version == 127 and len(app.grants) == 2
        assert all(g.description is None for g in app.grants.values())
        shown = views.owner_app(app, {}, datetime.now(timezone.utc))["grants"]
        assert [g["description"] for g in shown] == [None, None]
        # The old app's custom secret still opens (the key is the one it was written with).
        assert ledger.open_secret(app, "oldAppKey01") == "Old!Secret#0123456789"

        # New events beside the old: a v2 grant with a description, then a snapshot.
        weather, tides = sorted({g.api_id for g in app.grants.values()}, key=lambda a: ledger.get_api(a).name)[::-1]
        ledger.grant("prov", app_id, tides, "RELEASE", description="added after the upgrade")
        ledger.take_snapshot(app_id)
        assert snapshot_versions(ledger, app_id) == [128]
    finally:
        ledger.close()
    raw = _raw_grants_given(old_db)
    assert raw[-1]["class_version"] == 2 and raw[-1]["description"] == "added after the upgrade"
    assert "description" not in raw[0]  # old events are read as they are, never rewritten

    cold = open_ledger(str(old_db), key=TEST_KEY)
    try:
        app = cold.get_app(app_id)
        assert state(app) == state(replayed(cold, app_id))
        assert app.grants[(tides, "RELEASE")].description == "added after the upgrade"
        assert app.grants[(tides, "PRE")].description is None
        # The auth index (raw states, not the mapper) reads both versions alike.
        index = AuthIndex.build(cold)
        for api_id, stage in ((weather, "RELEASE"), (tides, "PRE"), (tides, "RELEASE")):
            assert index.check("oldAppKey01", api_id, stage).allowed, (api_id, stage)
        assert not index.check("oldAppKey01", tides, "TEST").allowed  # revoked in the old history
    finally:
        cold.close()


def _contents(db: Path) -> tuple[set[str], str]:
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = hashlib.sha256(repr(conn.execute("SELECT * FROM stored_events ORDER BY rowid").fetchall()).encode())
        return tables, rows.hexdigest()
    finally:
        conn.close()


def test_an_old_ledger_opened_read_only_gets_no_table_and_loads_without_snapshots(old_db: Path) -> None:
    # (Opening a writable file switches it to WAL, as it always has: the file's bytes change,
    # its tables and rows do not.)
    before = _contents(old_db)
    ledger = open_ledger(str(old_db), key=TEST_KEY, read_only=True)
    try:
        assert ledger.snapshots is None  # no snapshot table in the file, and none made
        notes = ledger.recorder.select_notifications(1, 1, topics=[GRANT_GIVEN])
        app = ledger.get_app(notes[0].originator_id)
        assert app.version == 127 and isinstance(app.id, UUID)
    finally:
        ledger.close()
    assert _contents(old_db) == before
