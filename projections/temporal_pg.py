"""The audit index of a PostgreSQL ledger: its own tables in the ledger's database.

The tables are the SQLite file's (meta, apis, api_settings, apps, app_names,
enabled_periods, cred_periods, grant_periods, chain), written in PostgreSQL's dialect in
``projections/temporal_schema.py`` and named with the prefix ``audit_`` (``audit_grant_periods`` ...), in the ledger's schema (``public``, or
the URL's ``?schema=S``): the same database user, the same privileges, the same backups
as the ledger's ``ledger_events``. The queries name them as on SQLite; the connection's
dialect (``temporal_sql.translate``) adds the prefix.

Several processes (``serve`` instances, CLI calls on several hosts) share the index:

- the tables are created once, in one transaction under a transaction-level advisory lock
  (its key derived from the schema's name), and re-created — only these tables dropped —
  when the recorded layout version differs;
- a catch-up is one transaction holding that same lock: it re-reads the applied position
  after taking the lock, so a caller that waited finds the position advanced and applies
  nothing; the periods, the chain, the position and its anchor commit together, and a
  process killed mid-way leaves the index at its last committed position (the server
  rolls the transaction back and releases the lock when the connection drops).

Rebuild: drop the ``audit_*`` tables (``DROP TABLE audit_meta, audit_apis, ... CASCADE``,
see docs/audit.md); the next audit command builds the index again from the log.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ledger.errors import InvalidInput
from ledger.store import parse_url
from projections import temporal_schema
from projections.temporal_sql import PREFIX, TABLES, PgConnection


def lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) serialising writers of one schema's index."""
    digest = hashlib.sha256(f"authledger-audit:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgIndexConnection(PgConnection):
    """The connection of one audit index: the ledger's schema on the search path, its lock."""

    def __init__(self, raw: Any, schema: str) -> None:
        super().__init__(raw)
        self.schema = schema
        self.lock_key = lock_key(schema)

    def lock(self) -> None:
        """Take the index's writer lock until the end of the current transaction."""
        self.execute("SELECT pg_advisory_xact_lock(?)", (self.lock_key,))

    def has_tables(self) -> bool:
        # pg_class read with this statement's snapshot, not to_regclass(): that answers from
        # the backend's catalog cache, which may still say "no such table" right after the
        # lock was granted to a process that waited while another one created them.
        return self.raw.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s", (self.schema, PREFIX + "meta")).fetchone() is not None

    def version(self) -> str | None:
        """The layout version the tables were made in; None if there are none."""
        if not self.has_tables():
            return None
        row = self.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        return None if row is None else str(row[0])

    def ensure_tables(self, version: str) -> None:
        """Create the index's tables (layout ``version``) unless they exist in that layout."""
        if self.version() == version:
            return
        import psycopg
        from psycopg import sql

        try:
            with self.transaction():
                self.lock()
                found = self.version()  # another process may have just made them
                if found == version:
                    return
                if self.has_tables():  # derived data in an older layout: start it afresh
                    self.execute("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE")
                if self.raw.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone() is None:
                    self.raw.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                for ddl in temporal_schema.POSTGRES:
                    self.execute_ddl(ddl)
                self.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (version,))
        except psycopg.errors.InsufficientPrivilege:
            raise InvalidInput(f"the database user may not create the audit index's tables ({PREFIX}*) in "
                               f"schema {self.schema}: grant it CREATE there", field="database_url") from None


def connect(url: str) -> PgIndexConnection:
    """A connection to the audit index of the PostgreSQL ledger at ``url`` (tables not ensured)."""
    import psycopg
    from psycopg import sql

    from ledger.store import StoreUnavailable

    t = parse_url(url)
    try:
        raw = psycopg.connect(dbname=t.dbname, host=t.host, port=t.port, user=t.user, password=t.password,
                              autocommit=True, connect_timeout=5, application_name="authledger-audit")
    except psycopg.OperationalError as e:
        raise StoreUnavailable(f"PostgreSQL at {t.redacted()} unavailable for the audit index: "
                               f"{' '.join(str(e).split())[:160]}; retry the command") from None
    schema = t.schema or "public"
    raw.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return PgIndexConnection(raw, schema)
