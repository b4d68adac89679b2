"""The temporal model of "could call": periods of three independent facts, with causes.

A credential K of app A could call API X in stage S at instant T (docs/app-model.md) when, at T:

- A exists and is enabled                 → an *enabled period* of A,
- K is one of A's live credentials        → a *credential period* of K,
- the grant (A, X, S) exists              → a *grant period* (one per end time it had),
  and T is before that period's end time.

The index stores these factor periods, each ``[start, end)`` in integer microseconds
since the epoch, each boundary tagged with the ledger position of the event that caused
it (``end`` NULL = still open). "Could call" intervals for (app, API, stage, credential)
are their intersection, computed on query (``projections.temporal_queries``): storing
factors, not products, keeps the index a few rows per event and makes replay-as-of-T a
plain lookup. An end time is a boundary with no event (cause ``expiry``).

Boundary convention: an event stamped T takes effect at T (it is in force at T itself);
access ends at an end time T, exclusive. Several events at the same instant apply in
log order; a period that would start and end at the same instant is empty.

Events of one app are assumed stamped in non-decreasing time (the ledger's clock);
``TemporalBuilder`` applies them in log position order.

APIs: ``apis`` holds each API's current settings and when it was deleted; ``api_settings``
their history (one row per registration or modification, in force from its instant on:
an AppCode could call only while the API's AppCode mode was not DISABLE). Deleting an API
closes every grant period on it at that instant, caused by the ApiDeleted event, so every
question (and report) about a later instant finds nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.crypto import mask_code
from ledger.isotime import iso as iso  # re-exported: the read side formats with it
from ledger.transcoder import unpack_raw
from projections.events import ProjectionError
from projections.log import UuidCache as UuidCache
from projections.log import hex_to_uuid as hex_to_uuid

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PREFIX = "authledger:"


# -- instants -----------------------------------------------------------------------------

def to_micros(at: datetime) -> int:
    """A timezone-aware instant as integer microseconds since the epoch (exact)."""
    d = at - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# -- decoding -----------------------------------------------------------------------------

def _micros(state: dict[str, Any]) -> dict[str, Any]:
    """Turn the instants of a state unpacked by ``ledger.transcoder.unpack_raw`` (ns) into µs."""
    state["timestamp"] //= 1000
    until = state.get("until")
    if until is not None:
        state["until"] = until // 1000
    return state


def decode_fast(position: int, topic: str, data: bytes) -> dict[str, Any]:
    """Unpack a stored state with instants as µs integers; ProjectionError if it cannot be."""
    try:
        state = _micros(unpack_raw(data))
    except Exception as e:  # noqa: BLE001 - msgpack raises many types; all mean "corrupt"
        raise ProjectionError(position, topic, f"undecodable state ({type(e).__name__})") from None
    if type(state) is not dict:
        raise ProjectionError(position, topic, "stored state is not a map")
    return state


# -- periods ------------------------------------------------------------------------------
#
# A period is a plain list laid out as its table's row, so that it is written as is (no
# per-row objects or tuples on a build of millions of events); ``id`` is None until the
# row exists. ``end`` and ``end_pos`` sit at END/END_POS (enabled periods: 3/5).

TABLES = ("enabled_periods", "cred_periods", "grant_periods")
END, END_POS = 6, 8  # credential and grant periods
ENABLED_END, ENABLED_END_POS = 3, 5
ENDS = {"enabled_periods": (ENABLED_END, ENABLED_END_POS), "cred_periods": (END, END_POS),
        "grant_periods": (END, END_POS)}


def Period(app_id: str, start: int, start_pos: int, id: int | None = None) -> list[Any]:
    """An enabled period: [id, app_id, start, end, start_pos, end_pos]."""
    return [id, app_id, start, None, start_pos, None]


def CredPeriod(app_id: str, cred: str, kind: str, display: str, start: int, start_pos: int,
               id: int | None = None) -> list[Any]:
    """A credential period: [id, app_id, cred, kind, display, start, end, start_pos, end_pos]."""
    return [id, app_id, cred, kind, display, start, None, start_pos, None]


def GrantPeriod(app_id: str, api_id: str, stage: str, until: int | None, start: int,
                start_pos: int, id: int | None = None) -> list[Any]:
    """A grant period: [id, app_id, api_id, stage, until, start, end, start_pos, end_pos]."""
    return [id, app_id, api_id, stage, until, start, None, start_pos, None]


class AppState:
    """What the builder must remember about an app to continue its periods."""

    __slots__ = (
        "app_id",
        "created",
        "created_pos",
        "creds",
        "deleted",
        "deleted_pos",
        "dirty",
        "enabled",
        "grants",
        "owner",
    )

    def __init__(self, app_id: str, owner: str, created: int, created_pos: int) -> None:
        self.app_id, self.owner, self.created, self.created_pos = app_id, owner, created, created_pos
        self.deleted: int | None = None
        self.deleted_pos: int | None = None
        self.enabled: list[Any] | None = None
        self.creds: dict[str, list[Any]] = {}
        self.grants: dict[tuple[str, str], list[Any]] = {}
        self.dirty = True


Loader = Callable[[str], "AppState | None"]


class TemporalBuilder:
    """Turns events (in log order) into factor periods; ``take_rows`` hands over what to write:
    new periods (rows to insert, open or closed) and closed periods that were loaded from
    the index (their end to update)."""

    def __init__(self, loader: Loader | None = None, holders: Callable[[str], list[str]] | None = None) -> None:
        self.apps: dict[str, AppState] = {}
        self.loader = loader
        # The apps the index (not this builder) holds open grant periods of on an API.
        self.holders = holders
        # Deleted APIs: a grant on one (saved by a writer racing the deletion) grants nothing.
        self.deleted_apis: dict[str, int] = {}  # API id -> position of its ApiDeleted
        self.new_enabled: list[list[Any]] = []
        self.new_creds: list[list[Any]] = []
        self.new_grants: list[list[Any]] = []
        # (end, end_pos, id) of loaded periods this builder closed, per table.
        self.ended: dict[str, list[tuple[int, int, int]]] = {t: [] for t in TABLES}
        self.new_apis: list[tuple[Any, ...]] = []
        self.new_api_settings: list[tuple[Any, ...]] = []
        # Changes of API rows already written or in new_apis, in order: (sql, params).
        self.api_updates: list[tuple[str, tuple[Any, ...]]] = []
        self.new_names: list[tuple[Any, ...]] = []
        self.position = 0
        self.horizon: int | None = None  # the latest instant of the events applied (not ignored)
        self._handlers: dict[str, Callable[[int, str, int, dict[str, Any]], None]] = {
            PREFIX + "ApiRegistered": self._api_registered,
            PREFIX + "ApiModified": self._api_modified,
            PREFIX + "ApiDeleted": self._api_deleted,
            PREFIX + "AppCreated": self._app_created,
            PREFIX + "AppModified": self._app_modified,
            PREFIX + "AppDisabled": self._app_disabled,
            PREFIX + "AppEnabled": self._app_enabled,
            PREFIX + "AppDeleted": self._app_deleted,
            PREFIX + "KeyPairAdded": self._key_pair_added,
            PREFIX + "KeyPairDeleted": self._key_pair_deleted,
            PREFIX + "KeyPairReset": self._key_pair_reset,
            PREFIX + "AppCodeAdded": self._app_code_added,
            PREFIX + "AppCodeDeleted": self._app_code_deleted,
            PREFIX + "AppCodeReset": self._app_code_reset,
            PREFIX + "GrantGiven": self._grant_given,
            PREFIX + "GrantEndChanged": self._grant_end_changed,
            PREFIX + "GrantRevoked": self._grant_revoked,
        }
        self._ignored = {PREFIX + n for n in ("AppKeyClaimed", "AppCodeClaimed", "TokenIssued", "TokenRevoked",
                                                  "IdempotencyKeyUsed",
                                                  # API groups and hosts route requests; they grant nothing
                                                  # (an API's group is read from its events: AuditQueries.api_group)
                                                  "ApiGroupCreated", "HostBound", "HostUnbound", "HostClaimed",
                                                  "HostReleased", "HostReclaimed")}

    def apply(self, position: int, topic: str, originator_id: str, state: dict[str, Any]) -> None:
        """Apply one event; ``originator_id`` a canonical UUID string, instants in µs."""
        handler = self._handlers.get(topic)
        if handler is None:
            if topic not in self._ignored:
                raise ProjectionError(position, topic, "unknown event topic")
        else:
            try:
                t = state["timestamp"]
                opened = len(self.new_grants)
                handler(position, originator_id, t, state)
                if self.deleted_apis and len(self.new_grants) > opened:
                    self._drop_racing_grants(opened)
                if self.horizon is None or t > self.horizon:
                    self.horizon = t
            except ProjectionError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise ProjectionError(position, topic, f"malformed state ({type(e).__name__}: {e})") from None
        self.position = position

    def apply_rows(self, batch: list[tuple[int, str, int, str, bytes]], uuids: dict[str, str]) -> None:
        """``apply`` for a batch of raw rows ``(position, originator hex, version, topic,
        state bytes)``, with the per-event checks left to the caller: on any exception the
        caller replays the batch through ``apply`` for a precise error (TemporalStore). The
        caller pauses the cyclic collector for the whole catch-up
        (``projections.events.collector_paused``: TemporalStore.catch_up / rebuild)."""
        opened = len(self.new_grants)
        try:
            self._apply_rows(batch, uuids)
        finally:
            if self.deleted_apis and len(self.new_grants) > opened:
                self._drop_racing_grants(opened)

    def _drop_racing_grants(self, since: int) -> None:
        """Forget the grant periods opened (from ``new_grants[since]`` on) on a deleted API:
        a grant a writer saved after the API's deletion (it read the API before) grants
        nothing, as in the auth index. Such a period is new, so never written yet."""
        deleted, new = self.deleted_apis, self.new_grants

        def racing(p: list[Any]) -> bool:  # opened by an event after the API's deletion
            d = deleted.get(p[2])
            return d is not None and p[7] > d

        keep = [p for p in new[since:] if not racing(p)]
        if len(keep) == len(new) - since:
            return
        for p in new[since:]:
            if racing(p):
                app = self.apps.get(p[1])
                if app is not None and app.grants.get((p[2], p[3])) is p:
                    del app.grants[(p[2], p[3])]
        del new[since:]
        new.extend(keep)

    def _apply_rows(self, batch: list[tuple[int, str, int, str, bytes]], uuids: dict[str, str]) -> None:
        handlers, ignored, unpack, micros = self._handlers, self._ignored, unpack_raw, _micros
        latest = self.horizon if self.horizon is not None else -2**63
        for pos, oid, _ver, topic, data in batch:
            h = handlers.get(topic)
            if h is None:
                if topic not in ignored:
                    raise ValueError(topic)
            else:
                state = micros(unpack(data))
                t = state["timestamp"]
                h(pos, uuids[oid], t, state)
                if t > latest:
                    latest = t
                    self.horizon = t
            self.position = pos

    # -- helpers --------------------------------------------------------------------------

    def _app(self, app_id: str) -> AppState:
        app = self.apps.get(app_id)
        if app is None and self.loader is not None:
            app = self.loader(app_id)
            if app is not None:
                self.apps[app_id] = app
        if app is None:
            raise ValueError(f"event for unknown app {app_id}")
        return app

    def take_rows(self, *, final: bool = True) -> dict[str, tuple[list[list[Any]], list[tuple[int, int, int]]]]:
        """Per table, the rows to insert and the (end, end_pos, id) to update, handed over once.
        Not final (mid-build): new periods still open stay here, so each is inserted once, closed."""
        out = {}
        for table, new, end in (("enabled_periods", self.new_enabled, ENABLED_END),
                                ("cred_periods", self.new_creds, END), ("grant_periods", self.new_grants, END)):
            if final:
                rows, keep = new, []
            else:
                rows = [p for p in new if p[end] is not None]
                keep = [p for p in new if p[end] is None]
            out[table] = (rows, self.ended[table])
            self.ended[table] = []
            if table == "enabled_periods":
                self.new_enabled = keep
            elif table == "cred_periods":
                self.new_creds = keep
            else:
                self.new_grants = keep
        return out

    def _close(self, table: str, p: list[Any] | None, t: int, pos: int) -> None:
        """End period ``p`` (a row of ``table``) at t by the event at pos; a row already
        written (it has an id) gets its end updated."""
        if p is not None:
            end, end_pos = ENDS[table]
            p[end] = t
            p[end_pos] = pos
            if p[0] is not None:
                self.ended[table].append((t, pos, p[0]))

    def _open_cred(self, app: AppState, cred: str, kind: str, display: str, t: int, pos: int) -> None:
        self._close("cred_periods", app.creds.get(cred), t, pos)
        p = app.creds[cred] = [None, app.app_id, cred, kind, display, t, None, pos, None]
        self.new_creds.append(p)

    def _open_enabled(self, app: AppState, t: int, pos: int) -> None:
        p = app.enabled = [None, app.app_id, t, None, pos, None]
        self.new_enabled.append(p)

    # -- handlers -------------------------------------------------------------------------

    def _api_registered(self, pos: int, api_id: str, t: int, s: dict[str, Any]) -> None:
        self.new_apis.append((api_id, s["owner"], s["name"], s["auth_type"], s["appcode_mode"], t, pos, None, None))
        self.new_api_settings.append((api_id, t, pos, s["name"], s["auth_type"], s["appcode_mode"]))

    def _api_modified(self, pos: int, api_id: str, t: int, s: dict[str, Any]) -> None:
        name, auth_type, mode = s["name"], s["auth_type"], s["appcode_mode"]
        if not all(isinstance(v, str) for v in (name, auth_type, mode)):
            raise TypeError("API settings must be text")
        self.new_api_settings.append((api_id, t, pos, name, auth_type, mode))
        self.api_updates.append(("UPDATE apis SET name=?, auth_type=?, appcode_mode=? WHERE api_id=?",
                                 (name, auth_type, mode, api_id)))

    def _api_deleted(self, pos: int, api_id: str, t: int, s: dict[str, Any]) -> None:
        # Every grant on the API ends now: the apps this builder holds, and those whose open
        # grant periods on it are in the index only (loaded first).
        if self.holders is not None:
            for app_id in self.holders(api_id):
                if app_id not in self.apps:
                    self._app(app_id)
        for app in self.apps.values():
            ended = [key for key in app.grants if key[0] == api_id]
            for key in ended:
                self._close("grant_periods", app.grants.pop(key), t, pos)
        self.api_updates.append(("UPDATE apis SET deleted=?, deleted_pos=? WHERE api_id=?", (t, pos, api_id)))
        self.deleted_apis[api_id] = pos

    def _app_created(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = AppState(app_id, s["owner"], t, pos)
        self.apps[app_id] = app
        self._open_enabled(app, t, pos)
        self.new_names.append((app_id, t, pos, s["name"]))

    def _app_modified(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        self._app(app_id)
        self.new_names.append((app_id, t, pos, s["name"]))

    def _app_disabled(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._close("enabled_periods", app.enabled, t, pos)
        app.enabled = None
        app.dirty = True

    def _app_enabled(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        if app.enabled is None and app.deleted is None:
            self._open_enabled(app, t, pos)
            app.dirty = True

    def _app_deleted(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._close("enabled_periods", app.enabled, t, pos)
        app.enabled = None
        for p in app.creds.values():
            self._close("cred_periods", p, t, pos)
        for g in app.grants.values():
            self._close("grant_periods", g, t, pos)
        app.creds.clear()
        app.grants.clear()
        app.deleted, app.deleted_pos, app.dirty = t, pos, True

    def _key_pair_added(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        key = s["app_key"]
        self._open_cred(self._app(app_id), key, "app_key", key, t, pos)

    def _key_pair_deleted(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._close("cred_periods", app.creds.pop(s["app_key"], None), t, pos)

    def _key_pair_reset(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        old, new = s["app_key"], s["new_app_key"]
        if new == old:
            return  # a new secret, the same credential: its period goes on
        app = self._app(app_id)
        self._close("cred_periods", app.creds.pop(old, None), t, pos)
        self._open_cred(app, new, "app_key", new, t, pos)

    def _app_code_added(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        self._open_cred(self._app(app_id), s["code_hash"], "app_code", mask_code(s["hint"]), t, pos)

    def _app_code_deleted(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._close("cred_periods", app.creds.pop(s["code_hash"], None), t, pos)

    def _app_code_reset(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._close("cred_periods", app.creds.pop(s["code_hash"], None), t, pos)
        self._open_cred(app, s["new_code_hash"], "app_code", mask_code(s["hint"]), t, pos)

    def _grant_given(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        # The hottest handler (renewals): helpers inlined.
        app = self.apps.get(app_id) or self._app(app_id)
        key = (s["api_id"], s["stage"])
        grants = app.grants
        old = grants.get(key)
        if old is not None:
            old[6] = t
            old[8] = pos
            if old[0] is not None:
                self.ended["grant_periods"].append((t, pos, old[0]))
        p = grants[key] = [None, app_id, key[0], key[1], s["until"], t, None, pos, None]
        self.new_grants.append(p)

    _grant_end_changed = _grant_given  # a new period with the new end time

    def _grant_revoked(self, pos: int, app_id: str, t: int, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._close("grant_periods", app.grants.pop((s["api_id"], s["stage"]), None), t, pos)
