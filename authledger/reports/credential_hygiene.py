"""Credential hygiene at an instant: stale secrets, spare key pairs, AppCodes, forgotten grants.

Read from the temporal index at T (factor periods live at T) and, for when a secret was
last set, the app's events (a reset that keeps the AppKey changes only the secret, so it
leaves no period boundary):

- key pairs whose secret has not been set (added or reset) for more than N days;
- apps holding more than one live key pair;
- AppCodes that could call, at T, an API whose AppCode mode allows them;
- disabled apps that still hold grants in force;
- grants that expire within N days of T;
- grants whose end time has passed but that were never revoked.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from projections.temporal import to_micros
from projections.temporal_queries import AuditQueries
from authledger.reports.common import Lookups, iso

NAME = "credential-hygiene"
TITLE = "Credential hygiene"
DAY = 86_400_000_000
_LIVE = "{a}.start <= :t AND ({a}.end IS NULL OR {a}.end > :t)"


def _secret_set_at(events: list[dict[str, Any]], opened: dict[str, Any], app_key: str, t: int) -> tuple[int, str]:
    """(position, ISO timestamp) of the last event at or before t that set this AppKey's secret:
    the one that opened its period (added, or reset to this AppKey), or a later reset keeping it."""
    found = (opened["position"], opened["timestamp"])
    for e in events:
        f = e["fields"]
        if (e["type"] == "KeyPairReset" and f.get("app_key") == app_key and f.get("new_app_key") == app_key
                and e["position"] > found[0] and _us(e["timestamp"]) <= t):
            found = (e["position"], e["timestamp"])
    return found


def _us(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def build(q: AuditQueries, at: int, days: int = 90) -> dict[str, Any]:
    look = Lookups(q)
    c, args = q.conn, {"t": at}
    horizon = at + days * DAY

    live_apps = {a for (a,) in c.execute(
        "SELECT app_id FROM apps WHERE created <= :t AND (deleted IS NULL OR deleted > :t)", args)}
    enabled = {a for (a,) in c.execute("SELECT app_id FROM enabled_periods e WHERE " + _LIVE.format(a="e"), args)}

    keys: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for app_id, cred, start, spos in c.execute(
            "SELECT app_id, cred, start, start_pos FROM cred_periods c WHERE kind='app_key' AND "
            + _LIVE.format(a="c"), args):
        keys[app_id].append((cred, start, spos))

    stale = []
    opened = q.events.at(spos for ks in keys.values() for _c, _s, spos in ks)
    for app_id in sorted(keys):
        history = q.events.of(app_id)
        for cred, _start, spos in sorted(keys[app_id]):
            pos, ts = _secret_set_at(history, opened[spos], cred, at)
            age = (at - _us(ts)) // DAY
            if at - _us(ts) > days * DAY:
                stale.append({"app_id": app_id, "app_name": look.app_name(app_id, at),
                              "owner": look.app_owner.get(app_id), "app_key": cred, "secret_set_at": ts,
                              "secret_set_position": pos, "age_days": age, "enabled": app_id in enabled})

    several = [{"app_id": a, "app_name": look.app_name(a, at), "owner": look.app_owner.get(a),
                "key_pairs": len(keys[a]), "app_keys": sorted(k for k, _s, _p in keys[a]), "enabled": a in enabled}
               for a in sorted(keys) if len(keys[a]) > 1]

    codes = []
    for api in look.apis_sorted(registered_by=at):
        if api["appcode_mode"] == "DISABLE":
            continue
        for r in q.who_could_call_at(api["api_id"], at):
            if r["kind"] == "app_code":
                codes.append({"api_id": api["api_id"], "api_name": api["name"], "appcode_mode": api["appcode_mode"],
                              "stage": r["stage"], "app_id": r["app_id"], "app_name": look.app_name(r["app_id"], at),
                              "owner": look.app_owner.get(r["app_id"]), "app_code": r["credential"]})
    codes.sort(key=lambda r: (r["api_name"], r["api_id"], r["stage"], r["app_name"] or "", r["app_id"], r["app_code"]))

    grants = c.execute(
        "SELECT app_id, api_id, stage, until, start, start_pos FROM grant_periods g WHERE " + _LIVE.format(a="g")
        + " ORDER BY app_id, api_id, stage", args).fetchall()
    disabled, expiring, expired = [], [], []
    for app_id, api_id, stage, until, start, spos in grants:
        api = look.apis.get(api_id, {})
        row = {"app_id": app_id, "app_name": look.app_name(app_id, at), "owner": look.app_owner.get(app_id),
               "api_id": api_id, "api_name": api.get("name"), "api_owner": api.get("owner"), "stage": stage,
               "until": iso(until), "since": iso(start), "set_at_position": spos}
        in_force = until is None or until > at
        if app_id in live_apps and app_id not in enabled and in_force:
            disabled.append(row)
        if until is not None and at < until <= horizon:
            expiring.append({**row, "days_left": (until - at) // DAY, "enabled": app_id in enabled})
        if until is not None and until <= at:
            expired.append({**row, "expired_days_ago": (at - until) // DAY, "enabled": app_id in enabled})
    expiring.sort(key=lambda r: (r["until"], r["app_id"], r["api_id"], r["stage"]))

    findings = {"stale_secrets": stale, "several_key_pairs": several, "app_codes_in_use": codes,
                "disabled_apps_with_grants": disabled, "grants_expiring_soon": expiring,
                "expired_grants_not_revoked": expired}
    return {"report": NAME, "at": iso(at), "days": days, "position": q.store.position,
            "summary": {k: len(v) for k, v in findings.items()}, "findings": findings}


def tables(doc: dict[str, Any]) -> list[Any]:
    from authledger.reports.render import Table

    f, n = doc["findings"], doc["days"]
    app = [("APP", "app_name"), ("APP ID", "app_id"), ("OWNER", "owner")]
    grant = [*app, ("API", "api_name"), ("API ID", "api_id"), ("STAGE", "stage"), ("UNTIL", "until")]
    return [
        Table(f"Secrets not reset for more than {n} days", [*app, ("APPKEY", "app_key"),
              ("SECRET SET AT", "secret_set_at"), ("AGE (DAYS)", "age_days"), ("ENABLED", "enabled")],
              f["stale_secrets"]),
        Table("Apps with more than one live key pair", [*app, ("KEY PAIRS", "key_pairs"), ("APPKEYS", "app_keys"),
              ("ENABLED", "enabled")], f["several_key_pairs"]),
        Table("AppCodes that could call APIs allowing them", [("API", "api_name"), ("API ID", "api_id"),
              ("MODE", "appcode_mode"), ("STAGE", "stage"), *app, ("APPCODE", "app_code")], f["app_codes_in_use"]),
        Table("Disabled apps still holding grants", grant, f["disabled_apps_with_grants"]),
        Table(f"Grants expiring within {n} days", [*grant, ("DAYS LEFT", "days_left"), ("ENABLED", "enabled")],
              f["grants_expiring_soon"]),
        Table("Grants expired but never revoked", [*grant, ("EXPIRED DAYS AGO", "expired_days_ago"),
              ("ENABLED", "enabled")], f["expired_grants_not_revoked"]),
    ]
