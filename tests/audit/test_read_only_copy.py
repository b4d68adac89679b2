"""Auditors on a read-only copy (issue 14.4): every read command answers on a ledger file
this process cannot write, as it answers on the original, and creates nothing.

The tests run as root, and permission bits do not stop root: ``chmod a-w`` would prove
nothing. The copy is made read-only for real: the CLI runs in a mount namespace of its own
(``unshare -m``) in which the copy's folder is bind-mounted read-only, so every write
there — SQLite's ``-shm``/``-wal``, the audit index beside it, a key file — fails with
EROFS, for root too. The driver checks that it cannot write there before running anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.audit.cli_helpers import run, run_json
from tests.audit.histories import Driver

pytestmark = pytest.mark.sqlite_only  # about a SQLite file and its folder

AT = "2030-01-01T00:00:00Z"

# Runs inside the namespace: proves the folder is read-only, then runs each command in-process.
_DRIVER = r"""
import contextlib, io, json, os, sys
folder, commands = sys.argv[1], json.loads(sys.argv[2])
try:
    open(os.path.join(folder, "probe"), "w").close()
    sys.exit("the folder is writable: the test would prove nothing")
except OSError:
    pass
from authledger.cli.main import main
out = []
for argv in commands:
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            code = main(argv)
        except SystemExit as x:
            code = x.code if isinstance(x.code, int) else 1
    out.append({"code": code, "out": o.getvalue(), "err": e.getvalue()})
print(json.dumps(out))
"""


def read_only(folder: Path, commands: list[list[str]]) -> list[dict[str, Any]]:
    """Run CLI commands with ``folder`` mounted read-only, without any secret key."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTHLEDGER_SECRET_KEY", "AUTHLEDGER_DB")}
    mount = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    p = subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", str(folder), sys.executable, "-c", _DRIVER,
                        str(folder), json.dumps(commands)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1])


def snapshot(src: str, dst: Path) -> None:
    """A consistent copy of a SQLite file in one file (no -wal), as a backup tool makes it."""
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    s.backup(d)
    d.close()
    s.close()


@pytest.fixture
def history(ledger: Any, db_path: str, capsys: Any) -> tuple[Driver, str]:
    d = Driver(ledger)
    d.setup()
    for i in range(3):
        d.do(("grant", i, 0, "RELEASE", None))
    d.do(("disable", 1))
    d.do(("add_key", 2))
    return d, run_json(capsys, "--db", db_path, "digest")["digest"]  # the chain recorded beside


def reads(d: Driver, db: str) -> list[list[str]]:
    """Every read command, with fixed instants so that the copy and the original agree."""
    base = ["--db", db, "--json"]
    return [base + c for c in (
        ["who-could-call", "--api", d.apis[0], "--at", AT],
        ["access", "--app", d.apps[0], "--at", AT],
        ["history", "--app", d.apps[2]],
        ["replay", "--until", AT],
        ["report", "access-review", "--at", AT],
        ["export"],
        ["digest"],
        ["app", "list"],
        ["app", "show", d.apps[0]],
        ["api", "list"],
    )] + [["--db", db, "verify-log", "--json"]]


def test_every_read_command_answers_on_a_read_only_copy_as_on_the_original(
        history: tuple[Driver, str], db_path: str, tmp_path: Path, capsys: Any) -> None:
    d, digest = history
    copy = tmp_path / "copy"
    copy.mkdir()
    snapshot(db_path, copy / "ledger.db")
    snapshot(db_path + ".audit.sqlite", copy / "ledger.db.audit.sqlite")  # the recorded chain comes along
    commands = reads(d, str(copy / "ledger.db"))
    got = read_only(copy, commands)
    for argv, r in zip(commands, got):
        assert r["code"] == 0, (argv, r["err"])
        assert "Traceback" not in r["err"] and "OperationalError" not in r["err"]
        want = run(capsys, *(["--db", db_path] + argv[2:]))  # the same command on the original
        assert want[0] == 0, want[2]
        if "export" in argv:
            assert r["out"] == want[1]
        else:
            assert json.loads(r["out"]) == json.loads(want[1]), argv
    assert json.loads(got[6]["out"])["digest"] == digest
    verdict = json.loads(got[-1]["out"])
    assert verdict["status"] == "verified" and verdict["recorded_entries_checked"] == verdict["events"]
    assert "read-only here" in got[0]["err"] and "in memory" in got[0]["err"]
    assert sorted(os.listdir(copy)) == ["ledger.db", "ledger.db.audit.sqlite"]  # nothing made: no key file


def test_a_copy_without_its_index_answers_and_verify_log_says_not_verified(
        history: tuple[Driver, str], db_path: str, tmp_path: Path) -> None:
    d, digest = history
    copy = tmp_path / "copy"
    copy.mkdir()
    snapshot(db_path, copy / "ledger.db")
    db = str(copy / "ledger.db")
    wcc, verify, kept, rebuild = read_only(copy, [
        ["--db", db, "who-could-call", "--api", d.apis[0], "--at", AT, "--json"],
        ["--db", db, "verify-log"],
        ["--db", db, "verify-log", "--digest", digest, "--json"],
        ["--db", db, "rebuild-index"]])
    assert wcc["code"] == 0 and json.loads(wcc["out"])["could_call"]
    assert verify["code"] == 3 and "not verified" in verify["err"]
    assert kept["code"] == 0 and json.loads(kept["out"])["status"] == "verified"
    assert rebuild["code"] == 2 and "--index" in rebuild["err"]
    assert os.listdir(copy) == ["ledger.db"]


def test_index_option_keeps_the_index_and_what_verify_log_found_in_a_writable_place(
        history: tuple[Driver, str], db_path: str, tmp_path: Path) -> None:
    d, _digest = history
    copy, work = tmp_path / "copy", tmp_path / "work"
    copy.mkdir()
    work.mkdir()
    snapshot(db_path, copy / "ledger.db")
    snapshot(db_path + ".audit.sqlite", copy / "ledger.db.audit.sqlite")
    conn = sqlite3.connect(copy / "ledger.db")  # the copy edited before it was mounted read-only
    (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid = 9").fetchone()
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 9", (state[:-1] + bytes([state[-1] ^ 1]),))
    conn.commit()
    conn.close()
    db, idx = str(copy / "ledger.db"), str(work / "audit.sqlite")
    plain, verify, after, digest = read_only(copy, [
        ["--db", db, "who-could-call", "--api", d.apis[0]],  # in memory: checks the copied record itself
        ["--db", db, "verify-log", "--index", idx],
        ["--db", db, "who-could-call", "--api", d.apis[0], "--index", idx],
        ["--db", db, "digest", "--index", idx]])
    assert plain["code"] == 6 and "position 9" in plain["err"]
    assert verify["code"] == 6 and "position 9" in verify["err"]
    assert after["code"] == 6 and "found by verify-log" in after["err"]
    assert digest["code"] == 6
    assert os.path.exists(idx) and sorted(os.listdir(copy)) == ["ledger.db", "ledger.db.audit.sqlite"]


def test_a_good_copy_with_index_option_catches_up_there(history: tuple[Driver, str], db_path: str,
                                                         tmp_path: Path) -> None:
    d, digest = history
    copy, work = tmp_path / "copy", tmp_path / "work"
    copy.mkdir()
    work.mkdir()
    snapshot(db_path, copy / "ledger.db")
    db, idx = str(copy / "ledger.db"), str(work / "audit.sqlite")
    first, again, rebuilt, verify = read_only(copy, [
        ["--db", db, "replay", "--until", AT, "--index", idx, "--json"],
        ["--db", db, "digest", "--index", idx, "--json"],
        ["--db", db, "rebuild-index", "--index", idx, "--json"],
        ["--db", db, "verify-log", "--index", idx, "--json"]])
    assert first["code"] == 0 and "in memory" not in first["err"]
    assert json.loads(again["out"])["digest"] == digest == json.loads(rebuilt["out"])["digest"]
    assert json.loads(verify["out"])["status"] == "verified"


def test_a_live_copy_with_its_wal_reads_with_the_shm_and_is_refused_clearly_without(
        history: tuple[Driver, str], db_path: str, tmp_path: Path) -> None:
    """Files copied while the ledger is open: the last transactions are in ``-wal``. With the
    ``-shm`` beside it the copy reads in full; without it SQLite cannot read the WAL on a
    read-only folder, and the copy is refused with what to do (not read without the WAL)."""
    d, _ = history
    assert os.path.getsize(db_path + "-wal") > 0  # the fixture's ledger is open
    full, bare = tmp_path / "full", tmp_path / "bare"
    for folder, suffixes in ((full, ("", "-wal", "-shm")), (bare, ("", "-wal"))):
        folder.mkdir()
        for s in suffixes:
            shutil.copyfile(db_path + s, folder / f"ledger.db{s}")
    (ok,) = read_only(full, [["--db", str(full / "ledger.db"), "history", "--app", d.apps[2], "--json"]])
    assert ok["code"] == 0 and len(json.loads(ok["out"])["events"]) > 3, ok["err"]
    (refused,) = read_only(bare, [["--db", str(bare / "ledger.db"), "history", "--app", d.apps[2]]])
    assert refused["code"] == 2 and "-shm" in refused["err"] and "checkpoint" in refused["err"]
    assert len(refused["err"].strip().splitlines()) == 1


def test_what_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "notes.db").write_text("not a database\n" * 100)
    missing, garbage, garbage_list = read_only(folder, [
        ["--db", str(folder / "none.db"), "digest"],
        ["--db", str(folder / "notes.db"), "verify-log"],
        ["--db", str(folder / "notes.db"), "app", "list"]])
    assert missing["code"] == 2 and "no ledger database" in missing["err"]
    for r in (garbage, garbage_list):
        assert r["code"] == 2 and "notes.db" in r["err"] and "Traceback" not in r["err"], r
        assert len(r["err"].strip().splitlines()) == 1
