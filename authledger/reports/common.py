"""What the reports share: cause labels, lookups of owners and names, grant origins."""

from __future__ import annotations

from typing import Any

from projections.temporal import iso
from projections.temporal_queries import STAGES, AuditQueries

# Event type (or "expiry") → (what happened, in a change list; the mark on a timeline).
CAUSES: dict[str, tuple[str, str]] = {
    "GrantGiven": ("granted", "grant"),
    "GrantEndChanged": ("renewed", "grant"),
    "GrantRevoked": ("revoked", "revoke"),
    "expiry": ("expired", "expiry"),
    "AppDisabled": ("disabled", "disable"),
    "AppEnabled": ("enabled", "enable"),
    "AppCreated": ("app created", "added"),
    "AppDeleted": ("app deleted", "delete"),
    "KeyPairAdded": ("key added", "added"),
    "KeyPairDeleted": ("key deleted", "delete"),
    "KeyPairReset": ("key reset", "reset"),
    "AppCodeAdded": ("code added", "added"),
    "AppCodeDeleted": ("code deleted", "delete"),
    "AppCodeReset": ("code reset", "reset"),
    "ApiModified": ("API modified", "reset"),
    "ApiDeleted": ("API deleted", "delete"),
}
GRANT_EVENTS = ("GrantGiven", "GrantEndChanged", "GrantRevoked")


def cause_key(cause: dict[str, Any] | None) -> str | None:
    """The cause's event type, or ``expiry``; None for an open end."""
    if cause is None:
        return None
    return "expiry" if cause["kind"] == "expiry" else str(cause["type"])


def label(cause: dict[str, Any] | None) -> str:
    k = cause_key(cause)
    return "-" if k is None else CAUSES.get(k, (k, ""))[0]


def mark(cause: dict[str, Any] | None) -> str | None:
    k = cause_key(cause)
    return None if k is None else CAUSES.get(k, ("", "added"))[1]


def slim_cause(cause: dict[str, Any] | None) -> dict[str, Any] | None:
    """A cause as the reports print it (stable keys; no source-specific extras)."""
    if cause is None:
        return None
    if cause["kind"] == "expiry":
        return {"kind": "expiry", "at": cause["at"], "end_set_at_position": cause["end_set_at_position"]}
    return {"kind": "event", "type": cause["type"], "position": cause["position"],
            "timestamp": cause["timestamp"], "actor": cause["actor"], "source": cause["source"]}


class Lookups:
    """Owners and names of apps and APIs, read once from the index."""

    def __init__(self, q: AuditQueries) -> None:
        self.q = q
        self.app_owner = dict(q.conn.execute("SELECT app_id, owner FROM apps").fetchall())
        self.apis = {a: {"api_id": a, "owner": o, "name": n, "auth_type": at, "appcode_mode": m, "registered": r}
                     for a, o, n, at, m, r in q.conn.execute(
                         "SELECT api_id, owner, name, auth_type, appcode_mode, registered FROM apis")}
        self._names: dict[tuple[str, int | None], str | None] = {}

    def app_name(self, app_id: str, t: int | None = None) -> str | None:
        key = (app_id, t)
        if key not in self._names:
            self._names[key] = self.q.app_name(app_id, t)
        return self._names[key]

    def apis_sorted(self, registered_by: int | None = None) -> list[dict[str, Any]]:
        """APIs (registered at or before an instant, if given) by name, then id."""
        return sorted((a for a in self.apis.values() if registered_by is None or a["registered"] <= registered_by),
                      key=lambda a: (a["name"], a["api_id"]))


def grant_origin(q: AuditQueries, app_id: str, api_id: str, stage: str, t: int) -> dict[str, Any] | None:
    """The grant (app, API, stage) in force at t: who gave it and when, and its last change."""
    rows = q.conn.execute(
        "SELECT start, end, start_pos, end_pos, until FROM grant_periods"
        " WHERE app_id=? AND api_id=? AND stage=? AND start <= ? ORDER BY start, start_pos",
        (app_id, api_id, stage, t)).fetchall()
    if not rows:
        return None
    events = q.events.at(r[2] for r in rows)
    current = len(rows) - 1
    given = current
    # Walk back through re-grants (GrantEndChanged) to the GrantGiven that opened the grant.
    while given > 0 and events.get(rows[given][2], {}).get("type") == "GrantEndChanged" \
            and rows[given - 1][3] == rows[given][2]:
        given -= 1
    g, c = events.get(rows[given][2], {}), events.get(rows[current][2], {})
    return {
        "granted_by": g.get("actor"), "granted_at": g.get("timestamp"), "granted_position": rows[given][2],
        "changed_by": c.get("actor") if current != given else None,
        "changed_at": c.get("timestamp") if current != given else None,
    }


__all__ = ["CAUSES", "GRANT_EVENTS", "STAGES", "Lookups", "cause_key", "grant_origin", "iso", "label", "mark",
           "slim_cause"]
