"""A command that starts a ledger says where; a failed one leaves nothing behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from authledger.cli.main import main


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHLEDGER_SECRET_KEY", raising=False)
    monkeypatch.delenv("AUTHLEDGER_DB", raising=False)
    monkeypatch.delenv("AUTHLEDGER_DATABASE_URL", raising=False)


def test_a_token_created_in_another_folder_says_which_new_ledger_it_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_key_env: None) -> None:
    # Check the newcomer's trap: `token create` in the wrong folder makes a ledger of its own.
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "--json", "token", "create", "--account", "provider")
    assert code == 0 and "token" in json.loads(out)  # stdout stays one JSON object
    db = tmp_path / "authledger.db"
    assert err.strip() == (f"authledger: created a new ledger at {db} "
                           f"(secret key in {db}.key: back it up)")
    # Check the second command on that ledger says nothing more.
    code, _out, err = _cli(capsys, "token", "create", "--account", "provider")
    assert code == 0 and err == ""


def test_a_first_command_that_fails_leaves_no_ledger_or_key_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key_env: None) -> None:
    db = tmp_path / "new.db"
    code, _out, err = _cli(capsys, "--db", str(db), "app", "create", "--owner", "alice", "--name", "x")
    assert code == 2 and "name must be" in err and "created a new ledger" not in err
    assert sorted(os.listdir(tmp_path)) == []


def test_a_failed_command_on_an_existing_ledger_removes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key_env: None) -> None:
    db = tmp_path / "l.db"
    assert _cli(capsys, "--db", str(db), "token", "create", "--account", "alice")[0] == 0
    code, _out, _err = _cli(capsys, "--db", str(db), "app", "create", "--owner", "alice", "--name", "x")
    assert code == 2 and {"l.db", "l.db.key"} <= set(os.listdir(tmp_path))
