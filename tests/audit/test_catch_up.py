"""Catching up event by event gives exactly the index a rebuild from scratch gives."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings

from ledger.bootstrap import open_ledger
from projections.chain import LogMismatch
from projections.log import log_for
from projections.temporal_store import TemporalStore, index_path, open_index
from tests.audit.histories import T0, Driver, histories
from tests.conftest import TEST_KEY

TABLES = {
    "apis": "api_id, owner, name, auth_type, appcode_mode, registered, registered_pos",
    "apps": "app_id, owner, created, created_pos, deleted, deleted_pos",
    "app_names": "app_id, start, pos, name",
    "enabled_periods": "app_id, start, end, start_pos, end_pos",
    "cred_periods": "app_id, cred, kind, display, start, end, start_pos, end_pos",
    "grant_periods": "app_id, api_id, stage, until, start, end, start_pos, end_pos",
}


def dump(store: TemporalStore) -> dict[str, object]:
    """Every row of the index, comparable across SQLite and PostgreSQL (meta values as text:
    PostgreSQL keeps them as TEXT; every reader converts)."""
    d: dict[str, object] = {t: sorted((tuple(r) for r in store.conn.execute(f"SELECT {cols} FROM {t}")), key=repr)
                            for t, cols in TABLES.items()}
    d["chain"] = sorted((b, bytes(data)) for b, data in store.conn.execute("SELECT * FROM chain"))
    d["meta"] = sorted((k, str(v)) for k, v in store.conn.execute("SELECT * FROM meta"))
    return d


@settings(max_examples=40, deadline=None)
@given(history=histories)
def test_incremental_catch_up_equals_a_rebuild(history):
    ledger = open_ledger(":memory:", key=TEST_KEY)
    log = log_for(ledger)
    incremental = TemporalStore(":memory:")
    d = Driver(ledger)
    d.setup()
    incremental.catch_up(log)
    for step, op in history:
        d.play([(step, op)])
        incremental.catch_up(log)
    rebuilt = TemporalStore(":memory:")
    rebuilt.catch_up(log)
    assert dump(incremental) == dump(rebuilt)
    ledger.close()


def test_each_call_applies_only_the_new_events(ledger, db_path):
    d = Driver(ledger)
    d.setup()
    store, log = open_index(db_path)
    first = store.position
    assert first == log.max_position() > 0
    d.play([(T0 - T0, ("disable", 0)), (T0 - T0, ("enable", 0))])
    store.close()
    # Check a second opening (as the next CLI call) applies exactly the two new events.
    store = TemporalStore(index_path(db_path))
    assert store.catch_up(log) == 2
    assert store.position == first + 2
    assert store.catch_up(log) == 0


@pytest.mark.sqlite_only  # copies the index file; a PostgreSQL index lives in its ledger's database
def test_an_index_built_for_another_ledger_is_refused(ledger, db_path, tmp_path):
    Driver(ledger).setup()
    store, _ = open_index(db_path)
    store.close()  # checkpoints the WAL into the file
    other = str(tmp_path / "other.db")
    o = open_ledger(other, key=TEST_KEY)
    Driver(o).setup()
    o.close()
    shutil.copy(index_path(db_path), index_path(other))
    with pytest.raises(LogMismatch):
        open_index(other)


def test_a_log_replaced_under_its_index_is_refused(ledger, db_path):
    """The ledger's events deleted and another history written (a restore that left the index
    behind): the row at the index's position is not the one it applied."""
    Driver(ledger).setup()
    store, log = open_index(db_path)
    applied = store.position
    store.close()
    if db_path.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db_path, autocommit=True) as conn:
            conn.execute("DELETE FROM ledger_events")
    else:
        import sqlite3

        conn = sqlite3.connect(db_path, isolation_level=None)
        conn.execute("DELETE FROM stored_events")
        conn.close()
    other = Driver(ledger)
    other.setup()
    other.setup()  # past the old position, with other rows
    assert log.max_position() > applied
    with pytest.raises(LogMismatch, match=f"position {applied}"):
        open_index(db_path)


def test_a_chain_recorded_in_a_pass_of_its_own_equals_one_recorded_with_the_index(ledger, db_path, tmp_path):
    d = Driver(ledger)
    d.setup()
    d.play([(T0 - T0, ("grant", 0, 0, "RELEASE", None)), (T0 - T0, ("disable", 1))])
    log = open_index(db_path, catch_up=False)[1]
    apart = TemporalStore(str(tmp_path / "apart.sqlite"))
    apart.catch_up(log, record_chain=False)
    assert apart.chain_head()[1] == 0
    apart.catch_up(log)
    together = TemporalStore(str(tmp_path / "together.sqlite"))
    together.catch_up(log)
    assert dump(apart) == dump(together)


@settings(max_examples=15, deadline=None)
@given(history=histories)
def test_a_build_flushed_in_many_small_pieces_equals_one_flushed_at_once(history):
    import projections.temporal_store as ts

    ledger = open_ledger(":memory:", key=TEST_KEY)
    d = Driver(ledger)
    d.setup()
    d.play(history)
    log = log_for(ledger)
    once = TemporalStore(":memory:")
    once.catch_up(log)
    page, every = ts.PAGE, ts.FLUSH_EVERY
    ts.PAGE, ts.FLUSH_EVERY = 2, 3
    try:
        pieces = TemporalStore(":memory:")
        pieces.catch_up(log)
        # Two catch-ups: the second continues stored apps (loaded ahead, batch by batch).
        halves = TemporalStore(":memory:")
        halves.catch_up(log, until=log.max_position() // 2)
        halves.catch_up(log)
    finally:
        ts.PAGE, ts.FLUSH_EVERY = page, every
    assert dump(pieces) == dump(once)
    assert dump(halves) == dump(once)
    ledger.close()


@pytest.mark.sqlite_only  # edits the SQLite file directly
def test_an_undecodable_row_stops_the_build_naming_its_position(ledger, db_path):
    import sqlite3

    from projections.events import ProjectionError

    Driver(ledger).setup()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("UPDATE stored_events SET state=x'c1' WHERE rowid=5")
    conn.close()
    with pytest.raises(ProjectionError, match="position 5"):
        open_index(db_path)


class _WatchedLog:
    """A log reader that notes whether the cyclic collector runs while its rows are read."""

    def __init__(self, log: Any, fail_after: int | None = None) -> None:
        self.log, self.fail_after = log, fail_after
        self.collecting: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)

    def batches(self, *args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        for i, batch in enumerate(self.log.batches(*args, page=2, **{k: v for k, v in kwargs.items() if k != "page"})):
            self.collecting.append(gc.isenabled())
            if self.fail_after is not None and i >= self.fail_after:
                raise OSError("disk gone")
            yield batch


def test_a_catch_up_pauses_the_cyclic_collector_and_restores_it(ledger: Any) -> None:
    Driver(ledger).setup()
    log: Any = _WatchedLog(log_for(ledger))
    assert gc.isenabled()
    TemporalStore(":memory:").catch_up(log)
    assert log.collecting and not any(log.collecting)  # paused while rows are read, not only applied
    assert gc.isenabled()
    failing: Any = _WatchedLog(log_for(ledger), fail_after=1)
    with pytest.raises(OSError):
        TemporalStore(":memory:").catch_up(failing)
    assert gc.isenabled()
    gc.disable()
    try:
        TemporalStore(":memory:").catch_up(log_for(ledger))
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
