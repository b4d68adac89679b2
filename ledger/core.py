"""The ledger's machinery: running one command, saving its events once, lookups, secrets.

The ledger application: every use case is a method; every change is an event.

Order of checks in every command: input validation (InvalidInput), lookups (NotFound),
the acting account's rights (NotPermitted), then the state's rules (Conflict). Nothing
is written unless every check passes, and everything one command writes goes in one
``save()`` — one transaction — so a failed command leaves no trace. Version conflicts
(another writer changed the same app first) are retried a few times by re-running the
whole command on fresh state, which is safe because commands are decisions on state,
not increments.

Exactly once across lost acknowledgements: a command's events (with their generated ids
and credentials) are built once. When the store fails during the save (a connection cut,
PostgreSQL restarting, SQLite locked), the *same* events are saved again — never a re-run
of the command, which would draw new ids. If the first attempt had in fact committed (the
commit reached the store, its acknowledgement did not), the retry meets the unique key
``(originator_id, originator_version)``: the stored events are compared with ours and, if
they are the same, the command succeeded (same receipt, positions looked up). The
library's own PostgreSQL retry of an insert ends the same way. Client retries (a re-sent
HTTP request, a re-run CLI command) are made safe by idempotency keys (ledger.idempotency).

The use cases themselves live in ``ledger.commands`` (one module per concept) and are put
together as ``ledger.application.Ledger``.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, PersistenceError, Transcoder

from ledger import crypto, idempotency, isotime, rules
from ledger.crypto import SecretBox
from ledger.domain import Acting, Api, ApiGroup, App, AppCodeClaim, AppKeyClaim, HostClaim, IdempotencyRecord, acting
from ledger.errors import (
    ApiNotFound,
    AppCodeNotFound,
    AppNotFound,
    ConcurrentChange,
    DuplicateAppCode,
    DuplicateAppKey,
    IdempotencyKeyReused,
    InvalidInput,
    KeyPairNotFound,
    LedgerError,
    NotPermitted,
)
from ledger.positions import position_of
from ledger.snapshots import SNAPSHOT_INTERVAL, LedgerSnapshot
from ledger.store import StoreUnavailable, full_disk_error, is_disk_full, is_postgres, listen_for_commits
from ledger.transcoder import MsgpackTranscoder

T = TypeVar("T")
SOURCES = ("cli", "http", "console", "import", "test")
MAX_RETRIES = 5
# How long a command keeps re-running while the store is locked or unreachable.
STORE_RETRY_SECONDS = 15.0


_STORE_ERRORS = (OperationalError, InterfaceError, sqlite3.OperationalError)


@dataclass
class Receipt:
    """What a command did: the ids it created, secrets to reveal once, and where it landed.

    ``recorded``: the command ran under an idempotency key, and ``events`` counts its
    IdempotencyKeyUsed record too (written even when nothing else changed, so that the key
    is taken); ``changed`` says whether anything else was. ``replayed``: the command had
    already run under the same key; this is the first run's receipt (nothing was written
    now) without its secrets, which ``withheld`` names: they were shown once, by the first
    response.
    """

    events: int = 0
    position: int | None = None
    timestamp: datetime | None = None
    ids: dict[str, Any] = field(default_factory=dict)
    revealed: dict[str, str] = field(default_factory=dict)
    recorded: bool = False
    replayed: bool = False
    withheld: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.ids)
        d.update(self.revealed)
        d["changed"] = self.events - int(self.recorded) > 0
        d["events"] = self.events
        d["position"] = self.position
        d["timestamp"] = isotime.iso(self.timestamp)
        if isinstance(d.get("until"), str):
            # A grant's end time. Receipts recorded under an idempotency key before instants
            # had one format said +00:00; a replay of one answers in today's format.
            with suppress(ValueError):
                d["until"] = isotime.iso(datetime.fromisoformat(d["until"]))
        if self.replayed:
            d["replayed"] = True
            d["withheld"] = list(self.withheld)
        return d


@dataclass(frozen=True)
class _Keyed:
    """The idempotency key the running command records, with its request's fingerprint."""

    account: str
    key: str  # the keyed hash of the client's key: what the record stores and its id is made of
    operation: str
    fingerprint: str
    legacy_key: str = field(default="", repr=False)  # the key as given: only to find pre-hash records

    @property
    def record_id(self) -> UUID:
        return IdempotencyRecord.create_id(self.account, self.key)

    @property
    def legacy_record_id(self) -> UUID:
        """Records written before keys were hashed (CHANGELOG 'Unreleased') hold the key verbatim."""
        return IdempotencyRecord.create_id(self.account, self.legacy_key)


class Changes:
    """What a command decided: the aggregates whose pending events one transaction saves, the
    receipt to fill in, and the claims that name a unique-key refusal (a taken AppKey or
    AppCode). Commands return it; ``LedgerCore._run`` saves it (with the idempotency record
    of the key the command runs under, if any)."""

    __slots__ = ("aggregates", "receipt", "claims")

    def __init__(self, *aggregates: Any, receipt: Receipt, claims: tuple[Any, ...] = ()) -> None:
        self.aggregates = aggregates
        self.receipt = receipt
        self.claims = claims

# Break-glass (issue 14.1): an admin's containment actions on any account's app (disable,
# enable, delete a key pair or an AppCode, revoke a grant). Set only by the admin API's one
# permission gate (authledger.service.permissions) around an admin's call of an operation the table
# marks break-glass; the events carry the admin's own account as their actor.
_break_glass: ContextVar[bool] = ContextVar("authledger_break_glass", default=False)


@contextmanager
def break_glass() -> Iterator[None]:
    """Let the acting account act on apps it does not own (admins only; see above)."""
    token = _break_glass.set(True)
    try:
        yield
    finally:
        _break_glass.reset(token)


def breaking_glass() -> bool:
    return _break_glass.get()


def parse_id(value: object, what: str) -> UUID:
    """A UUID given as text; malformed ids are invalid input."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidInput(f"{what} id must be a UUID, got {rules._short(value)!r}", field=f"{what}_id") from None


class LedgerCore(Application[UUID]):
    """The write side's plumbing shared by every use case (see ``ledger.commands``)."""
    """authledger's write side."""

    name = "Ledger"  # stable: it prefixes settings and names Postgres tables
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "SQLITE_LOCK_TIMEOUT": "30"}
    # The aggregates whose streams grow without bound (ledger/snapshots.py).
    snapshotting_intervals = {App: SNAPSHOT_INTERVAL, Api: SNAPSHOT_INTERVAL, ApiGroup: SNAPSHOT_INTERVAL,
                              HostClaim: SNAPSHOT_INTERVAL}
    snapshot_class = LedgerSnapshot

    def __init__(self, env: dict[str, str] | None = None, *, box: SecretBox) -> None:
        super().__init__(env)
        self.box = box
        if self.snapshots is not None and not _snapshot_table_exists(self.snapshots.recorder):
            # A SQLite file opened without creating tables (read-only: a copy, or a ledger
            # written before snapshots): load from events alone, as before.
            self.snapshots = None
            self.repository.snapshot_store = None
        self._save_listeners: list[Callable[[int], None]] = []
        self._listening: threading.Thread | None = None

    def add_save_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(position)`` after every save in this process (wakes followers at once).

        On PostgreSQL, also after every commit by any other process: a LISTEN on the
        recorder's NOTIFY channel (its own connection, reconnecting after a restart) calls
        ``listener(0)`` (position unknown) for each notification, and once after every
        (re)connect in case something was committed while it was away. So a follower that
        polls (``authledger publish``) sees other processes' writes in milliseconds.
        """
        self._save_listeners.append(listener)
        if self._listening is None and is_postgres(self.recorder):
            self._listening = listen_for_commits(self.recorder, self.env, lambda: self._wake_listeners(0),
                                                 self.closing)

    def _wake_listeners(self, position: int) -> None:
        for listener in list(self._save_listeners):
            listener(position)

    def _notify(self, recordings: list[Any]) -> None:  # type: ignore[override]
        super()._notify(recordings)
        if recordings and self._save_listeners:
            self._wake_listeners(recordings[-1].notification.id)

    def construct_transcoder(self) -> Transcoder:
        return MsgpackTranscoder()

    # -- snapshots (ledger/snapshots.py) ----------------------------------------------

    def _take_snapshots(self, processing_event: Any) -> None:  # type: ignore[override]
        """After a save: snapshot each saved aggregate whose versions crossed a multiple of
        its interval, from the aggregate in hand (its state is what its events made it:
        no re-read). A snapshot that cannot be written (the store away; another process
        wrote the same version first) is skipped: the command's events are already
        committed, and the next multiple takes one."""
        if self.snapshots is None:
            return
        first: dict[Any, int] = {}
        for e in processing_event.events:
            first.setdefault(e.originator_id, e.originator_version)
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            start = first.get(aggregate_id)
            # Versions start..aggregate.version were saved: did they reach a multiple?
            if interval is None or start is None or aggregate.version // interval == (start - 1) // interval:
                continue
            with suppress(PersistenceError, sqlite3.Error):
                self.snapshots.put([LedgerSnapshot.take(aggregate)])

    def take_snapshot(self, aggregate_id: UUID, version: int | None = None, projector_func: Any = None) -> None:  # type: ignore[override]
        """Snapshot the recorded state of an aggregate now (at ``version``, default the last)."""
        if self.snapshots is None:
            raise InvalidInput("this ledger was opened without its snapshot store (read-only)", field="db")
        self.snapshots.put([LedgerSnapshot.take(self.repository.get(aggregate_id, version=version))])

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _acting(self, actor: str, source: str, at: datetime | None) -> Iterator[None]:
        rules.account(actor, "actor")
        if source not in SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", field="source")
        if at is not None:
            at = rules.aware_instant(at, "at")
        token = acting.set(Acting(actor, source, at))
        try:
            yield
        finally:
            acting.reset(token)

    def _run(self, actor: str, source: str, at: datetime | None, command: Callable[[], Changes],
             request: idempotency.Request | None = None) -> Receipt:
        """Run ``command`` (checks, then its ``Changes``) and save what it decided, once.

        ``request``: the idempotency key and request the command runs under (see
        ledger.idempotency): a repeat returns the first run's receipt and writes nothing."""
        with self._acting(actor, source, at):
            if request is None:
                return self._attempts(lambda: self._commit(command(), None))
            keyed = _Keyed(actor, "h1:" + self.box.code_hash("idempotency-key:" + actor + "\n" + request.key),
                           request.operation, self.box.code_hash("idempotency-request:" + request.canonical()),
                           legacy_key=request.key)

            def once() -> Receipt:
                done = self._replay(keyed)  # every attempt: another run may have finished meanwhile
                return done if done is not None else self._commit(command(), keyed)

            try:
                return self._attempts(once)
            except LedgerError as refused:
                # Lost a race with the same key (the other run's claim or record won the
                # save, or changed the state this run's checks saw): that run is the answer.
                try:
                    done = self._replay(keyed)
                except _STORE_ERRORS:
                    raise refused from None
                if done is not None:
                    return done
                raise

    def _attempts(self, command: Callable[[], Receipt]) -> Receipt:
        attempt = 0
        deadline = time.monotonic() + STORE_RETRY_SECONDS
        while True:
            try:
                return command()
            except ConcurrentChange:
                attempt += 1
                if attempt >= MAX_RETRIES:
                    raise
                time.sleep(random.uniform(0.001, 0.01) * attempt)
            except _STORE_ERRORS as e:
                # The store is busy or away while the command read its state (SQLite
                # "database is locked" past the busy timeout, PostgreSQL restarting). The
                # save retries on its own (_store); nothing was written by this attempt, so
                # re-running the command on fresh state is safe; bounded in time.
                if is_disk_full(e, self._db_file()):  # waiting will not make room
                    raise full_disk_error(self._db_file(), wrote=True) from None
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(f"event store unavailable: {_one_line(e)}; retry the command") from None
                time.sleep(random.uniform(0.05, 0.25))

    def _replay(self, keyed: _Keyed) -> Receipt | None:
        """The recorded run of this key: its receipt if the request is the same, else refused."""
        record = self._get(keyed.record_id, IdempotencyRecord)
        if record is None or record.account != keyed.account or record.key != keyed.key:
            record = self._get(keyed.legacy_record_id, IdempotencyRecord)
            if record is None or record.account != keyed.account or record.key != keyed.legacy_key:
                return None
        if record.operation != keyed.operation or record.fingerprint != keyed.fingerprint:
            raise IdempotencyKeyReused()
        return Receipt(events=record.events, position=position_of(self.recorder, record.id, 1),
                       timestamp=record.created_on, ids=dict(record.result), recorded=True, replayed=True,
                       withheld=tuple(record.withheld))

    def _commit(self, changes: Changes, keyed: _Keyed | None) -> Receipt:
        """Save a command's pending events (and ``keyed``'s record) in one transaction; fill in the receipt."""
        aggregates, receipt, claims = changes.aggregates, changes.receipt, changes.claims
        events = [e for a in aggregates for e in a.pending_events]
        if not events and keyed is None:
            return receipt
        if keyed is not None:
            # Recorded last, in the same transaction: the receipt's position is the record's.
            # A command that changed nothing records its key too: the key is taken either way.
            receipt.recorded = True
            record = IdempotencyRecord(
                account=keyed.account, key=keyed.key, operation=keyed.operation, fingerprint=keyed.fingerprint,
                result=dict(receipt.ids), withheld=tuple(sorted(receipt.revealed)), events=len(events) + 1,
            )
            aggregates = (*aggregates, record)
            events += record.pending_events
        try:
            receipt.position = self._store(aggregates, events)
        except IntegrityError:
            for claim in claims:
                if self._exists(claim.id):
                    if isinstance(claim, AppKeyClaim):
                        raise DuplicateAppKey(claim.app_key) from None
                    raise DuplicateAppCode() from None
            raise ConcurrentChange() from None
        receipt.events = len(events)
        receipt.timestamp = events[-1].timestamp
        return receipt

    def _store(self, aggregates: tuple[Any, ...], events: list[Any]) -> int:
        """Save ``events`` (the aggregates' pending events) once; return the last one's position.

        A store error during the save leaves the outcome unknown: the same events are saved
        again (bounded in time). A refusal by the unique key after an unknown outcome, or
        after the library's own retry, may be our own commit: if every one of our events is
        stored as we made it, the save succeeded.
        """
        deadline = time.monotonic() + STORE_RETRY_SECONDS
        objs: tuple[Any, ...] = aggregates  # the save collects (and clears) their pending events
        unknown = False  # an earlier attempt's outcome is unknown (its answer was lost)
        while True:
            try:
                try:
                    recordings = self.save(*objs)
                    return int(recordings[-1].notification.id)
                except IntegrityError:
                    position = self._committed(events)
                    if position is None:
                        raise
                    self._wake_listeners(position)  # as a save that heard its answer would
                    return position
            except _STORE_ERRORS as e:
                # A full disk is an answer, not a lost one: the store rolled the transaction
                # back. Unless an earlier attempt's outcome is unknown, nothing was applied.
                if is_disk_full(e, self._db_file()):
                    if not unknown:
                        raise full_disk_error(self._db_file(), wrote=True) from None
                    raise StoreUnavailable("event store unavailable: the disk is full; the command may or may "
                                           "not have been applied: retry it with an idempotency key") from None
                unknown = True
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(f"event store unavailable: {_one_line(e)}; the command may or may "
                                           "not have been applied: retry it with an idempotency key") from None
                time.sleep(random.uniform(0.05, 0.25))
                objs = tuple(events)

    def _db_file(self) -> str | None:
        """The SQLite file of this ledger (None on PostgreSQL or in memory)."""
        return self.env.get("SQLITE_DBNAME")

    def _committed(self, events: list[Any]) -> int | None:
        """The last event's position if all ``events`` are stored exactly as given, else None."""
        for e in events:
            stored = self.recorder.select_events(e.originator_id, gt=e.originator_version - 1,
                                                 lte=e.originator_version)
            if not stored or self.mapper.to_domain_event(stored[0]) != e:
                return None
        last = events[-1]
        return position_of(self.recorder, last.originator_id, last.originator_version)

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _get(self, aggregate_id: UUID, kind: type[T]) -> T | None:
        try:
            agg = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return agg if isinstance(agg, kind) else None

    # -- lookups ----------------------------------------------------------------------

    def get_app(self, app_id: object) -> App:
        uid = parse_id(app_id, "app")
        app = self._get(uid, App)
        if app is None:
            raise AppNotFound(uid)
        return app

    def get_api(self, api_id: object) -> Api:
        uid = parse_id(api_id, "api")
        api = self._get(uid, Api)
        if api is None:
            raise ApiNotFound(uid)
        return api

    def live_api(self, api_id: object) -> Api:
        """An API that is not deleted (a deleted one is not found: 404, exit 3)."""
        api = self.get_api(api_id)
        api.require_live()
        return api

    def _owned_api(self, api_id: object, actor: str) -> Api:
        api = self.live_api(api_id)
        if api.owner != actor:
            raise NotPermitted(f"account {actor} does not own API {api.id}", field="actor")
        return api

    def app_id_for_key(self, app_key: str) -> UUID:
        claim = self._get(AppKeyClaim.create_id(app_key), AppKeyClaim)
        if claim is None or claim.app_key != app_key:
            raise KeyPairNotFound(app_key)
        return UUID(claim.app_id)

    def app_id_for_code(self, code: str) -> UUID:
        claim = self._get(AppCodeClaim.create_id(self.box.code_hash(code)), AppCodeClaim)
        if claim is None:
            raise AppCodeNotFound()
        return UUID(claim.app_id)

    def _owned_app(self, app_id: object, actor: str) -> App:
        app = self.get_app(app_id)
        if app.owner != actor and not breaking_glass():
            raise NotPermitted(f"account {actor} does not own app {app.id}", field="actor")
        return app

    def _owned_app_or_unknown(self, app_id: UUID, actor: str, unknown: LedgerError) -> App:
        """The app of a credential named by value (an AppKey, an AppCode) if the actor owns
        it; else ``unknown``, exactly as for a credential that does not exist (issue 14.3:
        no oracle on other accounts' credentials)."""
        app = self.get_app(app_id)
        if app.owner != actor:
            raise unknown
        return app

    # -- secrets ----------------------------------------------------------------------

    def _new_key_pair(self, app: App, app_key: str | None, app_secret: str | None, receipt: Receipt) -> AppKeyClaim:
        app_key = app_key if app_key is not None else crypto.generate_app_key()
        secret = app_secret if app_secret is not None else crypto.generate_app_secret()
        claim = self._claim_key(app_key, app)
        app.add_key_pair(app_key, self.box.seal(secret, crypto.keypair_context(str(app.id))))
        receipt.ids["app_key"] = app_key
        receipt.revealed["app_secret"] = secret
        return claim

    def _claim_key(self, app_key: str, app: App) -> AppKeyClaim:
        # Look before writing: a taken AppKey is reported before the app's own rules (the
        # key pair limit), and a refused insert would burn PostgreSQL sequence numbers
        # (gaps in positions). A racing writer still loses at the save (version 1 of the
        # claim is the unique key the store enforces), and _commit names it.
        claim = AppKeyClaim(app_key=app_key, app_id=str(app.id))
        if self._exists(claim.id):
            raise DuplicateAppKey(app_key)
        return claim

    def _new_app_code(self, app: App, code: str | None, receipt: Receipt) -> AppCodeClaim:
        code = code if code is not None else crypto.generate_app_code()
        claim = self._claim_code(code, app)
        app.add_app_code(claim.code_hash, self.box.seal(code, crypto.appcode_context(str(app.id))), crypto.code_hint(code))
        receipt.revealed["app_code"] = code
        return claim

    def _claim_code(self, code: str, app: App) -> AppCodeClaim:
        claim = AppCodeClaim(code_hash=self.box.code_hash(code), app_id=str(app.id))
        if self._exists(claim.id):
            raise DuplicateAppCode()
        return claim

    def open_secret(self, app: App, app_key: str) -> str:
        """The plaintext AppSecret of a live pair (for verification, never for display)."""
        return self.box.open(app.key_pair(app_key).secret_sealed, crypto.keypair_context(str(app.id)))


def _snapshot_table_exists(recorder: Any) -> bool:
    """Does the snapshot recorder's table exist? (Only a SQLite file opened without creating
    tables can lack it; PostgreSQL's is made by ``ensure_tables``.)"""
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if not isinstance(recorder, SQLiteAggregateRecorder):
        return True
    with recorder.datastore.transaction(commit=False) as c:
        c.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (recorder.events_table_name,))
        return c.fetchone() is not None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def _as_list(value: list[object] | object) -> list[object]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
