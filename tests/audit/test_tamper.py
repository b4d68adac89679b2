"""Attacks on the ledger file, made with sqlite3 directly: verify-log names the first bad position."""

from __future__ import annotations

import os
import sqlite3

import pytest

from projections.temporal_store import index_path
from tests.audit.cli_helpers import run, run_json
from tests.audit.histories import Driver

BAD = 6  # LogMismatch's exit code


pytestmark = pytest.mark.sqlite_only  # tampering edits the SQLite file directly

@pytest.fixture
def tampered(ledger, db_path, capsys):
    """A ledger with some history, its chain recorded (by `digest`), and a raw connection to the file."""
    d = Driver(ledger)
    d.setup()
    for i in range(3):
        d.do(("grant", i, 0, "RELEASE", None))
        d.do(("disable", i))
    digest = run_json(capsys, "--db", db_path, "digest")["digest"]
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn, digest
    conn.close()


def verify(capsys, db_path, *extra):
    return run(capsys, "--db", db_path, "verify-log", *extra)


def test_a_clean_log_verifies_against_its_record_and_its_digest(tampered, db_path, capsys):
    _conn, digest = tampered
    code, out, _ = verify(capsys, db_path, "--digest", digest)
    assert code == 0 and out.startswith("ok:") and "digest" in out


def test_an_edited_state_byte_is_found_at_its_position(tampered, db_path, capsys):
    conn, _ = tampered
    (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid=9").fetchone()
    conn.execute("UPDATE stored_events SET state=? WHERE rowid=9", (state[:-1] + bytes([state[-1] ^ 1]),))
    code, _, err = verify(capsys, db_path)
    assert code == BAD and "position 9" in err and "Traceback" not in err


def test_a_deleted_row_is_found_at_its_position(tampered, db_path, capsys):
    conn, _ = tampered
    conn.execute("DELETE FROM stored_events WHERE rowid=12")
    code, _, err = verify(capsys, db_path)
    assert code == BAD and "position 12" in err and "missing" in err


def test_an_inserted_row_is_found_at_its_position(tampered, db_path, capsys):
    conn, _ = tampered
    # Make room at 7 by moving every later row up one, then forge a row there.
    conn.execute("UPDATE stored_events SET rowid = rowid + 1000000 WHERE rowid >= 7")
    conn.execute("UPDATE stored_events SET rowid = rowid - 999999 WHERE rowid >= 1000000")
    _oid, ver, topic, state = conn.execute(
        "SELECT originator_id, originator_version, topic, state FROM stored_events WHERE rowid=8").fetchone()
    conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state)"
                 " VALUES (7, ?, ?, ?, ?)", ("ff" * 16, ver, topic, state))
    code, _, err = verify(capsys, db_path)
    assert code == BAD and "position 7" in err


def test_swapped_states_are_found_at_the_first_of_them(tampered, db_path, capsys):
    conn, _ = tampered
    a = conn.execute("SELECT state FROM stored_events WHERE rowid=10").fetchone()[0]
    b = conn.execute("SELECT state FROM stored_events WHERE rowid=14").fetchone()[0]
    conn.execute("UPDATE stored_events SET state=? WHERE rowid=10", (b,))
    conn.execute("UPDATE stored_events SET state=? WHERE rowid=14", (a,))
    code, _, err = verify(capsys, db_path)
    assert code == BAD and "position 10" in err


def test_without_the_index_the_kept_digest_still_catches_an_edit(tampered, db_path, capsys):
    conn, digest = tampered
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(index_path(db_path) + suffix):
            os.remove(index_path(db_path) + suffix)
    conn.execute("UPDATE stored_events SET topic='authledger:AppEnabled' WHERE topic='authledger:AppDisabled'")
    code, _, err = verify(capsys, db_path, "--digest", digest)
    assert code == BAD and "digest" in err


def test_a_truncated_log_is_refused_by_verify_and_by_queries(tampered, db_path, capsys):
    conn, digest = tampered
    last = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    conn.execute("DELETE FROM stored_events WHERE rowid=?", (last,))
    code, _, err = verify(capsys, db_path, "--digest", digest)
    assert code == BAD and f"position {last}" in err
    code, _, err = run(capsys, "--db", db_path, "replay", "--until", "2030-01-01T00:00:00Z")
    assert code == BAD and "verify-log" in err


def test_a_malformed_digest_is_invalid_input(tampered, db_path, capsys):
    code, _, err = verify(capsys, db_path, "--digest", "abc@1")
    assert code == 2 and "HEAD@POSITION" in err
