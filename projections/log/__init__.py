"""Reading the ledger's log: one small protocol, one module per store.

Every reader of the log on the read side (the auth index and its followers, the publisher,
the audit index, the export, the migration) goes through a ``LogReader``, as the
eventsourcing library's own recorders do for writing: ``projections/log/sqlite.py`` (the
ledger's file, through a read-only connection of its own), ``projections/log/postgres.py``
(the ledger's table, through the recorder's connection pool) and
``projections/log/memory.py`` (an in-memory ledger, through the recorder's
``select_notifications``). Nothing else reads the library's table.

A row is ``(position, originator id as 32 hex digits, originator version, topic, state)``:
the state is the transcoder's bytes, decoded by the caller (``ledger.transcoder``), and
the row is what the hash chain hashes (``projections.chain``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Protocol
from uuid import UUID

Row = tuple[int, str, int, str, bytes]
PAGE = 5000


class LogReader(Protocol):
    """What the read side needs of the ledger's log, in position order."""

    def max_position(self) -> int:
        """The last position (0: an empty log)."""
        ...

    def batches(self, after: int = 0, until: int | None = None, page: int | None = None) -> Iterator[list[Row]]:
        """The rows after ``after`` (up to ``until``), in lists of at most ``page``."""
        ...

    def row(self, position: int) -> Row | None:
        """The row at ``position`` (None: no such row)."""
        ...

    def rows_at(self, positions: Iterable[int]) -> list[Row]:
        """The rows at these positions (those that exist), in position order."""
        ...

    def rows_of(self, originator_id: str) -> list[Row]:
        """One aggregate's rows (its id canonical or as 32 hex digits), in version order."""
        ...

    def close(self) -> None:
        """Let go of what the reader opened (nothing when it borrows a recorder's pool)."""
        ...


def rows(log: LogReader, after: int = 0, until: int | None = None) -> Iterator[Row]:
    """Every row after ``after`` (up to ``until``), one at a time."""
    for batch in log.batches(after, until):
        yield from batch


def hex_to_uuid(h: str) -> str:
    """A stored originator id (32 hex digits) as a canonical UUID string."""
    if len(h) == 32:
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(UUID(h))


def uuid_hex(originator_id: str) -> str | None:
    """An originator id, canonical or hex, as the 32 hex digits rows carry (None: not an id)."""
    try:
        return UUID(originator_id).hex
    except (TypeError, ValueError, AttributeError):
        return None


class UuidCache(dict):  # type: ignore[type-arg]
    """hex → canonical UUID string, remembered (a replay sees each aggregate many times)."""

    def __missing__(self, h: str) -> str:
        u = self[h] = hex_to_uuid(h)
        return u


def open_log(target: str) -> LogReader:
    """The log of a ledger named by a SQLite path or a postgresql:// URL (the reader owns
    what it opens: ``close`` it)."""
    from ledger.store import is_url

    if is_url(target):
        from ledger.store import pg_application_recorder
        from projections.log.postgres import PostgresLog

        return PostgresLog(pg_application_recorder(target), owned=True)
    from projections.log.sqlite import SqliteLog

    return SqliteLog(target)


def log_for(ledger: Any) -> LogReader:
    """A reader of an open Ledger's log: its SQLite file (a connection of its own), its
    PostgreSQL recorder (the ledger's pool), or its in-memory recorder."""
    from ledger.store import is_postgres

    recorder = ledger.recorder
    if is_postgres(recorder):
        from projections.log.postgres import PostgresLog

        return PostgresLog(recorder)
    path = ledger.env.get("SQLITE_DBNAME") if hasattr(ledger, "env") else None
    if path and path != ":memory:" and "mode=memory" not in path and os.path.exists(path):
        from projections.log.sqlite import SqliteLog

        return SqliteLog(path)
    from projections.log.memory import MemoryLog

    return MemoryLog(recorder)
