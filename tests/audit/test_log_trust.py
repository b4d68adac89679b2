"""Trusting the log (issue 17.4, 14.4), on both stores, with rows edited in the real database:

- verify-log with nothing to compare the log against says "not verified" (exit 3), not "ok";
- once a chain check (verify-log, digest) has found the log tampered with, every audit
  query refuses it (exit 6, HTTP 409) until the log is restored or the change accepted;
- rebuild-index refuses to re-baseline such a log unless told --accept-current-log --actor;
- digest recomputes the head from the log rather than printing the recorded one.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import timedelta
from typing import Any

import pytest

from ledger.tokens import issue_token
from projections.temporal_store import existing_index, index_path
from authledger.service.app import create_app
from tests.audit.histories import CONSUMER, PROVIDER, Driver
from tests.cli_runner import store_option

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BAD = 6  # LogMismatch
EDITED = 9  # a row in the middle: the index's anchor (its last row) does not see it


def cli(capsys: Any, db_path: str, *args: str) -> tuple[int, str, str]:
    from authledger.cli.main import main

    capsys.readouterr()
    try:
        code = main([*store_option(db_path), *args])
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: Any, db_path: str, *args: str) -> Any:
    code, out, err = cli(capsys, db_path, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def flip(db_path: str, position: int) -> None:
    """Flip one bit of the stored state of the row at ``position``, straight in the database
    (flipping it again restores the row)."""
    if db_path.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db_path, autocommit=True) as conn:
            (state,) = conn.execute("SELECT state FROM ledger_events WHERE notification_id = %s",
                                    (position,)).fetchone()
            state = bytes(state)
            conn.execute("UPDATE ledger_events SET state = %s WHERE notification_id = %s",
                         (state[:-1] + bytes([state[-1] ^ 1]), position))
        return
    import sqlite3

    conn = sqlite3.connect(db_path, isolation_level=None)
    (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid = ?", (position,)).fetchone()
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state[:-1] + bytes([state[-1] ^ 1]), position))
    conn.close()


def drop_index(db_path: str) -> None:
    """What someone who can write the database can also do: remove the index (its record)."""
    if db_path.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db_path, autocommit=True) as conn:
            conn.execute("DROP TABLE audit_meta, audit_apis, audit_apps, audit_app_names, audit_enabled_periods,"
                         " audit_cred_periods, audit_grant_periods, audit_chain")
        return
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(index_path(db_path) + suffix):
            os.remove(index_path(db_path) + suffix)


@pytest.fixture
def recorded(ledger: Any, db_path: str, capsys: Any) -> tuple[Driver, str]:
    """Some history, its chain recorded by `digest` (the digest an auditor keeps)."""
    d = Driver(ledger)
    d.setup()
    for i in range(3):
        d.do(("grant", i, 0, "RELEASE", None))
        d.do(("disable", i))
    assert d.ledger.recorder.max_notification_id() > EDITED + 2
    return d, cli_json(capsys, db_path, "digest")["digest"]


def queries(d: Driver) -> list[tuple[str, ...]]:
    return [("who-could-call", "--api", d.apis[0]), ("access", "--app", d.apps[0]), ("history", "--app", d.apps[0]),
            ("replay", "--until", "2030-01-01T00:00:00Z"), ("report", "access-review"), ("export",), ("digest",)]


def test_verify_log_with_nothing_to_compare_says_not_verified(ledger: Any, db_path: str, capsys: Any) -> None:
    Driver(ledger).setup()  # events, but no index has recorded their chain yet
    code, _, err = cli(capsys, db_path, "verify-log")
    assert code == 3 and "not verified" in err and "no recorded chain" in err and "ok:" not in err
    code, _, err = cli(capsys, db_path, "verify-log", "--json")
    found = json.loads(err)
    assert code == 3 and found["status"] == "not_verified" and found["error"] == "no_recorded_chain"
    assert existing_index(db_path) is None  # verify-log created nothing
    # The digest it recomputed, kept outside and given back, is something to compare with.
    v = cli_json(capsys, db_path, "verify-log", "--digest", found["digest"])
    assert v["status"] == "verified" and v["digest_checked"] and v["unchecked_events"] == 0


def test_verify_log_says_which_rows_it_could_not_check(recorded: tuple[Driver, str], db_path: str,
                                                       capsys: Any) -> None:
    d, _digest = recorded
    v = cli_json(capsys, db_path, "verify-log")
    assert v["status"] == "verified" and v["recorded_entries_checked"] == v["events"]
    before = v["events"]
    d.do(("grant", 0, 1, "RELEASE", None))  # appended after the last recording
    v = cli_json(capsys, db_path, "verify-log")
    assert v["ok"] and v["status"] == "partly_verified" and v["unchecked_events"] == v["events"] - before > 0
    code, out, _ = cli(capsys, db_path, "verify-log")
    assert code == 0 and "not checked" in out


def test_queries_refuse_a_log_that_verify_log_found_broken(recorded: tuple[Driver, str], ledger: Any,
                                                           db_path: str, capsys: Any) -> None:
    d, _digest = recorded
    flip(db_path, EDITED)
    # Before any chain check, a query does not see an edit in the middle of the log (only
    # the row at the index's position is checked on the way): verify-log is what finds it.
    assert cli(capsys, db_path, "who-could-call", "--api", d.apis[0])[0] == 0
    code, _, err = cli(capsys, db_path, "verify-log")
    assert code == BAD and f"position {EDITED}" in err
    for q in queries(d):
        code, out, err = cli(capsys, db_path, *q)
        assert code == BAD and out == "", q
        assert f"position {EDITED}" in err and "--accept-current-log" in err and "Traceback" not in err, q
    # ... and over HTTP: 409 log_mismatch.
    app = create_app(ledger)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        provider = {"Authorization": "Bearer " + issue_token(ledger, PROVIDER, "tests").revealed["token"]}
        consumer = {"Authorization": "Bearer " + issue_token(ledger, CONSUMER, "tests").revealed["token"]}
        for path, params, who in [("/v1/audit/who-could-call", {"api_id": d.apis[0]}, provider),
                                  ("/v1/audit/history", {"app_id": d.apps[0]}, consumer),
                                  ("/v1/audit/digest", {}, provider)]:
            r = client.get(path, params=params, headers=who)
            assert r.status_code == 409 and r.json()["error"] == "log_mismatch", (path, r.text)
    finally:
        app.state.service.close()
    # The row restored (from a good copy): verify-log passes again, and queries answer.
    flip(db_path, EDITED)
    v = cli_json(capsys, db_path, "verify-log")  # (the tokens' events since are not recorded yet)
    assert v["ok"] and v["recorded_entries_checked"] > EDITED
    for q in queries(d):
        assert cli(capsys, db_path, *q)[0] == 0, q


def test_digest_recomputes_the_head_and_says_it_differs(recorded: tuple[Driver, str], db_path: str,
                                                        capsys: Any) -> None:
    d, digest = recorded
    again = cli_json(capsys, db_path, "digest")
    assert again["digest"] == again["recorded_digest"] == digest and again["events"] > EDITED
    flip(db_path, EDITED)
    code, out, err = cli(capsys, db_path, "digest")
    assert code == BAD and out == "" and "recomputed" in err and digest in err and f"position {EDITED}" in err
    assert cli(capsys, db_path, "access", "--app", d.apps[0])[0] == BAD  # digest's finding is kept


def test_rebuild_index_refuses_a_tampered_log_unless_accepted(recorded: tuple[Driver, str], db_path: str,
                                                              capsys: Any) -> None:
    d, digest = recorded
    flip(db_path, EDITED)
    code, _, err = cli(capsys, db_path, "rebuild-index")
    assert code == BAD and f"position {EDITED}" in err and "--accept-current-log" in err
    # Refused means nothing changed: the record still exposes the edit.
    assert cli(capsys, db_path, "verify-log")[0] == BAD
    code, _, err = cli(capsys, db_path, "rebuild-index", "--accept-current-log")
    assert code == 2 and "--actor" in err
    code, out, err = cli(capsys, db_path, "rebuild-index", "--accept-current-log", "--actor", "auditor-bo", "--json")
    assert code == 0, err
    accepted = json.loads(out)["accepted"]
    assert accepted["accepted_by"] == "auditor-bo" and accepted["mismatch"]["position"] == EDITED
    assert accepted["previous_digest"] == digest and accepted["new_digest"] != digest
    assert "auditor-bo (os user" in err and f"previous digest {digest}" in err
    assert cli_json(capsys, db_path, "verify-log")["status"] == "verified"  # the new baseline
    assert cli(capsys, db_path, "verify-log", "--digest", digest)[0] == BAD  # the kept digest still tells
    store = existing_index(db_path)
    assert store is not None and [a["accepted_by"] for a in store.acceptances()] == ["auditor-bo"]
    store.close()


def test_a_log_rewritten_with_its_index_is_caught_by_a_kept_digest_and_stays_refused(
        recorded: tuple[Driver, str], db_path: str, capsys: Any) -> None:
    """Whoever can edit the database can also drop the index: a fresh index then records
    the edited log, and only the digest kept outside tells. Once it has, queries refuse and
    a plain rebuild (which finds the log matching the new record) refuses too."""
    d, digest = recorded
    flip(db_path, EDITED)
    drop_index(db_path)
    assert cli(capsys, db_path, "who-could-call", "--api", d.apis[0])[0] == 0  # a new record, of the edited log
    assert cli_json(capsys, db_path, "verify-log")["status"] == "verified"  # against that record: it matches
    code, _, err = cli(capsys, db_path, "verify-log", "--digest", digest)
    assert code == BAD and "digest" in err
    assert cli(capsys, db_path, "who-could-call", "--api", d.apis[0])[0] == BAD
    assert cli(capsys, db_path, "verify-log")[0] == 0  # passes against the record, and does not clear ...
    assert cli(capsys, db_path, "who-could-call", "--api", d.apis[0])[0] == BAD  # ... what the digest found
    assert cli(capsys, db_path, "rebuild-index")[0] == BAD
    assert cli(capsys, db_path, "rebuild-index", "--accept-current-log", "--actor", "auditor-cy")[0] == 0
    assert cli(capsys, db_path, "who-could-call", "--api", d.apis[0])[0] == 0


def test_http_digest_is_recomputed(recorded: tuple[Driver, str], ledger: Any, db_path: str) -> None:
    d, digest = recorded
    d.play([(timedelta(0), ("grant", 1, 1, "RELEASE", None))])
    app = create_app(ledger)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        provider = {"Authorization": "Bearer " + issue_token(ledger, PROVIDER, "tests").revealed["token"]}
        r = client.get("/v1/audit/digest", headers=provider)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["digest"] == body["recorded_digest"] != digest
        assert body["position"] == ledger.recorder.max_notification_id() and body["events"] == body["position"]
    finally:
        app.state.service.close()


def test_index_option_keeps_the_index_in_the_file_named(recorded: tuple[Driver, str], db_path: str,
                                                         tmp_path: Any, capsys: Any) -> None:
    """``--index FILE`` on either store: the index lives there (a PostgreSQL role that may only
    read, a read-only copy), answers as the ledger's own, and what a check finds is kept there."""
    d, digest = recorded
    idx = str(tmp_path / "elsewhere" / "audit.sqlite")
    code, _, err = cli(capsys, db_path, "who-could-call", "--api", d.apis[0], "--index", idx)
    assert code == 2 and "folder does not exist" in err
    os.mkdir(tmp_path / "elsewhere")
    want = cli_json(capsys, db_path, "who-could-call", "--api", d.apis[0], "--at", "2030-01-01T00:00:00Z")
    got = cli_json(capsys, db_path, "who-could-call", "--api", d.apis[0], "--at", "2030-01-01T00:00:00Z",
                   "--index", idx)
    assert got == want and os.path.getsize(idx) > 0
    assert cli_json(capsys, db_path, "digest", "--index", idx)["digest"] == digest
    assert cli_json(capsys, db_path, "rebuild-index", "--index", idx)["digest"] == digest
    assert cli_json(capsys, db_path, "verify-log", "--index", idx)["status"] == "verified"
    flip(db_path, EDITED)
    assert cli(capsys, db_path, "verify-log", "--index", idx)[0] == BAD
    assert cli(capsys, db_path, "history", "--app", d.apps[0], "--index", idx)[0] == BAD
