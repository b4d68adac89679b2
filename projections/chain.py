"""A hash chain over the ledger's log, for auditors: edits to the database file show.

    link(0) = 32 zero bytes
    link(p) = sha256(link(prev) || u64 position || u16 len(topic) || topic
                     || 16-byte originator id || u64 originator version || stored state bytes)

(integers big-endian; ``prev`` is the previous row in position order.) Each link commits
to everything before it, so the head and its position (``HEAD@POSITION``, 64 hex digits
``@`` a position) — kept outside the system — pins the whole log up to there.

The audit index records, as it catches up, the position and the first 8 bytes of every
link (blocks of ``BLOCK`` entries) and the full head. ``verify`` recomputes the chain from
the database and walks it beside the recorded one: the first position whose link differs,
which is missing, or which appeared in the middle, is where the log was tampered with.
What was never recorded (rows appended after the last catch-up) can only be checked
against a digest an auditor kept.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import InvalidInput, LedgerError

GENESIS = bytes(32)
BLOCK = 4096
_ENTRY = struct.Struct(">Q8s")
_HEAD = struct.Struct(">QH")
_U64 = struct.Struct(">Q")


class LogMismatch(LedgerError):
    """The log no longer matches its recorded chain or the digest given."""

    exit_code = 6
    http_status = 409
    code = "log_mismatch"

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, field="position")
        self.position = position


class NotVerified(LedgerError):
    """verify-log had nothing to compare the log against (no recorded chain, no digest):
    the chain was recomputed, but no edit could have been found. Exit 3, not 0: a script
    that runs ``verify-log && ...`` must not take "could not check" for "checked"."""

    exit_code = 3
    http_status = 404
    code = "no_recorded_chain"

    def __init__(self, message: str, digest: str) -> None:
        super().__init__(message, field="digest")
        self.digest = digest

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "status": "not_verified", "digest": self.digest}


def _oid_bytes(oid: Any) -> bytes:
    if isinstance(oid, UUID):
        return oid.bytes
    try:
        return bytes.fromhex(oid)
    except ValueError:
        return UUID(oid).bytes


def links(rows: Iterable[tuple[int, Any, int, str, bytes]], prev: bytes = GENESIS) -> Iterator[tuple[int, bytes]]:
    """(position, link) for rows of (position, originator id, version, topic, state)."""
    sha = hashlib.sha256
    head, u64 = _HEAD.pack, _U64.pack
    topics: dict[str, bytes] = {}
    for pos, oid, ver, topic, state in rows:
        tb = topics.get(topic)
        if tb is None:
            tb = topics[topic] = topic.encode()
        try:
            ob = bytes.fromhex(oid)
        except (TypeError, ValueError):
            ob = _oid_bytes(oid)
        prev = sha(b"".join((prev, head(pos, len(tb)), tb, ob, u64(ver), state))).digest()
        yield pos, prev


def format_digest(head: bytes, position: int) -> str:
    return f"{head.hex()}@{position}"


def parse_digest(text: str) -> tuple[bytes, int]:
    """``HEAD@POSITION`` → (head, position); InvalidInput if malformed."""
    head, sep, pos = text.strip().partition("@")
    try:
        if not sep or len(head) != 64:
            raise ValueError
        return bytes.fromhex(head), int(pos)
    except ValueError:
        raise InvalidInput(f"digest must be HEAD@POSITION (64 hex digits @ a position), got {text[:80]!r}",
                           field="digest") from None


# -- the recorded chain (in the audit index) ------------------------------------------------

# Its table, ``chain`` (block, data), is the audit index's: projections/temporal_schema.py.


class RecordedChain:
    """The chain as recorded by the audit index: appends entries, keeps the head."""

    def __init__(self, conn: sqlite3.Connection, head: bytes, count: int) -> None:
        self.conn = conn
        self.head = head
        self.count = count  # entries recorded
        self.position = 0
        self._tail = bytearray()
        block, used = divmod(count, BLOCK)
        if used:
            row = conn.execute("SELECT data FROM chain WHERE block=?", (block,)).fetchone()
            self._tail = bytearray(row[0]) if row else bytearray()

    def extend(self, rows: Iterable[tuple[int, Any, int, str, bytes]]) -> None:
        got = list(links(rows, self.head))
        if not got:
            return
        self.position, self.head = got[-1]
        entry = _ENTRY.pack
        self._tail += b"".join([entry(p, h[:8]) for p, h in got])
        self.count += len(got)
        size = BLOCK * _ENTRY.size
        while len(self._tail) >= size:
            self._write(self._first_block(), bytes(self._tail[:size]))
            del self._tail[:size]

    def _first_block(self) -> int:
        """The block the tail starts (the tail always starts on a block boundary)."""
        return (self.count - len(self._tail) // _ENTRY.size) // BLOCK

    def _write(self, block: int, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO chain VALUES (?, ?)", (block, data))

    def flush(self) -> None:
        if self._tail:
            self._write(self._first_block(), bytes(self._tail))


def recorded_entries(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes]]:
    for (data,) in conn.execute("SELECT data FROM chain ORDER BY block"):
        yield from _ENTRY.iter_unpack(data)


# -- verification --------------------------------------------------------------------------

@dataclass
class Verdict:
    """What ``verify`` found. ``status``: ``verified`` (every row checked against the
    recorded chain or the digest), ``partly_verified`` (rows appended after the last record
    and past the digest are ``unchecked``), ``not_verified`` (nothing to compare against:
    no recorded chain and no digest; the chain was only recomputed), or ``mismatch``."""

    ok: bool
    events: int
    head: str | None
    first_bad: int | None = None
    why: str = ""
    checked_recorded: int = 0
    checked_digest: bool = False
    unchecked: int = 0
    against: str = ""  # for a mismatch: "record" or "digest"

    @property
    def status(self) -> str:
        if not self.ok:
            return "mismatch"
        if not self.checked_recorded and not self.checked_digest:
            return "not_verified"
        return "partly_verified" if self.unchecked else "verified"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "events": self.events, "head": self.head,
                "first_bad_position": self.first_bad, "why": self.why,
                "recorded_entries_checked": self.checked_recorded, "digest_checked": self.checked_digest,
                "unchecked_events": self.unchecked}


def verify(ledger_rows: Iterable[tuple[int, Any, int, str, bytes]],
           recorded: Iterable[tuple[int, bytes]] = (), recorded_head: tuple[bytes, int] | None = None,
           digest: tuple[bytes, int] | None = None) -> Verdict:
    """Recompute the chain over ``ledger_rows`` and compare with the record and the digest."""
    rec = iter(recorded)
    nxt = next(rec, None)
    checked = 0
    want_pos = digest[1] if digest else None
    digest_seen = False
    head, last = GENESIS, 0
    n = unchecked = 0

    def bad(pos: int, why: str, against: str = "record") -> Verdict:
        return Verdict(False, n, None, pos, why, checked, against=against)

    for pos, head in links(ledger_rows):
        n += 1
        last = pos
        if nxt is not None:
            if nxt[0] < pos:
                return bad(nxt[0], f"row at position {nxt[0]} is missing (deleted)")
            if nxt[0] > pos:
                return bad(pos, f"row at position {pos} was never recorded (inserted)")
            if nxt[1] != head[:8]:
                return bad(pos, f"row at position {pos} does not match its recorded link")
            checked += 1
            if recorded_head is not None and recorded_head[1] == pos and recorded_head[0] != head:
                return bad(pos, f"chain head at {pos} does not match the recorded head")
            nxt = next(rec, None)
        elif want_pos is None or pos > want_pos:
            unchecked += 1  # after the record and past the digest: nothing to compare with
        if want_pos is not None and pos >= want_pos and not digest_seen:
            digest_seen = True
            if pos != want_pos or head != digest[0]:  # type: ignore[index]
                return bad(pos if pos == want_pos else want_pos,
                           f"log up to position {want_pos} does not match the digest", "digest")
    if nxt is not None:
        return bad(nxt[0], f"row at position {nxt[0]} is missing (deleted)")
    if want_pos is not None and not digest_seen:
        return bad(last + 1, f"log ends at {last}, before the digest's position {want_pos}", "digest")
    return Verdict(True, n, format_digest(head, last), None, "", checked, digest is not None, unchecked)
