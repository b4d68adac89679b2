"""Where a report reads from: a ledger (its audit index, caught up) or an export.

The ledger is a SQLite file or a postgresql:// URL (``--db`` takes either; with no option,
$AUTHLEDGER_DATABASE_URL or $AUTHLEDGER_DB as the CLI resolves them): the index is the file
beside it or its ``audit_*`` tables in that database (projections/temporal_store.py): the
same tables, the same SQL (projections/temporal_sql.py).

Both give an ``AuditQueries`` over the same temporal index, so a report is byte-identical
from either. Every failure is a one-line ``LedgerError`` (exit 2 for bad input).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime

from ledger.errors import InvalidInput
from projections.instants import instant, window
from projections.temporal import iso, to_micros
from projections.temporal_queries import AuditQueries

DEFAULT_DB = "authledger.db"


def resolve_db(db: str | None) -> str:
    """The option, else $AUTHLEDGER_DATABASE_URL or $AUTHLEDGER_DB, else ./authledger.db (as the CLI does)."""
    from ledger.store import resolve

    return resolve(db)


def open_queries(db: str | None = None, from_export: str | None = None, *,
                 index: str | None = None) -> AuditQueries:
    """The temporal index of a ledger database (caught up) or of an export (in memory).
    ``index``: where to keep it (``--index FILE``; see ``projections.temporal_store.open_index``:
    a read-only ledger without one gets an index in memory)."""
    if db is not None and from_export is not None:
        raise InvalidInput("use either --db or --from-export, not both", field="from_export")
    if from_export is not None:
        from projections.export import load

        if not os.path.isfile(from_export):
            raise InvalidInput(f"no export file at {from_export}", field="from_export")
        try:
            store, events, _trailer = load(from_export)
        except UnicodeDecodeError:  # projections.export.load reads text and lets this through
            raise InvalidInput(f"{from_export}: not an authledger export (not UTF-8 text)",
                               field="from_export") from None
        return AuditQueries(store, events)
    from ledger.store import is_url
    from projections.temporal_queries import LedgerEvents
    from projections.temporal_store import open_index

    path = resolve_db(db)
    if not is_url(path) and not os.path.isfile(path):
        raise InvalidInput(f"no ledger database at {path}", field="db")
    try:
        store, log = open_index(path, index=index)
    except sqlite3.DatabaseError as e:
        from ledger.store import full_disk_error, is_disk_full

        if is_disk_full(e, path):
            raise full_disk_error(path, wrote=False) from None
        raise InvalidInput(f"cannot read ledger database {path}: {e}", field="db") from None
    return AuditQueries(store, LedgerEvents(log))


def history_span(q: AuditQueries) -> tuple[int, int]:
    """[first, last] instant the index knows of (µs); (0, 0) for an empty history."""
    lo, hi = q.conn.execute(
        "SELECT MIN(t), MAX(t) FROM ("
        " SELECT registered AS t FROM apis UNION ALL SELECT created FROM apps"
        " UNION ALL SELECT deleted FROM apps UNION ALL SELECT start FROM grant_periods"
        " UNION ALL SELECT end FROM grant_periods UNION ALL SELECT start FROM cred_periods"
        " UNION ALL SELECT end FROM cred_periods UNION ALL SELECT start FROM enabled_periods"
        " UNION ALL SELECT end FROM enabled_periods) AS instants").fetchone()
    return (lo or 0, hi or 0)


def now_micros() -> int:
    from datetime import UTC

    return to_micros(datetime.now(UTC))


__all__ = ["history_span", "instant", "iso", "open_queries", "resolve_db", "window"]
