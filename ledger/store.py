"""Which event store: a SQLite file (the default), in memory, or PostgreSQL by URL.

    --db PATH | $AUTHLEDGER_DB                  a SQLite file (default ./authledger.db)
    --database-url URL | $AUTHLEDGER_DATABASE_URL   postgresql://user:pass@host:port/dbname

The two are exclusive: both options given, or (with neither option) both variables set,
is invalid input (exit 2). An option beats the other kind's variable. A PostgreSQL URL is
turned into the library's ``POSTGRES_*`` settings (eventsourcing.postgres: psycopg 3 and a
connection pool); the table is named after the application (``ledger_events``).

This module is imported by the CLI on every call: no heavy imports here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import InvalidInput, LedgerError

DB_ENV = "AUTHLEDGER_DB"
URL_ENV = "AUTHLEDGER_DATABASE_URL"
DEFAULT_DB = "authledger.db"
SCHEMES = ("postgresql", "postgres")
# Pool sizes: a CLI call needs one connection (two while following: LISTEN holds one);
# a server runs a thread pool of request handlers plus the follower's LISTEN connection.
POOL = {"cli": (2, 2), "serve": (5, 10)}


class StoreUnavailable(LedgerError):
    """The event store could not be reached or stayed locked past the retry bound.

    The outcome is unknown: usually nothing was written, but a commit whose answer was
    lost, followed by an outage longer than the retry bound, may have landed. Retry once
    the database is back, with the same idempotency key (``--idempotency-key`` /
    ``Idempotency-Key``) so that a command that did land is not applied twice (see
    docs/ledger.md). Exit 7, HTTP 503.
    """

    exit_code = 7
    http_status = 503
    code = "store_unavailable"


class StoreFull(StoreUnavailable):
    """The disk holding the event store is full. A write refused so is known not to have
    been applied (SQLite and PostgreSQL roll the transaction back); reads that need no
    space still answer. Exit 7, HTTP 503 ``store_full``."""

    code = "store_full"


# Below this many bytes free, a store error ("disk I/O error" when SQLite cannot grow its
# -shm file, "database or disk is full") is read as a full disk.
FULL_DISK_BYTES = 1 << 20


def _free_bytes(path: str | None) -> int | None:
    import shutil

    if not path or path == ":memory:" or is_url(path):
        return None
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path)) or ".").free
    except OSError:
        return None


def is_disk_full(e: BaseException, path: str | None = None) -> bool:
    """Tell whether a store error means the disk is full (SQLite's, eventsourcing's wrapper
    of it, psycopg's DiskFull from a PostgreSQL server, an OSError ENOSPC)."""
    import errno

    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return True
        if getattr(cause, "sqlstate", None) in ("53100", "53000") or getattr(
            getattr(cause, "diag", None), "sqlstate", None
        ) in ("53100",):
            return True
        text = str(cause).lower()
        if "database or disk is full" in text or "no space left on device" in text:
            return True
        if "disk i/o error" in text:  # SQLite could not create or grow its -shm / -wal file
            free = _free_bytes(path)
            if free is not None and free < FULL_DISK_BYTES:
                return True
        cause = cause.__cause__ or cause.__context__
    return False


def full_disk_error(path: str | None, *, wrote: bool) -> StoreFull:
    """The StoreFull to raise: for a write, that nothing was applied; for a read, why."""
    where = f" holding {path}" if path and not is_url(path) else ""
    free = _free_bytes(path)
    room = f" ({free:,} bytes free)" if free is not None else ""
    if wrote:
        return StoreFull(f"the disk{where} is full{room}: nothing was applied; free some space and "
                         "run the command again")
    return StoreFull(f"the disk{where} is full{room}: nothing was written; SQLite needs a little "
                     "space even to read (its -shm and -wal files): free some space, or read a "
                     "copy of the ledger on another disk")


def store_failure(e: BaseException, path: str | None) -> StoreUnavailable | None:
    """The error to answer for an exception a read met in the store — unreachable, locked or
    full (eventsourcing's or sqlite3's errors) — or None when ``e`` is not one (a bug)."""
    import sqlite3

    if isinstance(e, sqlite3.OperationalError):
        text = str(e)
        if not ("locked" in text or "busy" in text or "disk" in text):
            return None
    else:
        import sys

        mod = sys.modules.get("eventsourcing.persistence")
        if mod is None or not isinstance(e, (mod.OperationalError, mod.InterfaceError)):
            return None
    if is_disk_full(e, path):
        return full_disk_error(path, wrote=False)
    return StoreUnavailable(f"event store unavailable: {' '.join(str(e).split())[:200]}; retry the command")


def is_url(target: str | None) -> bool:
    return bool(target) and target.split(":", 1)[0].lower() in SCHEMES  # type: ignore[union-attr]


def resolve(db: str | None = None, database_url: str | None = None) -> str:
    """The store to open: a SQLite path, ``:memory:``, or a postgresql:// URL."""
    if db and database_url:
        raise InvalidInput("--db and --database-url are mutually exclusive", field="db")
    if database_url:
        if not is_url(database_url):
            raise InvalidInput("--database-url must be postgresql://user:password@host:port/dbname",
                               field="database_url")
        return database_url
    if db:
        return db
    env_db, env_url = os.environ.get(DB_ENV), os.environ.get(URL_ENV)
    if env_db and env_url:
        raise InvalidInput(f"${DB_ENV} and ${URL_ENV} are both set; unset one", field="db")
    if env_url:
        if not is_url(env_url):
            raise InvalidInput(f"${URL_ENV} must be postgresql://user:password@host:port/dbname",
                               field="database_url")
        return env_url
    return env_db or DEFAULT_DB


@dataclass(frozen=True)
class PgTarget:
    dbname: str
    host: str
    port: int
    user: str
    password: str
    schema: str = ""

    def env(self, role: str = "cli") -> dict[str, str]:
        """The eventsourcing library's settings for this database."""
        size, overflow = POOL.get(role, POOL["cli"])
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_POOL_SIZE": str(size),
            "POSTGRES_MAX_OVERFLOW": str(overflow),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            # Broken connections (a restarted server) are noticed before use, not mid-command.
            "POSTGRES_PRE_PING": "y",
            # Waiting for the table lock: bounded, so a stuck writer shows up as an error.
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            # Tables are created by ensure_tables(), once, under an advisory lock: the library's
            # CREATE ... IF NOT EXISTS / CREATE OR REPLACE FUNCTION race between processes
            # ("tuple concurrently updated") and cost catalog locks on every CLI call.
            "CREATE_TABLE": "n",
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def redacted(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def parse_url(url: str) -> PgTarget:
    """``postgresql://user:password@host:port/dbname[?schema=s]`` (host may be a socket dir)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidInput("database URL must start with postgresql://", field="database_url")
    query = parse_qs(parts.query)
    dbname = unquote(parts.path.lstrip("/"))
    host = unquote(parts.hostname or "") or (query.get("host") or [""])[0]
    try:
        port = parts.port or 5432
    except ValueError:
        raise InvalidInput("database URL has a malformed port", field="database_url") from None
    user = unquote(parts.username or "") or (query.get("user") or [""])[0]
    password = unquote(parts.password or "") or (query.get("password") or [""])[0]
    if not dbname or not host or not user:
        raise InvalidInput("database URL needs a user, a host and a database name "
                           "(postgresql://user:password@host:port/dbname)", field="database_url")
    return PgTarget(dbname, host, port, user, password, (query.get("schema") or [""])[0])


def url_from_env(env: object) -> str:
    """Back from a Ledger's ``POSTGRES_*`` settings to a URL (for readers that open their own)."""
    from urllib.parse import quote

    g = env.get  # type: ignore[attr-defined]
    url = (f"postgresql://{quote(g('POSTGRES_USER') or '', safe='')}:{quote(g('POSTGRES_PASSWORD') or '', safe='')}"
           f"@{g('POSTGRES_HOST')}:{g('POSTGRES_PORT') or 5432}/{g('POSTGRES_DBNAME')}")
    return url + (f"?schema={g('POSTGRES_SCHEMA')}" if g("POSTGRES_SCHEMA") else "")


def pg_application_recorder(url: str) -> object:
    """The Ledger's PostgreSQL recorder alone (readers that need no secret key: the audit index)."""
    from eventsourcing.postgres import PostgresFactory
    from eventsourcing.utils import Environment

    env = Environment("Ledger", parse_url(url).env("cli"))
    recorder = PostgresFactory(env).application_recorder()
    ensure_tables(recorder)
    return recorder


def is_postgres(recorder: object) -> bool:
    """Is this one of the library's PostgreSQL recorders?"""
    return any(c.__module__ == "eventsourcing.postgres" for c in type(recorder).__mro__)


def listen_for_commits(recorder: Any, env: Any, wake: Callable[[], None], closing: threading.Event) -> threading.Thread:
    """Call ``wake()`` for every commit any process makes to a PostgreSQL ledger, from a
    daemon thread started here, until ``closing`` is set.

    The thread LISTENs on the recorder's NOTIFY channel on a connection of its own (``env``:
    the application's ``POSTGRES_*`` settings), calls ``wake()`` for each notification and
    once after every (re)connect, in case something was committed while it was away; when
    the server goes away (a restart) it connects again shortly."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    channel = SQL("LISTEN {0}").format(Identifier(recorder.channel_name))
    g = env.get
    conninfo = psycopg.conninfo.make_conninfo(
        dbname=g("POSTGRES_DBNAME"), host=g("POSTGRES_HOST"), port=g("POSTGRES_PORT") or "5432",
        user=g("POSTGRES_USER"), password=g("POSTGRES_PASSWORD") or "", connect_timeout=5)

    def listen() -> None:
        while not closing.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(channel)
                    wake()
                    while not closing.is_set():
                        for _ in conn.notifies(timeout=0.2, stop_after=1):
                            wake()
            except Exception:  # noqa: BLE001 - the server is away (restart): listen again shortly
                closing.wait(0.5)

    thread = threading.Thread(target=listen, name="authledger-listen", daemon=True)
    thread.start()
    return thread


_LOCK_KEY = 0x6175_7468_6C65_6467  # "authledg": the advisory lock that serialises table creation


def ensure_tables(recorder: object, *more: object) -> None:
    """Create the Ledger's PostgreSQL tables if missing, one process at a time: the events
    table of ``recorder`` and those of ``more`` recorders (the snapshot store's)."""
    r: Any = recorder
    ds = r.datastore
    with ds.get_connection() as conn:
        for each in (recorder, *more):
            t: Any = each
            qualified = f"{ds.schema}.{t.events_table_name}"
            if conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()["to_regclass"] is not None:
                continue
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                if conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()["to_regclass"] is None:
                    t.create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    # The recorder looks its composite row type up when it is constructed; when another
    # process created the type after that, the lookup found nothing and every insert would
    # fail with "Composite type ... not found". Look it up again now that it exists.
    ds.register_type_adapters()


# -- reading a SQLite file that this process cannot write (an auditor's read-only copy) -------

def can_write(path: str) -> bool:
    """Could this process write the SQLite file at ``path`` and the files SQLite keeps beside
    it (``-wal``, ``-shm``, a journal)? False on a read-only mount, for a file or folder
    without write permission for this user, or for an immutable file (``chattr +i``).
    Permission bits do not stop root, and ``os.access`` knows that; a read-only mount stops
    everyone, and ``os.access`` knows that too."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.access(directory, os.W_OK):
        return False
    return not os.path.exists(path) or os.access(path, os.W_OK)


def sqlite_read_uri(path: str) -> str:
    """A ``file:`` URI that opens the SQLite file at ``path`` for reading only, creating
    nothing when it can be helped, or a one-line ``InvalidInput`` saying why it cannot be read.

    ``mode=ro`` reads a database in WAL mode only if SQLite can open (or create) its ``-shm``
    file: in a folder this process cannot write, without a ``-shm``, it cannot. Such a copy
    holding no write-ahead log (a ``-wal`` absent or empty: everything is in the main file)
    is read with ``immutable=1``, which needs no ``-shm``; a copy whose ``-wal`` holds
    transactions but has no ``-shm`` beside it is refused (``immutable`` would silently
    ignore the last transactions)."""
    import sqlite3
    from urllib.parse import quote

    absolute = os.path.abspath(path)
    base = "file:" + quote(absolute)
    if not os.path.exists(absolute):
        raise InvalidInput(f"no ledger database at {path}", field="db")
    if not os.access(absolute, os.R_OK):
        raise InvalidInput(f"cannot read {path}: permission denied", field="db")
    ro = base + "?mode=ro"
    try:
        conn = sqlite3.connect(ro, uri=True, timeout=15)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
            return ro
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        if "unable to open" not in str(e):
            if "not a database" in str(e) or "malformed" in str(e):
                raise InvalidInput(f"{path} is not a readable SQLite database ({e})", field="db") from None
            raise
    wal = absolute + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0 and not os.path.exists(absolute + "-shm"):
        raise InvalidInput(
            f"cannot read {path}: its write-ahead log {wal} holds transactions but there is no "
            f"{os.path.basename(absolute)}-shm beside it, and SQLite cannot create one here (read-only); "
            "copy the -shm file too, or checkpoint the ledger before copying it "
            "(sqlite3 FILE 'PRAGMA wal_checkpoint(TRUNCATE)'), or read the copy from a writable folder",
            field="db")
    frozen = base + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(frozen, uri=True)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise InvalidInput(f"cannot read {path} as a SQLite database: {e}", field="db") from None
    return frozen
