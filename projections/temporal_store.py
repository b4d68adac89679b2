"""The audit index: factor periods and the recorded chain, kept apart from the log.

For a SQLite ledger the index is a file of its own beside it (``<db>.audit.sqlite``), never
inside it; for a PostgreSQL ledger it is tables of its own in the ledger's database
(``audit_grant_periods`` ..., see ``projections/temporal_pg.py``): the same tables, written
and queried through the same SQL (``projections/temporal_sql.py``). The index records the
ledger position it has applied; each CLI call catches up only the events after it, in one
transaction with the new position (and, on PostgreSQL, under an advisory lock that makes
concurrent callers wait and then find the work done), so a crash or a concurrent caller
never leaves it half-applied. It is derived data: delete the file (drop the tables) and it
is rebuilt from the log.
A log that shrank below the applied position, or whose row at that position changed, is
refused (``LogMismatch``: run verify-log) instead of answering from a history that
is no longer there.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.errors import InvalidInput
from projections import chain, temporal_schema
from projections.events import collector_paused
from projections.log import LogReader, Row, open_log, rows
from projections.temporal import (
    AppState,
    CredPeriod,
    GrantPeriod,
    Period,
    TemporalBuilder,
    UuidCache,
    decode_fast,
)

SUFFIX = ".audit.sqlite"
SCHEMA_VERSION = temporal_schema.VERSION
FLUSH_EVERY = 200_000
PAGE = 5000

# Every table of the index (what a rebuild empties).
REBUILT = ("meta", "apis", "api_settings", "apps", "app_names", "enabled_periods", "cred_periods", "grant_periods", "chain")



def _utc_now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def index_path(db_path: str) -> str:
    """Where the index is: the file beside a SQLite ledger, or for a PostgreSQL ledger its URL
    (the index is in that database, ``projections/temporal_pg.py``); ``TemporalStore`` opens
    either. No local file is ever made for a PostgreSQL ledger."""
    from ledger.store import is_url

    if is_url(db_path):
        return db_path
    return db_path + SUFFIX


def row_hash(row: tuple[int, Any, int, str, bytes] | None) -> str:
    if row is None:
        return ""
    return next(chain.links([row]))[1].hex()


# -- the store -------------------------------------------------------------------------------

class TemporalStore:
    """The audit index: its SQLite file (or ``:memory:``) or, given a postgresql:// URL, its
    schema in that database (tables created if missing). Schema, state loading, writing.
    ``conn`` runs the index's SQL on either (``projections/temporal_sql.py``)."""

    def __init__(self, path: str = ":memory:", *, bulk: bool = False) -> None:
        from ledger.store import is_url

        self.path = path
        self.pg = is_url(path)
        self._prefetched: dict[str, AppState | None] = {}  # app states loaded ahead for one batch
        if self.pg:
            from projections.temporal_pg import connect

            self.conn: Any = connect(path)
            try:
                self.conn.ensure_tables(SCHEMA_VERSION)
            except BaseException:
                self.conn.close()
                raise
            return
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
        if bulk:  # a fresh file that is renamed into place when complete: no journal needed
            self.conn.execute("PRAGMA journal_mode=OFF")
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("PRAGMA cache_size=-262144")
        else:
            if path != ":memory:":
                self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.execute("PRAGMA mmap_size=268435456")
        self._ensure_schema()

    @classmethod
    def copy_of(cls, source: str, into: str = ":memory:") -> TemporalStore:
        """A writable copy of the index file ``source`` (which this process may be unable to
        write: an auditor's read-only copy), in memory or in the file ``into``: its recorded
        chain, anchor and verification record come along, so the copy refuses what the
        original would."""
        from ledger.store import sqlite_read_uri

        src = sqlite3.connect(sqlite_read_uri(source), uri=True)
        try:
            if into == ":memory:":
                store = cls(into)
                src.backup(store.conn)
                store._ensure_schema()  # an index of an older layout starts afresh, as on disk
                return store
            dst = sqlite3.connect(into)
            try:
                src.backup(dst)
            finally:
                dst.close()
        except sqlite3.DatabaseError as e:
            raise InvalidInput(f"cannot read the audit index {source}: {e}", field="index") from None
        finally:
            src.close()
        return cls(into)

    def _ensure_schema(self) -> None:
        for s in temporal_schema.SQLITE:
            self.conn.execute(s)
        if self.meta("schema") != SCHEMA_VERSION:
            # Derived data in an older layout (or a new file): start it afresh.
            tables = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in tables:
                self.conn.execute(f"DROP TABLE {t}")
            for s in temporal_schema.SQLITE:
                self.conn.execute(s)
            self.set_meta("schema", SCHEMA_VERSION)

    def _create_indexes(self) -> None:
        """The query indexes (``projections/temporal_schema.py``), in this index's dialect."""
        if self.pg:
            for s in temporal_schema.POSTGRES_INDEXES:
                self.conn.execute_ddl(s)
        else:
            for s in temporal_schema.SQLITE_INDEXES:
                self.conn.execute(s)

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: Any) -> None:
        # PostgreSQL's meta.value is TEXT: every reader converts (int(), bytes.fromhex()).
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value) if self.pg else value))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction: SQLite's write lock, or PostgreSQL's with the index's lock."""
        if self.pg:
            with self.conn.transaction():
                self.conn.lock()
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @property
    def position(self) -> int:
        return int(self.meta("position") or 0)

    @property
    def horizon(self) -> int | None:
        """The latest instant of the events applied (None: none yet). Every period starts
        and ends at an event's instant, so at an instant t >= horizon every period has
        started and none ends after t: the periods live at t are exactly the open ones
        (end IS NULL)."""
        h = self.meta("horizon")
        return None if h is None else int(h)

    # -- what verification found (issue 17.4, 14.4) ----------------------------------------

    def mismatch(self) -> dict[str, Any] | None:
        """The mismatch a chain check (verify-log, digest, rebuild-index, a catch-up's anchor)
        found and recorded, or None: while it is recorded, queries refuse the log."""
        raw = self.meta("log_mismatch")
        return json.loads(raw) if raw else None

    def record_mismatch(self, position: int, why: str, by: str, against: str = "record") -> dict[str, Any]:
        found = {"position": position, "why": why, "found_by": by, "found_at": _utc_now(), "against": against}
        self._set_meta_now("log_mismatch", json.dumps(found, sort_keys=True))
        return found

    def clear_mismatch(self) -> None:
        if self.meta("log_mismatch") is not None:
            with self._writing():
                self.conn.execute("DELETE FROM meta WHERE key=?", ("log_mismatch",))

    def acceptances(self) -> list[dict[str, Any]]:
        """Every ``rebuild-index --accept-current-log``: who, when, what they accepted."""
        raw = self.meta("accepted_logs")
        return json.loads(raw) if raw else []

    def _set_meta_now(self, key: str, value: str) -> None:
        """One meta value written at once (its own transaction); a read-only index (a
        ``TemporalStore.copy_of``) is written in its copy only."""
        with self._writing():
            self.set_meta(key, value)

    def refuse_if_broken(self) -> None:
        """LogMismatch if a chain check found the log tampered with: no answer from it."""
        found = self.mismatch()
        if found:
            raise chain.LogMismatch(
                f"the log does not match its recorded hash chain at position {found['position']} "
                f"({found['why']}; found by {found['found_by']} at {found['found_at']}): audit queries "
                "refuse to answer from it; restore the ledger from a good copy (then verify-log), or, "
                "if the change is known and accepted, `authledger rebuild-index --accept-current-log "
                "--actor NAME`", found["position"])

    def chain_head(self) -> tuple[bytes, int]:
        """The recorded chain's head and the position it covers."""
        head = self.meta("chain_head")
        return (bytes.fromhex(head) if head else chain.GENESIS), int(self.meta("chain_position") or 0)

    # -- catching up ---------------------------------------------------------------------

    def catch_up(self, log: LogReader, *, until: int | None = None, record_chain: bool = True) -> int:
        """Apply the log's events after the recorded position (and extend the chain); return how many."""
        self.refuse_if_broken()
        target = log.max_position() if until is None else until
        if self.position >= target and (not record_chain or self.chain_head()[1] >= target):
            self._check_anchor(log)
            return 0
        with self._writing(), collector_paused():
            return self._apply_log(log, until, record_chain)

    def rebuild(self, log: LogReader, accepted: dict[str, Any] | None = None) -> int:
        """Empty the index and build it again from the whole log, in one transaction: readers
        see the old index until it commits, and a failure (a crash, an undecodable row) keeps
        it. The log's chain becomes the recorded one; ``accepted`` (who accepted a log that
        did not match the old record, when, what) is kept with the earlier acceptances."""
        kept = self.acceptances() + ([accepted] if accepted else [])
        with self._writing(), collector_paused():
            for table in REBUILT:
                self.conn.execute(f"DELETE FROM {table}")
            self.set_meta("schema", SCHEMA_VERSION)
            n = self._apply_log(log, None, True)
            if accepted:
                accepted["new_digest"] = chain.format_digest(*self.chain_head())
            if kept:
                self.set_meta("accepted_logs", json.dumps(kept, sort_keys=True))
            return n

    def _apply_log(self, log: LogReader, until: int | None, record_chain: bool) -> int:
        """``catch_up``'s work, inside the write transaction."""
        start = self.position  # re-read inside the write lock: another caller may have won
        self._check_anchor(log)
        head, chain_pos = self.chain_head()
        recorded = chain.RecordedChain(self.conn, head, int(self.meta("chain_count") or 0))
        together = record_chain and chain_pos == start  # one pass does both
        builder = self._builder()
        apply, uuids = builder.apply, UuidCache()
        n = flushed = 0
        fast = builder.apply_rows
        for batch in log.batches(start, until, page=PAGE):
            if together:
                recorded.extend(batch)
            if start:  # an index with apps in it: their states in a few queries, not a few per app
                self._prefetch(builder, batch, uuids)
            try:
                fast(batch, uuids)
            except Exception:  # noqa: BLE001 - redo the batch carefully, for a precise error
                for pos, oid, _ver, topic, state in batch:
                    if pos > builder.position:
                        apply(pos, topic, uuids[oid], decode_fast(pos, topic, state))
                raise AssertionError("fast path failed where the careful one did not") from None
            n += len(batch)
            if n - flushed >= FLUSH_EVERY:
                self._flush(builder, final=False)
                flushed = n
                if len(uuids) > 1_000_000:
                    uuids.clear()
        if n:
            self._flush(builder)
            self.set_meta("position", builder.position)
            self.set_meta("anchor", row_hash(log.row(builder.position)))
            self._create_indexes()
            if self.pg and n >= 10_000:  # fresh statistics: the next catch-up's lookups use the indexes
                for table in REBUILT:
                    self.conn.execute(f"ANALYZE {table}")
        if record_chain and not together:  # the chain lags the index: a pass of its own
            for batch in log.batches(chain_pos, max(self.position, chain_pos), page=PAGE):
                recorded.extend(batch)
        if record_chain and recorded.position:
            recorded.flush()
            self.set_meta("chain_head", recorded.head.hex())
            self.set_meta("chain_count", recorded.count)
            self.set_meta("chain_position", recorded.position)
        return n

    def _check_anchor(self, log: LogReader) -> None:
        pos = self.position
        if pos == 0:
            return
        if row_hash(log.row(pos)) != (self.meta("anchor") or ""):
            # Not recorded as a mismatch: another ledger's file given by mistake fails here
            # too, and that is no reason to refuse this index's own ledger later.
            raise chain.LogMismatch(
                f"the ledger's row at position {pos} is not the one the audit index applied; "
                "run `authledger verify-log`", pos)

    def apply_rows(self, rows: list[tuple[int, str, str, dict[str, Any]]]) -> None:
        """Apply already-decoded events (an export's) and record the position; no chain."""
        with self._writing(), collector_paused():
            builder = self._builder()
            for pos, oid, topic, state in rows:
                builder.apply(pos, topic, oid, state)
            self._flush(builder)
            self.set_meta("position", builder.position)
            self._create_indexes()

    # -- state of one app, for continuing its periods ---------------------------------------

    def _load_app(self, app_id: str) -> AppState | None:
        if app_id in self._prefetched:
            return self._prefetched.pop(app_id)
        return self._load_apps([app_id]).get(app_id)

    def _builder(self) -> TemporalBuilder:
        """A builder that continues this index: its apps load on demand, its deleted APIs known."""
        builder = TemporalBuilder(self._load_app, self._grant_holders)
        builder.deleted_apis = dict(self.conn.execute(
            "SELECT api_id, deleted_pos FROM apis WHERE deleted IS NOT NULL").fetchall())
        return builder

    def _grant_holders(self, api_id: str) -> list[str]:
        """The apps with an open grant period on the API in the index (as last flushed)."""
        return [a for (a,) in self.conn.execute(
            "SELECT DISTINCT app_id FROM grant_periods WHERE api_id=? AND end IS NULL", (api_id,))]

    def _prefetch(self, builder: TemporalBuilder, batch: list[Row], uuids: UuidCache) -> None:
        """The stored state of every app the batch names and the builder does not hold, in a few
        queries (on PostgreSQL each is a round trip). Only for this batch: the next replaces it,
        and a flush (which changes stored states) happens only between batches."""
        ids = {uuids[oid] for _pos, oid, _ver, _topic, _state in batch}
        ids.difference_update(builder.apps)
        found = self._load_apps(sorted(ids)) if ids else {}
        self._prefetched = {i: found.get(i) for i in ids}

    def _load_apps(self, app_ids: list[str]) -> dict[str, AppState]:
        """The stored state of these apps (those in the index), open periods included."""
        c = self.conn
        out: dict[str, AppState] = {}
        for k in range(0, len(app_ids), 500):
            chunk = app_ids[k:k + 500]
            marks = ",".join("?" * len(chunk))
            for app_id, owner, created, cpos, deleted, dpos in c.execute(
                    "SELECT app_id, owner, created, created_pos, deleted, deleted_pos FROM apps"
                    f" WHERE app_id IN ({marks})", chunk):
                app = out[app_id] = AppState(app_id, owner, created, cpos)
                app.deleted, app.deleted_pos, app.dirty = deleted, dpos, False
            found = [a for a in chunk if a in out]
            if not found:
                continue
            marks = ",".join("?" * len(found))
            for app_id, pid, start, spos in c.execute(
                    f"SELECT app_id, id, start, start_pos FROM enabled_periods WHERE app_id IN ({marks})"
                    " AND end IS NULL", found):
                out[app_id].enabled = Period(app_id, start, spos, pid)
            for app_id, pid, cred, kind, display, start, spos in c.execute(
                    "SELECT app_id, id, cred, kind, display, start, start_pos FROM cred_periods"
                    f" WHERE app_id IN ({marks}) AND end IS NULL", found):
                out[app_id].creds[cred] = CredPeriod(app_id, cred, kind, display, start, spos, pid)
            for app_id, pid, api, stage, until, start, spos in c.execute(
                    "SELECT app_id, id, api_id, stage, until, start, start_pos FROM grant_periods"
                    f" WHERE app_id IN ({marks}) AND end IS NULL", found):
                out[app_id].grants[(api, stage)] = GrantPeriod(app_id, api, stage, until, start, spos, pid)
        return out

    def _next_id(self, table: str) -> int:
        return (self.conn.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0) + 1

    def _flush(self, b: TemporalBuilder, *, final: bool = True) -> None:
        """Write what the builder hands over: new periods as they are (each a list laid out as
        its row; ids given here, the writer holding the lock) and the ends of loaded periods
        it closed. Mid-build (not final) new periods still open wait in the builder."""
        c = self.conn
        for table, (rows, ended) in b.take_rows(final=final).items():
            if rows:
                for i, p in enumerate(rows, self._next_id(table)):
                    p[0] = i
                marks = ",".join("?" * len(rows[0]))
                c.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            if ended:
                c.executemany(f"UPDATE {table} SET end=?, end_pos=? WHERE id=?", ended)
        if b.horizon is not None and (self.horizon is None or b.horizon > self.horizon):
            self.set_meta("horizon", b.horizon)
        c.executemany("INSERT OR REPLACE INTO apis VALUES (?,?,?,?,?,?,?,?,?)", b.new_apis)
        for sql, params in b.api_updates:  # after the inserts: a row may be new in this flush
            c.execute(sql, params)
        c.executemany("INSERT INTO api_settings VALUES (?,?,?,?,?,?)", b.new_api_settings)
        c.executemany("INSERT INTO app_names VALUES (?,?,?,?)", b.new_names)
        b.new_apis.clear()
        b.api_updates.clear()
        b.new_api_settings.clear()
        b.new_names.clear()
        if final or len(b.apps) > 100_000:  # mid-build, apps change again: write them once, at the end
            c.executemany(
                "INSERT OR REPLACE INTO apps VALUES (?,?,?,?,?,?)",
                [(a.app_id, a.owner, a.created, a.created_pos, a.deleted, a.deleted_pos)
                 for a in b.apps.values() if a.dirty])
            for a in b.apps.values():
                a.dirty = False
        # Keep only apps with open periods in memory between flushes of a long build.
        if len(b.apps) > 100_000:
            b.apps = {k: a for k, a in b.apps.items() if a.deleted is None}


def open_index(db_path: str, *, catch_up: bool = True, log: LogReader | None = None,
               index: str | None = None) -> tuple[TemporalStore, LogReader]:
    """The audit index of a ledger (a file, or a postgresql:// URL), caught up with the log
    (``log``: a reader of it already open, e.g. a server's ``log_for(ledger)``).

    ``index``: a SQLite file to keep the index in instead (``--index``; for a ledger this
    process cannot write, or a PostgreSQL role that may only read). Without it, a SQLite
    ledger whose index cannot be written beside it (a read-only copy) gets an index in
    memory for this call (``store.path == ":memory:"``), started from a copy of the index
    beside it when there is one (its recorded chain and verification record come along)."""
    from ledger.store import is_url

    log = log or open_log(db_path)
    path = where_index(db_path, index)
    if is_url(path):  # in the ledger's database: created in place, caught up under its lock
        store = TemporalStore(path)
        try:
            if catch_up:
                store.catch_up(log)
        except BaseException:
            store.close()
            raise
        return store, log
    if path == ":memory:":
        beside = index_path(db_path)
        store = TemporalStore.copy_of(beside) if os.path.exists(beside) else TemporalStore(":memory:")
        if catch_up:
            try:
                # Nowhere to keep what a verify-log found: check the whole log against the
                # copied record now, every time (costs a verify-log; a build costs as much).
                recorded_to = store.chain_head()[1]
                if recorded_to:
                    check_chain(store, log, by="a query on a read-only copy", until=recorded_to)
                store.catch_up(log)
            except BaseException:
                store.close()
                raise
        return store, log
    if index is not None and not os.path.exists(path) and not is_url(db_path) \
            and os.path.exists(index_path(db_path)):
        TemporalStore.copy_of(index_path(db_path), path).close()  # keep the recorded chain
    if catch_up and not os.path.exists(path):
        # First build: into a file of its own without a journal, renamed into place when
        # complete (a crash leaves only the ".building" file; a racing builder's rename wins).
        fresh = f"{path}.building.{os.getpid()}"
        try:
            bulk = TemporalStore(fresh, bulk=True)
            bulk.catch_up(log)
            bulk.close()
            os.replace(fresh, path)
        finally:
            if os.path.exists(fresh):
                os.remove(fresh)
    store = TemporalStore(path)
    if catch_up:
        try:
            store.catch_up(log)
        except BaseException:
            store.close()
            raise
    return store, log


def where_index(db_path: str, index: str | None = None) -> str:
    """Where this call keeps the audit index: ``index`` when given (a SQLite file), the
    PostgreSQL ledger's own tables, the file beside a SQLite ledger when this process can
    write it there, else ``:memory:`` (a read-only copy of the ledger)."""
    from ledger.store import can_write, is_url

    if index is not None:
        if not index.strip():
            raise InvalidInput("--index must name a file", field="index")
        directory = os.path.dirname(os.path.abspath(index))
        if not os.path.isdir(directory):
            raise InvalidInput(f"--index: folder does not exist: {directory}", field="index")
        if not can_write(index):
            raise InvalidInput(f"--index: cannot write {index} (read-only); give a writable path", field="index")
        return index
    if is_url(db_path):
        return db_path
    beside = index_path(db_path)
    return beside if can_write(beside) else ":memory:"


def existing_index(db_path: str, index: str | None = None) -> TemporalStore | None:
    """The ledger's audit index as it stands (not caught up), or None if it was never built:
    what verify-log compares the log with. Creates nothing: an index this process cannot
    write (a read-only copy) is read through a copy in memory; an ``index`` file that does
    not exist yet falls back to the ledger's own index."""
    from ledger.store import can_write, is_url

    if index is not None:
        where_index(db_path, index)  # the same checks as a query's
        if not os.path.exists(index) and not is_url(db_path) and os.path.exists(index_path(db_path)):
            # Started from the ledger's own index (its record), where what is found is kept.
            return TemporalStore.copy_of(index_path(db_path), index)
        if os.path.exists(index):
            return TemporalStore(index)
    if is_url(db_path):
        from projections.temporal_pg import connect

        conn = connect(db_path)
        built = conn.version() == SCHEMA_VERSION
        conn.close()
        return TemporalStore(db_path) if built else None
    beside = index_path(db_path)
    if not os.path.exists(beside):
        return None
    return TemporalStore(beside) if can_write(beside) else TemporalStore.copy_of(beside)


# -- checking the log against its recorded chain (verify-log, digest, rebuild-index) -----------

def check_chain(store: TemporalStore | None, log: LogReader, *, by: str,
                digest: tuple[bytes, int] | None = None, until: int | None = None) -> chain.Verdict:
    """Recompute the chain over the log (up to ``until``) and compare it with ``store``'s
    recorded chain and with ``digest``. A mismatch is recorded in the index (``by`` names
    the command), so that queries refuse the log from then on, and raised (LogMismatch);
    a pass that checks again the position of a mismatch recorded earlier, the same way
    (against the record, or a digest reaching that far), clears it: the log was restored."""
    recorded: Any = ()
    head = None
    if store is not None:
        recorded = chain.recorded_entries(store.conn)
        h, p = store.chain_head()
        head = (h, p) if p else None
    verdict = chain.verify(rows(log, until=until), recorded, head, digest)
    if not verdict.ok:
        position = verdict.first_bad or 0
        if store is not None:
            found = store.mismatch()
            if not found or found["position"] != position:
                store.record_mismatch(position, verdict.why, by, verdict.against)
        raise chain.LogMismatch(f"log does not match at position {position}: {verdict.why}", position)
    found = store.mismatch() if store is not None else None
    if found is not None and store is not None:
        again = (verdict.checked_recorded and head is not None and found["position"] <= head[1]
                 and found.get("against") != "digest") or (digest is not None and found["position"] <= digest[1])
        if again:
            store.clear_mismatch()
    return verdict


def recomputed_digest(store: TemporalStore, log: LogReader) -> dict[str, Any]:
    """``digest``: the chain head recomputed from the log's rows up to the position the index
    has recorded (just caught up), compared with the recorded chain on the way. A head that
    differs from the recorded one is a LogMismatch (recorded: queries then refuse) naming
    both; else the recomputed head, which equals the recorded one."""
    head, pos = store.chain_head()
    recorded = chain.format_digest(head, pos)
    try:
        verdict = check_chain(store, log, by="digest", until=pos)
    except chain.LogMismatch as e:
        now, last = chain.GENESIS, 0
        for last, now in chain.links(rows(log, until=pos)):
            pass
        raise chain.LogMismatch(
            f"the chain head recomputed from the log ({chain.format_digest(now, last)}) differs from the recorded "
            f"one ({recorded}): {e.message}", e.position) from None
    computed = verdict.head or chain.format_digest(chain.GENESIS, 0)
    new_head, _, at = computed.partition("@")
    return {"digest": computed, "head": new_head, "position": int(at), "recorded_digest": recorded,
            "events": verdict.events}
