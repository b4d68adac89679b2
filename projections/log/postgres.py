"""The log of a PostgreSQL ledger: the recorder's table (``ledger_events``), read through
the recorder's connection pool as plain tuples (the library's dict rows and Notification
objects cost half of an audit build's time). Position = ``notification_id``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from projections.log import PAGE, Row, uuid_hex


class PostgresLog:
    """A PostgreSQL ledger's log (see the module). ``owned``: the recorder was opened for this
    reader (``open_log``), and ``close`` closes its pool; else it is a Ledger's, left open."""

    def __init__(self, recorder: Any, *, owned: bool = False) -> None:
        from psycopg import sql

        self.recorder = recorder
        self.owned = owned
        ds = recorder.datastore
        self._table = sql.Identifier(ds.schema, recorder.events_table_name)
        self._columns = sql.SQL("SELECT notification_id, replace(originator_id::text, '-', ''), "
                                "originator_version, topic, state FROM {} ").format(self._table)

    def close(self) -> None:
        if self.owned:
            self.recorder.datastore.close()

    def _fetch(self, where: str, args: tuple[Any, ...], prepare: bool = False) -> list[Row]:
        from psycopg import sql
        from psycopg.rows import tuple_row

        with self.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            rows = cur.execute(self._columns + sql.SQL(where), args, prepare=prepare).fetchall()
        return [(p, o, v, t, bytes(s)) for p, o, v, t, s in rows]

    def max_position(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def batches(self, after: int = 0, until: int | None = None, page: int | None = None) -> Iterator[list[Row]]:
        page = page or PAGE
        where = ("WHERE notification_id > %s" + (" AND notification_id <= %s" if until is not None else "")
                 + " ORDER BY notification_id LIMIT %s")
        while True:
            args = (after, until, page) if until is not None else (after, page)
            batch = self._fetch(where, args, prepare=True)
            if batch:
                yield batch
            if len(batch) < page:
                return
            after = batch[-1][0]

    def row(self, position: int) -> Row | None:
        rows = self._fetch("WHERE notification_id = %s", (position,))
        return rows[0] if rows else None

    def rows_at(self, positions: Iterable[int]) -> list[Row]:
        ps = sorted(set(positions))
        if not ps:
            return []
        return self._fetch("WHERE notification_id = ANY(%s) ORDER BY notification_id", (ps,))

    def rows_of(self, originator_id: str) -> list[Row]:
        h = uuid_hex(originator_id)
        if h is None:
            return []
        return self._fetch("WHERE originator_id = %s ORDER BY originator_version", (UUID(hex=h),))
