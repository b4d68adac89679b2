"""Exit codes: 2 invalid input, 3 not found, 4 not permitted, 5 conflict, 1 internal only.

Every failure prints one line on stderr, nothing on stdout, no traceback, and writes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import Run, make_api, make_app

MISSING = str(uuid.uuid4())


@pytest.fixture
def world(run: Run) -> dict[str, str]:
    """A provider's API, a consumer's app granted on it, and one added key pair."""
    api_id = make_api(run, "provider", "items")
    app = make_app(run, "consumer", "shop_app", "--app-key", "TAKENKEY01", "--app-code", "TAKENCODE0000001")
    run("grant", "--actor", "provider", "--app", app["app_id"], "--api", api_id, "--stage", "RELEASE")
    return {"api": api_id, "app": app["app_id"]}


FAILURES: list[tuple[int, str, Callable[[dict[str, str]], list[str]]]] = [
    # 2: invalid input, including click usage errors
    (2, "bad app name", lambda w: ["app", "create", "--owner", "c", "--name", "1bad"]),
    (2, "missing option", lambda w: ["app", "create", "--owner", "c"]),
    (2, "unknown option", lambda w: ["api", "list", "--colour", "red"]),
    (2, "unknown command", lambda w: ["apps", "list"]),
    (2, "bad choice", lambda w: ["grant", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "PROD"]),
    (2, "bad tag", lambda w: ["app", "create", "--owner", "c", "--name", "tagged", "--tag", "novalue"]),
    (2, "tag and clear-tags", lambda w: ["app", "modify", w["app"], "--actor", "consumer", "--tag", "a=1", "--clear-tags"]),
    (2, "bad duration", lambda w: ["grant", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "TEST", "--for", "3y"]),
    (2, "until and for", lambda w: ["grant", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "TEST", "--for", "1d", "--until", "2099-01-01T00:00:00Z"]),
    (2, "until in the past", lambda w: ["grant", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "TEST", "--until", "2001-01-01T00:00:00Z"]),
    (2, "until without timezone", lambda w: ["grant", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "TEST", "--until", "2099-01-01T00:00:00"]),
    (2, "malformed id", lambda w: ["app", "show", "not-a-uuid"]),
    # Issue 14.6: these were exit 1 (internal error) before.
    (2, "until past year 9999 in UTC", lambda w: ["grant", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "TEST", "--until", "9999-12-31T23:59:59-14:00"]),
    (2, "at before year 1 in UTC", lambda w: ["check", "--app-key", "TAKENKEY01", "--api", w["api"], "--stage", "TEST", "--at", "0001-01-01T00:00:00+14:00"]),
    (2, "at epoch not finite", lambda w: ["check", "--app-key", "TAKENKEY01", "--api", w["api"], "--stage", "TEST", "--at", "nan"]),
    (2, "who-could-call past year 9999", lambda w: ["who-could-call", "--api", w["api"], "--at", "9999-12-31T23:59:59-14:00"]),
    (2, "lone surrogate in description", lambda w: ["app", "modify", w["app"], "--actor", "consumer", "--description", "\udcff"]),
    (2, "lone surrogate in a tag", lambda w: ["app", "create", "--owner", "consumer", "--name", "tagged_app", "--tag", "team=\udcff"]),
    (2, "short custom secret", lambda w: ["key", "add", w["app"], "--actor", "consumer", "--app-secret", "short"]),
    (2, "bad signature method", lambda w: ["api", "register", "--owner", "p", "--name", "x", "--signature-methods", "MD5"]),
    # 3: not found
    (3, "unknown app", lambda w: ["app", "show", MISSING]),
    (3, "unknown api", lambda w: ["api", "show", MISSING]),
    (3, "grant to unknown app", lambda w: ["grant", "--actor", "provider", "--app", MISSING, "--api", w["api"], "--stage", "TEST"]),
    (3, "unknown AppKey", lambda w: ["key", "reset", "NOSUCHKEY1", "--actor", "consumer"]),
    (3, "unknown AppCode", lambda w: ["code", "reset", "NOSUCHCODE000001", "--actor", "consumer"]),
    (3, "no such grant", lambda w: ["revoke", "--actor", "provider", "--app", w["app"], "--api", w["api"], "--stage", "PRE"]),
    # 4: not permitted
    (4, "modify another's app", lambda w: ["app", "modify", w["app"], "--actor", "provider", "--name", "stolen"]),
    (4, "delete another's app", lambda w: ["app", "delete", w["app"], "--actor", "provider"]),
    (4, "list another's keys", lambda w: ["key", "list", w["app"], "--actor", "provider"]),
    (4, "add a key to another's app", lambda w: ["key", "add", w["app"], "--actor", "mallory"]),
    # A credential named by value: another's answers as an unknown one (issue 14.3), exit 3.
    (3, "reset another's key", lambda w: ["key", "reset", "TAKENKEY01", "--actor", "mallory"]),
    (3, "reset another's code", lambda w: ["code", "reset", "TAKENCODE0000001", "--actor", "mallory"]),
    (4, "grant another's API", lambda w: ["grant", "--actor", "consumer", "--app", w["app"], "--api", w["api"], "--stage", "TEST"]),
    (4, "revoke as a stranger", lambda w: ["revoke", "--actor", "mallory", "--app", w["app"], "--api", w["api"], "--stage", "RELEASE"]),
    # 5: conflict
    (5, "duplicate AppKey", lambda w: ["app", "create", "--owner", "other", "--name", "dupe_key", "--app-key", "TAKENKEY01"]),
    (5, "duplicate AppKey any case", lambda w: ["key", "add", w["app"], "--actor", "consumer", "--app-key", "takenkey01"]),
    (5, "duplicate AppCode", lambda w: ["code", "add", w["app"], "--actor", "consumer", "--code", "TAKENCODE0000001"]),
    (5, "default pair undeletable", lambda w: ["key", "delete", w["app"], "TAKENKEY01", "--actor", "consumer"]),
]


@pytest.mark.parametrize("code,what,argv", FAILURES, ids=[f"{c}-{w}" for c, w, _ in FAILURES])
def test_a_failed_command_exits_with_its_code_says_one_line_and_writes_nothing(
    run: Run, world: dict[str, str], position: Callable[[], int], code: int, what: str,
    argv: Callable[[dict[str, str]], list[str]],
) -> None:
    before = position()
    r = run(*argv(world))
    assert r.code == code, (what, r.err)
    assert r.out == ""
    # One error line (a literal secret on the command line adds its "warning:" line first).
    lines = [line for line in r.err.splitlines() if not line.startswith("authledger: warning: ")]
    assert len(lines) == 1 and lines[0].startswith("authledger: error: ") and r.err.endswith("\n")
    assert "Traceback" not in r.err
    assert position() == before


def test_errors_are_json_on_stderr_with_json(run: Run, world: dict[str, str]) -> None:
    r = run("--json", "app", "delete", world["app"], "--actor", "provider")
    assert r.code == 4 and r.out == ""
    assert json.loads(r.err) == {"error": "not_permitted", "field": "actor",
                                 "message": f"account provider does not own app {world['app']}"}


def test_nothing_is_written_when_a_deleted_app_is_changed(run: Run, world: dict[str, str],
                                                           position: Callable[[], int]) -> None:
    assert run("app", "delete", world["app"], "--actor", "consumer").code == 0
    before = position()
    for argv in (["app", "modify", world["app"], "--actor", "consumer", "--name", "revived"],
                 ["key", "add", world["app"], "--actor", "consumer"],
                 ["code", "add", world["app"], "--actor", "consumer"],
                 ["grant", "--actor", "provider", "--app", world["app"], "--api", world["api"], "--stage", "TEST"]):
        assert run(*argv).code == 5, argv
    assert position() == before


@pytest.mark.sqlite_only
def test_a_broken_database_is_an_internal_failure_without_traceback(run: Run, db_path: str) -> None:
    with open(db_path, "wb") as f:
        f.write(b"this is not a sqlite database, not at all" * 100)
    r = run("api", "list")
    assert r.code == 1 and r.out == "" and r.err.count("\n") == 1
    assert "internal error" in r.err and "Traceback" not in r.err


def _cli(db_path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db_path, *args],
                          capture_output=True, text=True, timeout=60, env=os.environ.copy())


def test_a_real_process_exits_with_each_code(run: Run, world: dict[str, str], db_path: str) -> None:
    cases = [
        (0, ["api", "show", world["api"]]),
        (2, ["app", "create", "--owner", "c"]),
        (3, ["app", "show", MISSING]),
        (4, ["app", "disable", world["app"], "--actor", "provider"]),
        (5, ["key", "delete", world["app"], "TAKENKEY01", "--actor", "consumer"]),
    ]
    for code, argv in cases:
        p = _cli(db_path, *argv)
        assert p.returncode == code, (argv, p.stderr)
        assert "Traceback" not in p.stderr
        if code:
            assert p.stdout == "" and p.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [
    ["api", "list"], ["app", "list"], ["app", "show", str(uuid.UUID(int=1))],
    ["key", "list", str(uuid.UUID(int=1)), "--actor", "alice"], ["token", "list", "--account", "alice"],
    ["check", "--app-key", "k", "--api", str(uuid.UUID(int=2)), "--stage", "RELEASE"],
    ["app", "disable", str(uuid.UUID(int=1)), "--actor", "alice"],
    ["who-could-call", "--api", str(uuid.UUID(int=2)), "--at", "2025-01-01T00:00:00Z"],
])
def test_a_command_on_a_missing_ledger_file_says_so_and_creates_nothing(
        run: Run, tmp_path: Any, args: list[str]) -> None:
    missing = tmp_path / "nowhere" / "ledger.db"
    missing.parent.mkdir()
    r = run("--db", str(missing), *args, db=False)
    assert r.code == 2, (r.code, r.err)
    assert r.err.strip() == f"authledger: error: no ledger database at {missing}"
    assert list(missing.parent.iterdir()) == []


def test_commands_that_start_a_ledger_create_the_file(run: Run, tmp_path: Any) -> None:
    fresh = tmp_path / "fresh.db"
    r = run("--db", str(fresh), "api", "register", "--owner", "bob", "--name", "Orders", db=False)
    assert r.code == 0, r.err
    assert fresh.exists()
