"""Wiring in one place: which store, which key, one Ledger."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable

from eventsourcing.persistence import OperationalError

from ledger.application import Ledger
from ledger.crypto import NoKeyBox, SecretBox, SecretKeyError, key_path, keypair_context, load_key
from ledger.errors import InvalidInput
from ledger.store import (
    StoreUnavailable,
    ensure_tables,
    is_url,
    parse_url,
    resolve,
)

MEMORY = ":memory:"


def resolve_db(db: str | None) -> str:
    """The store: the option, else $AUTHLEDGER_DATABASE_URL / $AUTHLEDGER_DB, else ./authledger.db."""
    return resolve(db)


def open_ledger(db: str | None = None, *, key: bytes | None = None, must_exist: bool = False,
                database_url: str | None = None, key_file: str | None = None, role: str = "cli",
                read_only: bool = False) -> Ledger:
    """Open (creating if needed) the ledger at ``db``; ``:memory:`` keeps it in memory.

    ``db`` may itself be a ``postgresql://`` URL (or pass ``database_url``): the library's
    PostgreSQL persistence, with the secret key from $AUTHLEDGER_SECRET_KEY or ``key_file``
    (there is no database file to keep a key file beside). ``role`` sizes the connection pool.

    ``read_only`` (read commands: app list, app show, api list, api show): nothing is
    created — no database, no table, no key file; without a key the ledger opens with a
    ``NoKeyBox`` (public views need none); a SQLite file this process cannot write (a
    read-only copy, ``ledger.store.can_write``) is opened through a read-only URI.
    """
    if read_only:
        return _open_for_reading(resolve(db, database_url), key, key_file, role)
    path = resolve(db, database_url)
    if path == MEMORY:
        if key is None:
            key = load_key(None) if os.environ.get("AUTHLEDGER_SECRET_KEY") else os.urandom(32)
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        return Ledger(env, box=SecretBox(key))
    if is_url(path):
        target = parse_url(path)
        if key is None:
            try:
                key = load_key(None, key_file=key_file, create=False)
            except SecretKeyError:
                if key_file:
                    raise
                raise SecretKeyError("no secret key for a PostgreSQL ledger: set AUTHLEDGER_SECRET_KEY "
                                     "(base64 of 32 random bytes) or pass --secret-key-file FILE") from None
        ledger = Ledger(target.env(role), box=SecretBox(key))
        try:
            ensure_tables(ledger.recorder, *_snapshot_recorders(ledger))
            check_key(ledger)
        except BaseException:
            ledger.close()
            raise
        return ledger
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidInput(f"database directory does not exist: {directory}", field="db")
    if must_exist and not os.path.exists(path):
        raise InvalidInput(f"no ledger database at {path}", field="db")
    if key is None:
        holds_events = _holds_events(path)
        if holds_events and not os.environ.get("AUTHLEDGER_SECRET_KEY"):
            wanted = key_path(path, key_file)
            if not os.path.exists(wanted):
                # A new key here would seal new secrets under it and leave every existing one
                # unreadable: every gateway would then answer "Invalid AppKey". Fail closed.
                raise SecretKeyError(
                    f"the ledger at {path} holds events but its secret key file {wanted} is missing: "
                    "restore the key (the file, AUTHLEDGER_SECRET_KEY or --secret-key-file); "
                    "a new key would not open the secrets already sealed")
        key = load_key(path, key_file=key_file, create=not holds_events)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "CREATE_TABLE": "y",
    }
    ledger = _with_lock_retry(lambda: Ledger(env, box=SecretBox(key)))
    try:
        check_key(ledger)
    except BaseException:
        ledger.close()
        raise
    return ledger


def _open_for_reading(path: str, key: bytes | None, key_file: str | None, role: str) -> Ledger:
    from ledger.store import can_write, sqlite_read_uri

    if path == MEMORY:
        return open_ledger(path, key=key)
    if key is None:
        try:
            key = load_key(None if is_url(path) else path, key_file=key_file, create=False)
        except SecretKeyError:
            if key_file or os.environ.get("AUTHLEDGER_SECRET_KEY"):
                raise  # a key was named and is wrong or missing: say so
    box = SecretBox(key) if key is not None else NoKeyBox()
    if is_url(path):
        ledger = Ledger(parse_url(path).env(role), box=box)
    else:
        if not os.path.exists(path):
            raise InvalidInput(f"no ledger database at {path}", field="db")
        writable = can_write(path)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path if writable else sqlite_read_uri(path),
            "CREATE_TABLE": "y" if writable and not _holds_events(path) else "n",
        }
        ledger = _with_lock_retry(lambda: Ledger(env, box=box))
    try:
        if is_url(path):
            ensure_tables(ledger.recorder, *_snapshot_recorders(ledger))
        if key is not None:
            check_key(ledger)
    except BaseException:
        ledger.close()
        raise
    return ledger


def _snapshot_recorders(ledger: Ledger) -> list[object]:
    return [] if ledger.snapshots is None else [ledger.snapshots.recorder]


def _holds_events(path: str) -> bool:
    """Does the SQLite file at ``path`` already hold stored events? (Read-only; no file, no
    table or not a database: False, and the open that follows reports its own error.)"""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=15)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("SELECT 1 FROM stored_events LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def check_key(ledger: Ledger) -> None:
    """Refuse a secret key that does not open the ledger's sealed secrets (the first sealed
    AppSecret is tried): the wrong key would otherwise seal new secrets under itself and make
    the existing ones fail on every gateway."""
    notes = ledger.recorder.select_notifications(1, 1, topics=["authledger:KeyPairAdded"])
    if not notes:
        return
    event = ledger.mapper.to_domain_event(notes[0])
    try:
        ledger.box.open(event.secret_sealed, keypair_context(str(event.originator_id)))
    except SecretKeyError:
        raise SecretKeyError(
            "this secret key does not open the secrets sealed in this ledger: it is not the key "
            "the ledger was written with; restore that key (AUTHLEDGER_SECRET_KEY, --secret-key-file "
            "or the key file beside the database)") from None


def _with_lock_retry(open_: Callable[[], Ledger], seconds: float = 15.0) -> Ledger:
    """Opening a SQLite file creates its table and switches it to WAL, which needs the write
    lock: under many concurrent CLI calls that can meet "database is locked". Retry, bounded."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return open_()
        except (sqlite3.OperationalError, OperationalError) as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() >= deadline:
                raise StoreUnavailable(f"event store unavailable: {e}; retry the command") from None
            time.sleep(random.uniform(0.02, 0.1))
