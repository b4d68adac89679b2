"""One ``authledger serve`` per SQLite ledger unless they share nonces through Redis.

A serve without ``--redis`` remembers nonces in its own memory: a second serve on the
same SQLite file would accept a request the first one already accepted (a replay across
processes). So serve holds a lock on ``<db>.serve.lock`` beside the ledger for its whole
life (``flock``; the kernel drops it when the process dies, even by SIGKILL):

- without ``--redis``: an **exclusive** lock, and its holder's pid, address and start
  time written into the file — any other serve on the file is refused;
- with ``--redis``: a **shared** lock — any number of such serves (they share nonces),
  but none beside a serve that keeps its nonces to itself, and that one not beside them.

The refused serve exits 7 with a message naming the other process and suggesting
``--redis``. PostgreSQL ledgers are served by several processes by design (docs/gateway.md:
run them with ``--redis``); the lock is for the SQLite file, which lives on one host.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from typing import Any

from ledger.errors import Busy


class LedgerInUse(Busy):
    """Another serve holds the ledger in a way that would let replays through."""

    code = "ledger_in_use"


RECORD = 1024  # bytes of the holder record


def lock_path(db: str) -> str:
    return db + ".serve.lock"


class ServeLock:
    """Held for the life of the process (``acquire``); released by ``release`` or its death."""

    def __init__(self, db: str, *, shared: bool) -> None:
        self.db = db
        self.path = lock_path(db)
        self.shared = shared
        self.fd: int | None = None

    def acquire(self, **about: Any) -> ServeLock:
        """Take the lock or raise LedgerInUse naming the holder; ``about`` is written for others."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise LedgerInUse(self._refusal(holder), field="db") from None
        # Who holds it, for the message of a refused one: one fixed-size write at offset 0
        # (shared holders may write at once; the last whole record wins).
        record = json.dumps({"pid": os.getpid(), "started": round(time.time(), 3), "redis": self.shared,
                             **about}).encode()[:RECORD - 1]
        os.pwrite(fd, record.ljust(RECORD - 1) + b"\n", 0)
        self.fd = fd
        return self

    def _refusal(self, holder: dict[str, Any] | None) -> str:
        where = os.path.abspath(self.db)
        if self.shared:  # we have --redis; the holder keeps its nonces in memory
            who = _describe(holder if holder is not None and holder.get("redis") is False else None)
            return (f"{where} is served by {who} without --redis (its nonces are its own, so a request "
                    f"used here could be replayed there): stop it, or restart it with --redis too")
        if holder is not None and holder.get("redis") is False:
            return (f"{where} is already served by {_describe(holder)}; a second serve without a shared "
                    f"nonce store would accept replays: stop it, or run every serve with --redis URL")
        return (f"{where} is served by other authledger serve processes with --redis; "
                f"run this one with the same --redis URL")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def _read(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, RECORD, 0) or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None or not isinstance(holder.get("pid"), int):
        return "another authledger serve"
    text = f"authledger serve pid {holder['pid']}"
    if isinstance(holder.get("url"), str):
        text += f" on {holder['url']}"
    return text
