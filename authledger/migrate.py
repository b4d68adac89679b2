"""Copy a ledger's log from a SQLite file to an empty PostgreSQL database, and prove it.

The stored events are copied as they are — the same bytes, so the same timestamps, actors,
sealed secrets and topics — in position order, in batches, keeping each event's position
(notification id). The target's position sequence is then moved past the last one so new
commands continue the log. The copy is one transaction under the table's write lock: it
lands whole or not at all. A target that already holds events is refused.

The proof is the tamper-evident chain (projections/chain.py) computed independently over
the source file and over the target database: the same head at the same position on both
sides, or the migration reports a mismatch (exit 6).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import Conflict, InvalidInput
from ledger.store import is_url, parse_url, pg_application_recorder

BATCH = 5000


@dataclass
class MigrationResult:
    events: int
    last_position: int
    source_digest: str
    target_digest: str

    @property
    def ok(self) -> bool:
        return self.source_digest == self.target_digest

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "last_position": self.last_position, "source_digest": self.source_digest,
                "target_digest": self.target_digest, "match": self.ok}


def source_path(source: str) -> str:
    """``sqlite:PATH`` (or a plain path) → PATH, which must exist."""
    path = source.removeprefix("sqlite:").removeprefix("//")  # sqlite:PATH or sqlite:///abs/path
    if is_url(path):
        raise InvalidInput("--from must be a SQLite ledger (sqlite:PATH)", field="from")
    if not os.path.exists(path):
        raise InvalidInput(f"no ledger database at {path}", field="from")
    return path


def digest_of(log: Any) -> str:
    """The chain head over a whole log, ``HEAD@POSITION``."""
    from projections import chain

    head, pos = chain.GENESIS, 0
    from projections.log import rows

    for pos, head in chain.links(rows(log)):
        pass
    return chain.format_digest(head, pos)


def migrate(source: str, target_url: str, *, batch: int = BATCH) -> MigrationResult:
    """Copy the log of ``source`` (sqlite:PATH) into the empty PostgreSQL ledger at ``target_url``."""
    import psycopg
    from psycopg import sql

    from projections.log.postgres import PostgresLog
    from projections.log.sqlite import SqliteLog

    path = source_path(source)
    if not is_url(target_url):
        raise InvalidInput("--to must be postgresql://user:password@host:port/dbname", field="to")
    target = parse_url(target_url)
    src = SqliteLog(path)
    recorder: Any = pg_application_recorder(target_url)  # creates the table, as the Ledger would
    schema, table = recorder.datastore.schema, recorder.events_table_name
    qualified = sql.Identifier(schema, table)
    copied = last = 0
    try:
        with psycopg.connect(dbname=target.dbname, host=target.host, port=target.port, user=target.user,
                             password=target.password) as conn, conn.transaction():
            conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(qualified))
            if conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(qualified)).fetchone():
                raise Conflict(f"the target database already holds a ledger ({schema}.{table} is not empty); "
                               "migrate into an empty database", field="to")
            copy_sql = sql.SQL("COPY {} (notification_id, originator_id, originator_version, topic, state) "
                               "FROM STDIN").format(qualified)
            for rows in src.batches(0, None, batch):
                with conn.cursor() as cur, cur.copy(copy_sql) as cp:
                    cp.set_types(["int8", "uuid", "int8", "text", "bytea"])
                    for pos, oid, ver, topic, state in rows:
                        cp.write_row((pos, _uuid(oid), ver, topic, bytes(state)))
                copied += len(rows)
                last = rows[-1][0]
            if last:
                conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'notification_id'), %s)").format(
                    sql.Literal(f"{schema}.{table}")), (last,))
        result = MigrationResult(copied, last, digest_of(src), digest_of(PostgresLog(recorder)))
    finally:
        src.close()
        recorder.datastore.close()
    return result


def _uuid(oid: Any) -> UUID:
    if isinstance(oid, UUID):
        return oid
    try:
        return UUID(hex=oid) if len(oid) == 32 else UUID(oid)
    except (TypeError, ValueError):
        return UUID(bytes=bytes(oid))
