"""``authledger rebuild-index``: the index built again from the log, on both stores."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from projections.chain import LogMismatch
from projections.temporal_store import TemporalStore, index_path, open_index, open_log
from tests.audit.cli_helpers import run, run_json
from tests.audit.histories import Driver
from tests.audit.test_catch_up import dump


def rebuilt(db: str) -> dict[str, object]:
    store = TemporalStore(":memory:")
    store.catch_up(open_log(db))
    return dump(store)


def test_rebuild_repairs_a_damaged_index_and_gives_the_same_digest(ledger: Any, db_path: str, capsys: Any) -> None:
    d = Driver(ledger)
    d.setup()
    d.play([(timedelta(seconds=1), ("grant", i % 3, 0, "RELEASE", None)) for i in range(6)])
    digest = run_json(capsys, "--db", db_path, "digest")["digest"]
    store = TemporalStore(index_path(db_path))
    store.conn.execute("DELETE FROM grant_periods")  # damage that no anchor check sees
    assert dump(store) != rebuilt(db_path)
    store.close()
    out = run_json(capsys, "--db", db_path, "rebuild-index")
    assert out["digest"] == digest and out["events"] == out["position"] == open_log(db_path).max_position()
    store = TemporalStore(index_path(db_path))
    assert dump(store) == rebuilt(db_path)
    store.close()


def test_rebuild_is_the_way_out_of_a_log_mismatch(ledger: Any, db_path: str, capsys: Any) -> None:
    """The last event removed from the log (a restore from an older backup, say): queries
    refuse, verify-log says why, a plain rebuild refuses to re-baseline the changed log, and
    a rebuild told `--accept-current-log --actor NAME` makes the index the log's again,
    saying who accepted it and when (stderr, output, the index)."""
    Driver(ledger).setup()
    store, _ = open_index(db_path)
    last = store.position
    store.close()
    if db_path.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db_path, autocommit=True) as conn:
            conn.execute("DELETE FROM ledger_events WHERE notification_id = %s", (last,))
    else:
        import sqlite3

        conn = sqlite3.connect(db_path, isolation_level=None)
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (last,))
        conn.close()
    with pytest.raises(LogMismatch):
        open_index(db_path)
    code, _, err = run(capsys, "--db", db_path, "replay", "--until", "2030-01-01T00:00:00Z")
    assert code == 6 and "verify-log" in err
    code, _, err = run(capsys, "--db", db_path, "rebuild-index")
    assert code == 6 and f"position {last}" in err and "--accept-current-log" in err
    code, _, err = run(capsys, "--db", db_path, "replay", "--until", "2030-01-01T00:00:00Z")
    assert code == 6  # still refused: the refusal changed nothing
    code, text, err = run(capsys, "--db", db_path, "rebuild-index", "--accept-current-log", "--actor", "auditor-ann",
                          "--json")
    assert code == 0 and "auditor-ann (os user" in err and "accepted the current log as the new baseline" in err
    out = json.loads(text)
    accepted = out["accepted"]
    assert accepted["accepted_by"] == "auditor-ann" and accepted["mismatch"]["position"] == last
    assert accepted["accepted_at"].endswith("Z") and accepted["os_user"]
    assert accepted["previous_digest"].endswith(f"@{last}") and accepted["new_digest"] == out["digest"]
    assert run(capsys, "--db", db_path, "replay", "--until", "2030-01-01T00:00:00Z")[0] == 0
    assert run_json(capsys, "--db", db_path, "verify-log")["status"] == "verified"
    store, _ = open_index(db_path)
    assert [a["accepted_by"] for a in store.acceptances()] == ["auditor-ann"]
    got = dump(store)
    got["meta"] = [kv for kv in got["meta"] if kv[0] != "accepted_logs"]  # the acceptance is kept apart
    assert got == rebuilt(db_path)
    store.close()


def test_rebuild_without_an_index_builds_one_and_a_missing_ledger_is_refused(ledger: Any, db_path: str,
                                                                           capsys: Any, tmp_path: Any) -> None:
    Driver(ledger).setup()
    out = run_json(capsys, "--db", db_path, "rebuild-index")
    assert out["position"] == open_log(db_path).max_position() > 0
    code, _, err = run(capsys, "--db", str(tmp_path / "none.db"), "rebuild-index")
    assert code == 2 and "no ledger database" in err and len(err.strip().splitlines()) == 1
