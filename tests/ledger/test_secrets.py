"""AppSecrets and AppCodes never reach the disk in plaintext; the key is handled with care."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from ledger import crypto
from ledger.bootstrap import open_ledger
from ledger.crypto import SecretBox, SecretKeyError
from tests.conftest import raw_store_bytes


def test_no_secret_or_appcode_is_found_in_the_raw_database_files(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if db_path.startswith("postgresql:"):  # no file to keep a key beside
        monkeypatch.setenv(crypto.KEY_ENV, base64.b64encode(bytes(32)).decode())
    else:
        monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    ledger = open_ledger(db_path)
    plaintexts: list[str] = []
    custom_secret, custom_code = "Custom!Secret#0123456789", "CustomCode0123456789"
    r = ledger.create_app("alice", "Vault", app_key="vaultkey1", app_secret=custom_secret, app_code=custom_code)
    app_id = r.ids["app_id"]
    plaintexts += [r.revealed["app_secret"], r.revealed["app_code"]]
    for _ in range(3):
        r = ledger.create_app("bob", "Other")
        plaintexts += [r.revealed["app_secret"], r.revealed["app_code"]]
    plaintexts.append(ledger.add_key_pair(app_id, "alice", app_key="vaultkey2").revealed["app_secret"])
    plaintexts.append(ledger.add_key_pair(app_id, "alice", app_secret="Another!Secret#987654").revealed["app_secret"])
    plaintexts.append(ledger.add_app_code(app_id, "alice").revealed["app_code"])
    plaintexts.append(ledger.reset_key_pair("vaultkey1", "alice").revealed["app_secret"])
    plaintexts.append(ledger.reset_key_pair("vaultkey2", "alice", new_app_key="vaultkey3", new_app_secret="Reset!Secret#0000000").revealed["app_secret"])
    plaintexts.append(ledger.reset_app_code(custom_code, "alice").revealed["app_code"])
    plaintexts.append(ledger.reset_app_code(plaintexts[-1], "alice", new_code="ResetCode0123456789").revealed["app_code"])
    # The values are really there, sealed, and they open with the key.
    assert ledger.open_secret(ledger.get_app(app_id), "vaultkey3") == "Reset!Secret#0000000"
    ledger.close()  # keep -wal around? read both before and after a checkpoint
    raw = raw_store_bytes(db_path)
    assert b"vaultkey1" in raw  # AppKeys are identifiers and stay readable: the scan works
    for text in set(plaintexts) | {custom_secret, custom_code}:
        assert text.encode() not in raw, "plaintext secret found in the database"
        assert base64.b64encode(text.encode()) not in raw


@pytest.mark.sqlite_only
def test_the_wal_file_holds_no_secret_while_the_ledger_is_open(db_path: str) -> None:
    ledger = open_ledger(db_path, key=bytes(32))
    r = ledger.create_app("alice", "Walled", app_secret="WalSecret!0123456789", app_code="WalCode0123456789x")
    raw = b"".join(p.read_bytes() for p in Path(db_path).parent.iterdir() if p.name.startswith("ledger.db"))
    for text in ("WalSecret!0123456789", "WalCode0123456789x", r.revealed["app_code"]):
        assert text.encode() not in raw
    ledger.close()


def test_a_sealed_value_does_not_open_with_another_apps_context_or_another_key() -> None:
    box, other = SecretBox(bytes(32)), SecretBox(bytes(range(32)))
    sealed = box.seal("TopSecretValue0123", crypto.keypair_context("app-1"))
    assert box.open(sealed, crypto.keypair_context("app-1")) == "TopSecretValue0123"
    for attempt in (
        lambda: box.open(sealed, crypto.keypair_context("app-2")),
        lambda: box.open(sealed, crypto.appcode_context("app-1")),
        lambda: other.open(sealed, crypto.keypair_context("app-1")),
        lambda: box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), crypto.keypair_context("app-1")),
        lambda: box.open(b"\x01short", crypto.keypair_context("app-1")),
    ):
        with pytest.raises(SecretKeyError):
            attempt()


def test_a_secret_copied_into_another_app_does_not_open_there(memory_ledger) -> None:  # type: ignore[no-untyped-def]
    a = memory_ledger.create_app("alice", "AppOne", app_key="appone-key")
    b = memory_ledger.create_app("alice", "AppTwo", app_key="apptwo-key")
    app_a = memory_ledger.get_app(a.ids["app_id"])
    app_b = memory_ledger.get_app(b.ids["app_id"])
    app_b.key_pairs["apptwo-key"].secret_sealed = app_a.key_pairs["appone-key"].secret_sealed
    with pytest.raises(SecretKeyError):
        memory_ledger.open_secret(app_b, "apptwo-key")


def test_sealing_the_same_secret_twice_gives_different_ciphertexts() -> None:
    box = SecretBox(bytes(32))
    assert box.seal("x" * 20, "c") != box.seal("x" * 20, "c")


@pytest.mark.sqlite_only
def test_the_key_file_is_created_beside_the_database_with_mode_0600_and_reused(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    key_file = Path(crypto.key_file_for(db_path))
    assert not key_file.exists()
    first = open_ledger(db_path)
    r = first.create_app("alice", "Keyed", app_key="keyedkey1")
    first.close()
    assert key_file.parent == Path(db_path).parent
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    again = open_ledger(db_path)
    # Reused: the same key opens what the first run sealed, and the file is unchanged.
    assert again.open_secret(again.get_app(r.ids["app_id"]), "keyedkey1") == r.revealed["app_secret"]
    again.close()
    assert key_file.read_bytes() == content
    assert crypto.load_key(db_path) == base64.b64decode(content)


@pytest.mark.sqlite_only
def test_the_environment_key_wins_over_the_key_file(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    Path(crypto.key_file_for(db_path)).write_bytes(base64.b64encode(bytes(32)))
    monkeypatch.setenv(crypto.KEY_ENV, base64.b64encode(bytes(range(32))).decode())
    assert crypto.load_key(db_path) == bytes(range(32))


def test_the_environment_key_means_no_key_file_is_created(db_path: str, secret_key_env: bytes) -> None:
    ledger = open_ledger(db_path)
    ledger.create_app("alice", "EnvKeyed")
    ledger.close()
    assert not os.path.exists(crypto.key_file_for(db_path))


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(bytes(31)).decode(), base64.b64encode(bytes(33)).decode(), "    "])
def test_a_malformed_environment_key_is_a_clear_error(db_path: str, monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(crypto.KEY_ENV, bad)
    with pytest.raises(SecretKeyError) as info:
        open_ledger(db_path)
    assert crypto.KEY_ENV in str(info.value) and info.value.exit_code == 2
    assert bad not in str(info.value)


@pytest.mark.sqlite_only
def test_a_malformed_key_file_is_a_clear_error(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    Path(crypto.key_file_for(db_path)).write_text("garbage")
    with pytest.raises(SecretKeyError) as info:
        open_ledger(db_path)
    # The message names the file that is wrong, not the (unset) environment variable.
    assert crypto.key_file_for(db_path) in str(info.value) and crypto.KEY_ENV not in str(info.value)


def test_a_box_refuses_a_key_that_is_not_32_bytes_and_never_shows_it() -> None:
    with pytest.raises(SecretKeyError):
        SecretBox(bytes(16))
    assert "SecretBox(<key hidden>)" == repr(SecretBox(bytes(range(32))))
