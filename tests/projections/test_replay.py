"""The bulk replay of ``AuthIndex.build`` equals applying every event through ``apply``.

``build`` applies grants given/renewed directly (``AuthIndex._replay_rows``); followers
apply every event through ``apply`` (``events.apply_from``). Here a real SQLite ledger gets
random grant histories, then random grant rows are rewritten with states the fast path
must hand to the reference (missing fields, ``until`` of other types, unhashable ids,
unknown apps): both ways must end in the same index and position, or raise the same
``ProjectionError`` at the same position.
"""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import open_ledger
from ledger.transcoder import pack, unpack
from projections.auth_index import AuthIndex
from projections.events import ProjectionError, apply_from
from projections.log import log_for
from tests.conftest import TEST_KEY

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STAGES = ("RELEASE", "PRE", "TEST")

grant = st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from(STAGES),
                  st.one_of(st.none(), st.integers(1, 500)))
# What a rewritten grant row's state gets: (field, value) or ("drop", field).
odd_value = st.one_of(
    st.none(), st.integers(-10, 10**12), st.floats(allow_nan=False), st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2), st.just(T0 + timedelta(days=3)), st.just(b"\x00"),
)
edit = st.one_of(
    st.tuples(st.sampled_from(("until", "api_id", "stage")), odd_value),
    st.tuples(st.just("drop"), st.sampled_from(("until", "api_id", "stage"))),
    st.tuples(st.just("originator"), st.just("unknown app")),
)


def _outcome(make: Any) -> tuple[str, Any]:
    try:
        index = make()
    except ProjectionError as e:
        return "error", (e.position, str(e))
    # Plain structures, not snapshot(): odd ids (None, ints) need not sort.
    apps = {a: (app.grants, app.keys, app.codes, app.allowed, app.blocked) for a, app in index._apps.items()}
    return "index", (index.position, apps, {k: a.app_id for k, a in index._keys.items()}, dict(index._secrets), index._apis)


def _reference(ledger: Any) -> AuthIndex:
    index = AuthIndex(ledger.box)
    apply_from(log_for(ledger), index)
    return index


def _rewrite(path: str, edits: list[tuple[int, tuple[str, Any]]]) -> None:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT rowid FROM stored_events WHERE topic LIKE 'authledger:Grant%' ORDER BY rowid").fetchall()
        for n, (what, value) in edits:
            rowid = rows[n % len(rows)][0]
            if what == "originator":
                db.execute("UPDATE stored_events SET originator_id = ? WHERE rowid = ?", (f"{rowid:032x}", rowid))
                continue
            (data,) = db.execute("SELECT state FROM stored_events WHERE rowid = ?", (rowid,)).fetchone()
            state = unpack(data)
            if what == "drop":
                state.pop(value, None)
            else:
                state[what] = value
            data = msgpack.packb(state, datetime=True, use_bin_type=True) if isinstance(value, list) else pack(state)
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (data, rowid))


@settings(max_examples=60, deadline=None)
@given(grants=st.lists(grant, min_size=1, max_size=25), edits=st.lists(st.tuples(st.integers(0, 99), edit), max_size=3))
def test_build_equals_applying_every_event(grants: list[tuple[Any, ...]], edits: list[tuple[int, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "ledger.db")
        ledger = open_ledger(path, key=TEST_KEY)
        try:
            apis = [ledger.register_api("acme", f"api{i}", at=T0).ids["api_id"] for i in range(3)]
            apps = [ledger.create_app("bob", f"app{i}", at=T0).ids["app_id"] for i in range(3)]
            for step, (app, api, stage, hours) in enumerate(grants):
                when = T0 + timedelta(minutes=step + 1)
                until = None if hours is None else T0 + timedelta(hours=hours, microseconds=step * 7)
                ledger.grant("acme", apps[app], apis[api], stage, until=until, at=when)
            _rewrite(path, edits)
            fast = _outcome(lambda: AuthIndex.build(ledger))
            reference = _outcome(lambda: _reference(ledger))
            assert fast == reference, edits
            event(f"outcome: {fast[0]}")
            if fast[0] == "index":  # and the build went to the end of the log
                assert fast[1][0] == (ledger.recorder.max_notification_id() or 0)
        finally:
            ledger.close()
