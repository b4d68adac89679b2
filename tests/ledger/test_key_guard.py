"""The secret key is checked when a ledger opens (issue 13, point 5).

Attack / fault: the key file is lost (or a deploy points at the wrong one). Before, the next
command made a new key without a word, sealed new secrets under it, and every gateway then
answered "Invalid AppKey" for the apps that existed. Now a ledger that holds events never gets
a new key, and a key that does not open its sealed secrets is refused, before anything is written.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.bootstrap import open_ledger
from ledger.crypto import SecretKeyError, key_file_for

OTHER_KEY = bytes(range(100, 132))  # not the suite's TEST_KEY


def _count(db_path: str, key: bytes) -> int:
    ledger = open_ledger(db_path, key=key)
    try:
        return len(ledger.recorder.select_notifications(1, 10_000))
    finally:
        ledger.close()


def test_a_key_that_does_not_open_the_sealed_secrets_is_refused_and_writes_nothing(
    db_path: str, secret_key_env: bytes
) -> None:
    ledger = open_ledger(db_path, key=secret_key_env)
    ledger.create_app("consumer", "guarded_app")
    ledger.close()
    before = _count(db_path, secret_key_env)

    with pytest.raises(SecretKeyError, match="does not open the secrets sealed in this ledger"):
        open_ledger(db_path, key=OTHER_KEY)
    assert _count(db_path, secret_key_env) == before


def test_an_empty_ledger_opens_with_any_key(db_path: str, secret_key_env: bytes) -> None:
    # Nothing sealed yet, nothing to check against: a new ledger must still start.
    open_ledger(db_path, key=OTHER_KEY).close()


@pytest.mark.sqlite_only
def test_a_missing_key_file_beside_a_ledger_with_events_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHLEDGER_")}
    cli = [sys.executable, "-m", "authledger.cli.main", "--db", db]
    created = subprocess.run([*cli, "app", "create", "--owner", "consumer", "--name", "first_app"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    key_file = key_file_for(db)
    key = base64.b64decode(Path(key_file).read_text())
    os.rename(key_file, str(tmp_path / "elsewhere.key"))

    r = subprocess.run([*cli, "app", "create", "--owner", "consumer", "--name", "second_app"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"authledger: error: the ledger at {db} holds events but its secret key file {key_file} is missing: "
        "restore the key (the file, AUTHLEDGER_SECRET_KEY or --secret-key-file); "
        "a new key would not open the secrets already sealed"]
    assert not os.path.exists(key_file)  # no new key was made
    assert _count(db, key) == 5  # the first app's events only (index, app, key pair, code, claim)


@pytest.mark.sqlite_only
def test_a_wrong_key_file_is_refused_by_the_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHLEDGER_")}
    cli = [sys.executable, "-m", "authledger.cli.main", "--db", db]
    assert subprocess.run([*cli, "app", "create", "--owner", "c", "--name", "first_app"], env=env,
                          capture_output=True, timeout=120).returncode == 0
    Path(key_file_for(db)).write_text(base64.b64encode(OTHER_KEY).decode() + "\n")
    r = subprocess.run([*cli, "app", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "does not open the secrets sealed" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.sqlite_only
@pytest.mark.parametrize("mode,warned", [(0o644, True), (0o640, True), (0o600, False), (0o400, False)])
def test_a_key_file_others_can_read_gets_a_warning(tmp_path: Path, mode: int, warned: bool) -> None:
    """Attack: another local user reads a world-readable key file and opens every secret."""
    db = str(tmp_path / "ledger.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHLEDGER_")}
    cli = [sys.executable, "-m", "authledger.cli.main", "--db", db]
    assert subprocess.run([*cli, "app", "create", "--owner", "c", "--name", "first_app"], env=env,
                          capture_output=True, timeout=120).returncode == 0
    os.chmod(key_file_for(db), mode)
    r = subprocess.run([*cli, "app", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    assert ("authledger: warning: secret key file" in r.stderr) is warned
    assert ("chmod 600" in r.stderr) is warned
