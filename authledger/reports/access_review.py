"""Access review at one instant: for every API and stage, who could call it and on whose say-so.

Per API and stage, the apps (with their owner account) and the credentials (AppKeys,
masked AppCodes) that could call it at T (``who_could_call_at``), the grant's end time,
who granted it and when (the grant periods' events), flagged when the app belongs to
another account than the API or the grant never ends. The timeline of each API (its
could-call intervals from the first event to T, ``who_could_call_between``) comes along.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from projections.temporal_queries import AuditQueries
from authledger.reports.common import STAGES, Lookups, grant_origin, iso, slim_cause
from authledger.reports.source import history_span

NAME = "access-review"
TITLE = "Access review"


def intervals_doc(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Could-call intervals as a report shows them (ISO instants, slim causes, no code hashes)."""
    out = [{"app_id": r["app_id"], "stage": r["stage"], "kind": r["kind"], "credential": r["credential"],
            "start": iso(r["start"]), "end": iso(r["end"]), "start_clipped": r["start_clipped"],
            "end_clipped": r["end_clipped"], "start_cause": slim_cause(r["start_cause"]),
            "end_cause": slim_cause(r["end_cause"])} for r in rows]
    out.sort(key=lambda r: (r["app_id"], r["stage"], r["kind"], r["credential"], r["start"]))
    return out


def build(q: AuditQueries, at: int) -> dict[str, Any]:
    look = Lookups(q)
    first, _last = history_span(q)
    apis = []
    totals = {"apis": 0, "grants": 0, "apps": 0, "credentials": 0, "cross_account": 0, "no_end_time": 0}
    apps_seen: set[str] = set()
    for api in look.apis_sorted(registered_by=at):
        api_id = api["api_id"]
        by_grant: dict[tuple[str, str], dict[str, Any]] = {}
        creds: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        for r in q.who_could_call_at(api_id, at):
            key = (r["stage"], r["app_id"])
            creds[key].append({"kind": r["kind"], "credential": r["credential"]})
            by_grant.setdefault(key, {"until": r["grant_until"]})
        stages: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
        for (stage, app_id), g in by_grant.items():
            owner = look.app_owner.get(app_id)
            origin = grant_origin(q, app_id, api_id, stage, at) or {}
            entry = {
                "app_id": app_id, "app_name": look.app_name(app_id, at), "owner": owner,
                "credentials": sorted(creds[(stage, app_id)], key=lambda c: (c["kind"], c["credential"])),
                "grant_until": iso(g["until"]),
                "granted_by": origin.get("granted_by"), "granted_at": origin.get("granted_at"),
                "granted_position": origin.get("granted_position"),
                "changed_by": origin.get("changed_by"), "changed_at": origin.get("changed_at"),
                "cross_account": owner != api["owner"], "no_end_time": g["until"] is None,
            }
            stages[stage].append(entry)
            totals["grants"] += 1
            totals["credentials"] += len(entry["credentials"])
            totals["cross_account"] += entry["cross_account"]
            totals["no_end_time"] += entry["no_end_time"]
            apps_seen.add(app_id)
        for entries in stages.values():
            entries.sort(key=lambda e: (e["app_name"] or "", e["app_id"]))
        timeline = (intervals_doc(q.who_could_call_between(api_id, min(first, at), at + 1))
                    if first <= at else [])
        apis.append({"api_id": api_id, "name": api["name"], "owner": api["owner"], **q.api_group(api_id),
                     "auth_type": api["auth_type"], "appcode_mode": api["appcode_mode"],
                     "stages": stages, "intervals": timeline,
                     "app_names": {a: look.app_name(a, at) for a in sorted({i["app_id"] for i in timeline})}})
        totals["apis"] += 1
    totals["apps"] = len(apps_seen)
    return {"report": NAME, "at": iso(at), "position": q.store.position,
            "window": {"from": iso(min(first, at)), "to": iso(at)}, "summary": totals, "apis": apis}


def tables(doc: dict[str, Any]) -> list[Any]:
    from authledger.reports.render import Table

    cols = [("STAGE", "stage"), ("APP", "app_name"), ("APP ID", "app_id"), ("OWNER", "owner"),
            ("CREDENTIALS", "credentials"), ("GRANT UNTIL", "grant_until"), ("GRANTED BY", "granted_by"),
            ("GRANTED AT", "granted_at"), ("CROSS-ACCOUNT", "cross_account"), ("NO END TIME", "no_end_time")]
    out = []
    for api in doc["apis"]:
        rows = [{"stage": s, **e} for s, entries in api["stages"].items() for e in entries]
        nobody = [s for s, entries in api["stages"].items() if not entries]
        title = f"{api['name']} ({api['owner']}, group {api['group_name']} {api['group_id']}) {api['api_id']}"
        out.append(Table(
            title, cols, rows,
            note=f"AppCode mode {api['appcode_mode']}." + (f" Nobody could call it in {', '.join(nobody)}."
                                                           if nobody else ""),
            timeline={"title": f"{api['name']}: who could call it, {doc['window']['from']} to {doc['at']}",
                      "intervals": api["intervals"], "names": api["app_names"], "from": doc["window"]["from"],
                      "to": doc["at"], "at": doc["at"]}))
    return out
