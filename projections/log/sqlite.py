"""The log of a SQLite ledger: its ``stored_events`` table, read through a read-only
connection of the reader's own (``ledger.store.sqlite_read_uri``: it creates nothing where
it cannot write, so an auditor's read-only copy is read too). Position = ``rowid``."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator

from ledger.errors import InvalidInput
from projections.log import PAGE, Row, uuid_hex

_SELECT = "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
_CHUNK = 500  # positions per IN (...) query: SQLite's variable limit is far above


class SqliteLog:
    """A SQLite ledger's log (see the module)."""

    def __init__(self, db_path: str) -> None:
        from ledger.store import sqlite_read_uri

        if not os.path.exists(db_path):
            raise InvalidInput(f"no ledger database at {db_path}", field="db")
        self.path = db_path
        self.conn = sqlite3.connect(sqlite_read_uri(db_path), uri=True, check_same_thread=False)
        try:
            self._has_table = bool(self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='stored_events'").fetchone())
        except sqlite3.DatabaseError as e:
            self.conn.close()
            if "locked" in str(e) or "busy" in str(e):
                raise
            raise InvalidInput(f"cannot read ledger database {db_path}: {e}", field="db") from None

    def close(self) -> None:
        self.conn.close()

    def _table(self) -> bool:
        # A ledger file made before its first event has no table yet; the recorder creates it
        # with the first write, so look again until it is there.
        if not self._has_table:
            self._has_table = bool(self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='stored_events'").fetchone())
        return self._has_table

    def max_position(self) -> int:
        if not self._table():
            return 0
        return self.conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0

    def batches(self, after: int = 0, until: int | None = None, page: int | None = None) -> Iterator[list[Row]]:
        page = page or PAGE
        if not self._table():
            return
        if until is None:
            cur = self.conn.execute(_SELECT + " WHERE rowid > ? ORDER BY rowid", (after,))
        else:
            cur = self.conn.execute(_SELECT + " WHERE rowid > ? AND rowid <= ? ORDER BY rowid", (after, until))
        try:
            while True:
                batch = cur.fetchmany(page)
                if not batch:
                    return
                yield batch
        finally:
            cur.close()

    def row(self, position: int) -> Row | None:
        if not self._table():
            return None
        return self.conn.execute(_SELECT + " WHERE rowid = ?", (position,)).fetchone()  # type: ignore[no-any-return]

    def rows_at(self, positions: Iterable[int]) -> list[Row]:
        ps = sorted(set(positions))
        if not ps or not self._table():
            return []
        out: list[Row] = []
        for i in range(0, len(ps), _CHUNK):
            chunk = ps[i:i + _CHUNK]
            out += self.conn.execute(_SELECT + f" WHERE rowid IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
                                     chunk).fetchall()
        return out

    def rows_of(self, originator_id: str) -> list[Row]:
        h = uuid_hex(originator_id)
        if h is None or not self._table():
            return []
        return self.conn.execute(_SELECT + " WHERE originator_id = ? ORDER BY originator_version", (h,)).fetchall()
