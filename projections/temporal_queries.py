"""Audit questions over the temporal index: who could call, access, history, replay.

``AuditQueries`` answers from a ``TemporalStore`` plus an event source (the ledger file,
or a loaded export) that describes the events named as causes. Instants in and out are
µs since the epoch; the CLI turns them into ISO 8601 UTC. AppCodes appear masked
(``****abcd``); sealed secrets never leave the event source. ``replay`` is the exception
that returns a document with ISO instants, as the CLI prints it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ledger.errors import ApiNotFound, AppNotFound, InvalidInput, KeyPairNotFound
from projections import intervals as iv
from projections.log import LogReader
from projections.temporal import PREFIX, decode_fast, hex_to_uuid, iso
from projections.temporal_store import TemporalStore

STAGES = ("RELEASE", "PRE", "TEST")
# class_version: the library's mark of an event class's version (GrantGiven 2), storage metadata.
HIDDEN = {"secret_sealed", "code_sealed", "token_hash", "originator_topic", "class_version", "timestamp", "actor",
          "source"}
_LIVE = "{a}.start <= :t AND ({a}.end IS NULL OR {a}.end > :t)"
_OPEN = "{a}.end IS NULL"  # the same, at t >= TemporalStore.horizon


def public_fields(state: dict[str, Any]) -> dict[str, Any]:
    """An event's own fields as an auditor may see them: no secrets, instants in ISO."""
    out: dict[str, Any] = {}
    for k, v in state.items():
        if k in HIDDEN or isinstance(v, (bytes, bytearray)):
            continue
        if k == "until":
            v = iso(v) if isinstance(v, int) else v
        elif k == "hint":
            k, v = "app_code", "****" + str(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def describe(pos: int, oid: str, topic: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": pos,
        "type": topic.removeprefix(PREFIX),
        "timestamp": iso(state.get("timestamp")),
        "actor": state.get("actor"),
        "source": state.get("source"),
        "originator_id": oid,
        "fields": public_fields(state),
    }


class LedgerEvents:
    """Event descriptions read from the ledger's log by position or by aggregate."""

    def __init__(self, log: LogReader) -> None:
        self.log = log

    def at(self, positions: Iterable[int]) -> dict[int, dict[str, Any]]:
        return {p: describe(p, hex_to_uuid(o), t, decode_fast(p, t, s)) for p, o, _v, t, s in self.log.rows_at(positions)}

    def of(self, originator_id: str) -> list[dict[str, Any]]:
        return [describe(p, hex_to_uuid(o), t, decode_fast(p, t, s)) for p, o, _v, t, s in self.log.rows_of(originator_id)]


class ExportEvents:
    """Event descriptions held in memory (from an export)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.by_pos = {e["position"]: e for e in events}
        self.by_orig: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in events:
            self.by_orig[e["originator_id"]].append(e)

    def at(self, positions: Iterable[int]) -> dict[int, dict[str, Any]]:
        return {p: self.by_pos[p] for p in set(positions) if p in self.by_pos}

    def of(self, originator_id: str) -> list[dict[str, Any]]:
        return list(self.by_orig.get(originator_id, []))


class AuditQueries:
    """The audit questions, answered from the index (µs instants)."""

    def __init__(self, store: TemporalStore, events: LedgerEvents | ExportEvents) -> None:
        self.store = store
        self.conn = store.conn
        self.events = events
        self._apis: dict[str, tuple[Any, ...]] = {}
        self._groups: dict[str, dict[str, str]] = {}

    # -- lookups ---------------------------------------------------------------------------

    def api(self, api_id: str) -> tuple[Any, ...]:
        row = self._apis.get(api_id)
        if row is None:
            row = self.conn.execute("SELECT * FROM apis WHERE api_id=?", (api_id,)).fetchone()
            if row is None:
                raise ApiNotFound(api_id)
            self._apis[api_id] = row
        return row

    def settings_at(self, api_id: str, t: int | None = None) -> tuple[str, str, str]:
        """(name, auth_type, appcode_mode) of the API in force at t (None: now)."""
        api = self.api(api_id)
        if t is None:
            return api[2], api[3], api[4]
        row = self.conn.execute(
            "SELECT name, auth_type, appcode_mode FROM api_settings WHERE api_id=? AND start <= ?"
            " ORDER BY start DESC, pos DESC LIMIT 1", (api_id, t)).fetchone()
        return (api[2], api[3], api[4]) if row is None else (row[0], row[1], row[2])

    def codes_ok(self, api_id: str, t: int | None = None) -> bool:
        """May AppCodes call this API at t (its AppCode mode then was not DISABLE)?"""
        return self.settings_at(api_id, t)[2] != "DISABLE"

    def code_periods(self, api_id: str) -> list[iv.Interval]:
        """When AppCodes could call the API at all: its AppCode mode was not DISABLE (and it
        was not deleted), with the events that opened and closed each period as causes."""
        api = self.api(api_id)
        rows: list[tuple[Any, ...]] = []
        opened: tuple[int, int] | None = None
        for start, pos, mode in self.conn.execute(
                "SELECT start, pos, appcode_mode FROM api_settings WHERE api_id=? ORDER BY start, pos", (api_id,)):
            if mode != "DISABLE" and opened is None:
                opened = (start, pos)
            elif mode == "DISABLE" and opened is not None:
                rows.append((opened[0], start, opened[1], pos))
                opened = None
        if opened is not None:
            deleted, deleted_pos = api[7], api[8]
            rows.append((opened[0], deleted, opened[1], deleted_pos))
        return iv.periods(rows)

    def api_group(self, api_id: str) -> dict[str, str]:
        """The API group an API is routed in: ``{"group_id", "group_name"}``, read from its
        registration (an API's group never changes). An ApiRegistered without ``group_id``
        (ledgers older than groups, or registered without one) is in its owner's default
        group, named ``default``."""
        cached = self._groups.get(api_id)
        if cached is None:
            from ledger.rules import DEFAULT_GROUP_NAME, default_group_id

            fields = next((e["fields"] for e in self.events.of(api_id) if e["type"] == "ApiRegistered"), {})
            group_id = fields.get("group_id")
            name = DEFAULT_GROUP_NAME
            if group_id:
                created = next((e for e in self.events.of(group_id) if e["type"] == "ApiGroupCreated"), None)
                if created is not None:
                    name = created["fields"].get("name", name)
            else:
                owner = fields.get("owner") or self.api(api_id)[1]
                group_id = default_group_id(owner)
            cached = self._groups[api_id] = {"group_id": group_id, "group_name": name}
        return dict(cached)

    def app(self, app_id: str) -> tuple[Any, ...]:
        row = self.conn.execute("SELECT * FROM apps WHERE app_id=?", (app_id,)).fetchone()
        if row is None:
            raise AppNotFound(app_id)
        return row

    def app_for_key(self, app_key: str) -> str:
        row = self.conn.execute("SELECT app_id FROM cred_periods WHERE cred=? AND kind='app_key' LIMIT 1",
                                (app_key,)).fetchone()
        if row is None:
            raise KeyPairNotFound(app_key)
        return str(row[0])

    def app_name(self, app_id: str, t: int | None = None) -> str | None:
        row = self.conn.execute(
            "SELECT name FROM app_names WHERE app_id=? AND start <= ? ORDER BY start DESC, pos DESC LIMIT 1",
            (app_id, t if t is not None else 2**62)).fetchone()
        return None if row is None else row[0]

    # -- at an instant ---------------------------------------------------------------------

    def could_call(self, credential: str, api_id: str, stage: str, t: int, *, kind: str = "app_key") -> bool:
        """Point query: could this AppKey (or AppCode, by hash) call the API in the stage at t?"""
        if kind != "app_key" and not self.codes_ok(api_id, t):
            return False
        row = self.conn.execute(
            "SELECT 1 FROM cred_periods c"
            " JOIN grant_periods g ON g.app_id=c.app_id AND g.api_id=:api AND g.stage=:stage"
            "  AND " + _LIVE.format(a="g") + " AND (g.until IS NULL OR g.until > :t)"
            " JOIN enabled_periods e ON e.app_id=c.app_id AND " + _LIVE.format(a="e") +
            " WHERE c.cred=:cred AND c.kind=:kind AND " + _LIVE.format(a="c") + " LIMIT 1",
            {"api": api_id, "stage": stage, "t": t, "cred": credential,
             "kind": "app_key" if kind == "app_key" else "app_code"}).fetchone()
        return row is not None

    def who_could_call_at(self, api_id: str, t: int, stage: str | None = None) -> list[dict[str, Any]]:
        """Every (app, stage, credential) that could call the API at t."""
        self.api(api_id)
        codes = self.codes_ok(api_id, t)
        horizon = self.store.horizon
        # At or after the horizon the live periods are the open ones: their own small indexes
        # (grant_open, enabled_open, cred_open), not every period the API's history holds.
        live = _OPEN if horizon is not None and t >= horizon else _LIVE
        sql = ("SELECT g.app_id, g.stage, c.kind, c.cred, c.display, g.until FROM grant_periods g"
               " JOIN enabled_periods e ON e.app_id=g.app_id AND " + live.format(a="e") +
               " JOIN cred_periods c ON c.app_id=g.app_id AND " + live.format(a="c") +
               (" AND c.kind='app_key'" if not codes else "") +
               " WHERE g.api_id=:api" + (" AND g.stage=:stage" if stage else "") +
               " AND " + live.format(a="g") + " AND (g.until IS NULL OR g.until > :t)")
        rows = self.conn.execute(sql, {"api": api_id, "stage": stage, "t": t}).fetchall()
        rows.sort()  # cheaper here than an ORDER BY's temporary b-tree
        return [{"app_id": a, "stage": s, "kind": k, "credential": d, "credential_id": c, "grant_until": u}
                for a, s, k, c, d, u in rows]

    def access_at(self, app_id: str, t: int, app_key: str | None = None) -> list[dict[str, Any]]:
        """What the app (or one of its AppKeys) could call at t: (API, stage, credential)."""
        self.app(app_id)
        enabled = self.conn.execute("SELECT 1 FROM enabled_periods e WHERE e.app_id=:app AND " + _LIVE.format(a="e"),
                                    {"app": app_id, "t": t}).fetchone()
        if not enabled:
            return []
        grants = self.conn.execute(
            "SELECT g.api_id, g.stage, g.until FROM grant_periods g WHERE g.app_id=:app AND " + _LIVE.format(a="g") +
            " AND (g.until IS NULL OR g.until > :t) ORDER BY g.api_id, g.stage", {"app": app_id, "t": t}).fetchall()
        creds = self.conn.execute(
            "SELECT c.kind, c.cred, c.display FROM cred_periods c WHERE c.app_id=:app AND " + _LIVE.format(a="c") +
            " ORDER BY c.kind, c.display", {"app": app_id, "t": t}).fetchall()
        if app_key is not None:
            creds = [c for c in creds if c[0] == "app_key" and c[1] == app_key]
        out = []
        for api, stage, until in grants:
            codes = self.codes_ok(api, t)
            for kind, cred, display in creds:
                if kind == "app_key" or codes:
                    out.append({"api_id": api, "stage": stage, "kind": kind, "credential": display,
                                "credential_id": cred, "grant_until": until})
        return out

    # -- over a window ---------------------------------------------------------------------

    def _intervals(self, grant_rows: list[tuple[Any, ...]], lo: int, hi: int,
                   only_cred: str | None = None) -> list[dict[str, Any]]:
        """Per (app, API, stage, credential): the could-call intervals within [lo, hi)."""
        apps = sorted({r[0] for r in grant_rows})
        enabled: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        creds: dict[tuple[str, str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for i in range(0, len(apps), 500):
            chunk = apps[i:i + 500]
            marks = ",".join("?" * len(chunk))
            # Whole histories of the candidates, not only the window: an interval's true start,
            # end and causes may lie outside it (touching periods merge).
            for a, s, e, sp, ep in self.conn.execute(
                    f"SELECT app_id, start, end, start_pos, end_pos FROM enabled_periods WHERE app_id IN ({marks})",
                    chunk):
                enabled[a].append((s, e, sp, ep))
            for a, k, c, d, s, e, sp, ep in self.conn.execute(
                    "SELECT app_id, kind, cred, display, start, end, start_pos, end_pos FROM cred_periods"
                    f" WHERE app_id IN ({marks})", chunk):
                if only_cred is None or c == only_cred:
                    creds[(a, k, c, d)].append((s, e, sp, ep))
        by_app_creds: dict[str, list[tuple[tuple[str, str, str, str], list[iv.Interval]]]] = defaultdict(list)
        for key, rows in creds.items():
            by_app_creds[key[0]].append((key, iv.periods(rows)))
        grants: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for app, api, stage, until, s, e, sp, ep in grant_rows:
            grants[(app, api, stage)].append((s, e, until, sp, ep))
        out = []
        for (app, api, stage), rows in sorted(grants.items()):
            access = iv.intersect(iv.grant_in_force(rows), iv.periods(enabled.get(app, [])))
            if not access:
                continue
            codes = self.code_periods(api)
            for (_a, kind, cred, display), cp in sorted(by_app_creds.get(app, []), key=lambda x: (x[0][1], x[0][3])):
                could = iv.intersect(access, cp)
                if kind != "app_key":  # an AppCode, only while the API's AppCode mode allowed it
                    could = iv.intersect(could, codes)
                for s, e, orig, sclip, eclip in iv.clip(could, lo, hi):
                    out.append({"app_id": app, "api_id": api, "stage": stage, "kind": kind, "credential": display,
                                "credential_id": cred, "start": s, "end": e, "start_cause": orig[2],
                                "end_cause": orig[3], "start_clipped": sclip, "end_clipped": eclip})
        return out

    def who_could_call_between(self, api_id: str, lo: int, hi: int, stage: str | None = None) -> list[dict[str, Any]]:
        self.api(api_id)
        st = (" AND stage=?" if stage else "")
        args = (api_id, *((stage,) if stage else ()))
        apps = [a for (a,) in self.conn.execute(
            "SELECT DISTINCT app_id FROM grant_periods WHERE api_id=?" + st +
            " AND start < ? AND (end IS NULL OR end > ?) AND (until IS NULL OR until > ?)", (*args, hi, lo, lo))]
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(apps), 500):
            chunk = apps[i:i + 500]
            rows += self.conn.execute(
                "SELECT app_id, api_id, stage, until, start, end, start_pos, end_pos FROM grant_periods"
                f" WHERE api_id=?{st} AND app_id IN ({','.join('?' * len(chunk))})", (*args, *chunk)).fetchall()
        return self.with_causes(self._intervals(rows, lo, hi))

    def access_between(self, app_id: str, lo: int, hi: int, app_key: str | None = None) -> list[dict[str, Any]]:
        self.app(app_id)
        rows = self.conn.execute(
            "SELECT app_id, api_id, stage, until, start, end, start_pos, end_pos FROM grant_periods"
            " WHERE app_id=?", (app_id,)).fetchall()
        return self.with_causes(self._intervals(rows, lo, hi, only_cred=app_key))

    def with_causes(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace cause tuples by their description: the event, or the expiry."""
        info = self.events.at({c[1] for r in rows for c in (r["start_cause"], r["end_cause"])
                               if c is not None and c[0] == "event"})

        def cause(c: Any) -> dict[str, Any] | None:
            if c is None:
                return None
            if c[0] == "expiry":
                return {"kind": "expiry", "at": iso(c[1]), "end_set_at_position": c[2]}
            e = info.get(c[1], {})
            return {"kind": "event", "type": e.get("type"), "position": c[1], "timestamp": e.get("timestamp"),
                    "actor": e.get("actor"), "source": e.get("source")}

        for r in rows:
            r["start_cause"], r["end_cause"] = cause(r["start_cause"]), cause(r["end_cause"])
        return rows

    # -- history and replay -----------------------------------------------------------------

    def history(self, *, app_id: str | None = None, api_id: str | None = None,
                app_key: str | None = None) -> list[dict[str, Any]]:
        """The events that shaped an app, an API, or an AppKey, in log order."""
        if sum(x is not None for x in (app_id, api_id, app_key)) != 1:
            raise InvalidInput("history needs exactly one of --app, --api, --app-key", field="app_id")
        if app_id is not None:
            self.app(app_id)
            return self.events.of(app_id)
        if api_id is not None:
            self.api(api_id)
            ps = [p for row in self.conn.execute(
                "SELECT start_pos, end_pos FROM grant_periods WHERE api_id=?", (api_id,)) for p in row if p]
            own = self.events.of(api_id)
            mine = {e["position"] for e in own}  # an ApiDeleted also ended the grants on the API
            found = self.events.at(p for p in ps if p not in mine)
            return own + [found[p] for p in sorted(found)]
        assert app_key is not None
        app = self.app_for_key(app_key)
        first, last, open_ = self.conn.execute(
            "SELECT MIN(start_pos), MAX(end_pos), COUNT(*) - COUNT(end) FROM cred_periods WHERE cred=? AND kind='app_key'",
            (app_key,)).fetchone()
        return [e for e in self.events.of(app) if e["position"] >= first and (open_ or e["position"] <= last)]

    def replay(self, t: int, *, app_id: str | None = None, api_id: str | None = None) -> dict[str, Any]:
        """The authorization state as of t: APIs, apps, live credentials (masked) and grants."""
        c = self.conn
        if app_id is not None:
            self.app(app_id)
        if api_id is not None:
            self.api(api_id)
        apis = []
        for (a, o) in c.execute(
                "SELECT api_id, owner FROM apis WHERE registered <= ? AND (deleted IS NULL OR deleted > ?)"
                + (" AND api_id=?" if api_id else "") + " ORDER BY api_id", (t, t, *((api_id,) if api_id else ()))):
            n, at, m = self.settings_at(a, t)
            apis.append({"api_id": a, "owner": o, "name": n, "auth_type": at, "appcode_mode": m})
        args: dict[str, Any] = {"t": t, "app": app_id, "api": api_id}
        app_filter = " AND app_id=:app" if app_id else ""
        apps: dict[str, dict[str, Any]] = {}
        for a, o in c.execute("SELECT app_id, owner FROM apps WHERE created <= :t AND (deleted IS NULL OR deleted > :t)"
                              + app_filter + " ORDER BY app_id", args):
            apps[a] = {"app_id": a, "owner": o, "name": None, "enabled": False, "credentials": [], "grants": []}
        for a, name in c.execute("SELECT app_id, name FROM app_names WHERE start <= :t" + app_filter +
                                 " ORDER BY app_id, start, pos", args):
            if a in apps:
                apps[a]["name"] = name
        for (a,) in c.execute("SELECT app_id FROM enabled_periods e WHERE " + _LIVE.format(a="e") + app_filter, args):
            if a in apps:
                apps[a]["enabled"] = True
        for a, k, d in c.execute("SELECT app_id, kind, display FROM cred_periods c WHERE " + _LIVE.format(a="c") +
                                 app_filter + " ORDER BY app_id, kind, display", args):
            if a in apps:
                apps[a]["credentials"].append({"kind": k, "credential": d})
        for a, api, stage, until in c.execute(
                "SELECT app_id, api_id, stage, until FROM grant_periods g WHERE " + _LIVE.format(a="g") + app_filter
                + (" AND api_id=:api" if api_id else "") + " ORDER BY app_id, api_id, stage", args):
            if a in apps:
                apps[a]["grants"].append({"api_id": api, "stage": stage, "until": iso(until),
                                          "in_force": until is None or until > t})
        out_apps = list(apps.values())
        if api_id is not None and app_id is None:
            out_apps = [a for a in out_apps if a["grants"]]
        return {"at": iso(t), "apis": apis, "apps": out_apps}
