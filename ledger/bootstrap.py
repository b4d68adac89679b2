"""Wiring in one place: which store, which key, one Ledger."""

from __future__ import annotations

import os

from ledger.crypto import SecretBox, load_key
from ledger.application import Ledger
from ledger.errors import InvalidInput

DB_ENV = "AUTHLEDGER_DB"
DEFAULT_DB = "authledger.db"
MEMORY = ":memory:"


def resolve_db(db: str | None) -> str:
    """The database path: the option, else $AUTHLEDGER_DB, else ./authledger.db."""
    return db or os.environ.get(DB_ENV) or DEFAULT_DB


def open_ledger(db: str | None = None, *, key: bytes | None = None, must_exist: bool = False) -> Ledger:
    """Open (creating if needed) the ledger at ``db``; ``:memory:`` keeps it in memory."""
    path = resolve_db(db)
    if path == MEMORY:
        if key is None:
            key = load_key(None) if os.environ.get("AUTHLEDGER_SECRET_KEY") else os.urandom(32)
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        return Ledger(env, box=SecretBox(key))
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidInput(f"database directory does not exist: {directory}", field="db")
    if must_exist and not os.path.exists(path):
        raise InvalidInput(f"no ledger database at {path}", field="db")
    if key is None:
        key = load_key(path)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "CREATE_TABLE": "y",
    }
    return Ledger(env, box=SecretBox(key))
