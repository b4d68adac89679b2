"""Where one stored event sits in the log: its position, looked up by originator id and version.

The recorders answer "the events of an aggregate" (without positions) and "the events from a
position" (without a lookup by aggregate). Two paths need the position of a known event:
a save whose acknowledgement was lost but which did commit (the receipt names where it
landed), and a command replayed under an idempotency key (the receipt of the first run).
Both stores index ``(originator_id, originator_version)``, so this is one indexed query.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID


def position_of(recorder: Any, originator_id: UUID, version: int) -> int | None:
    """The position of the event ``(originator_id, version)``, or None if it is not stored."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    if isinstance(recorder, SQLiteApplicationRecorder):
        sql = f"SELECT rowid FROM {recorder.events_table_name} WHERE originator_id=? AND originator_version=?"
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(sql, (originator_id.hex, version))
            row = c.fetchone()
        return int(row[0]) if row is not None else None
    if any(c.__module__ == "eventsourcing.postgres" for c in type(recorder).__mro__):
        from psycopg.sql import SQL, Identifier

        statement = SQL("SELECT notification_id FROM {}.{} WHERE originator_id=%s AND originator_version=%s").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn:
            found = conn.execute(statement, (originator_id, version)).fetchone()
        return int(found["notification_id"]) if found is not None else None
    # In memory (tests, dry runs): a scan is fine.
    start = 1
    while True:
        page = recorder.select_notifications(start, 1000)
        for n in page:
            if n.originator_id == originator_id and n.originator_version == version:
                return int(n.id)
        if len(page) < 1000:
            return None
        start = page[-1].id + 1
