"""Access changes over a period: every change of who could call what, grouped by API.

A change is a boundary of a could-call interval (``who_could_call_between``) that lies in
the window ``[from, to)``: access gained (granted, renewed, enabled, key or code added,
app created) or lost (revoked, expired, disabled, key or code deleted or reset, app
deleted), with the event that caused it — its actor, timestamp and position — or the
expiry. The credentials of one app that changed together form one row.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from projections.temporal_queries import AuditQueries
from authledger.reports.access_review import intervals_doc
from authledger.reports.common import Lookups, cause_key, iso, label, slim_cause
from authledger.reports.source import history_span

NAME = "access-changes"
TITLE = "Access changes"


def changes_of(rows: list[dict[str, Any]], lo: int, hi: int) -> list[dict[str, Any]]:
    """Interval boundaries inside [lo, hi) → changes, credentials of one cause merged."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        ends = [("gained", r["start"], r["start_cause"])] if not r["start_clipped"] else []
        if r["end"] is not None and not r["end_clipped"] and r["end"] < hi:
            ends.append(("lost", r["end"], r["end_cause"]))
        for direction, t, cause in ends:
            if not lo <= t < hi:
                continue
            pos = cause.get("position") if cause["kind"] == "event" else cause.get("end_set_at_position")
            key = (t, r["stage"], r["app_id"], direction, cause_key(cause), pos)
            c = found.setdefault(key, {
                "at": iso(t), "stage": r["stage"], "app_id": r["app_id"], "direction": direction,
                "change": label(cause), "actor": cause.get("actor"), "position": pos,
                "cause": slim_cause(cause), "credentials": []})
            c["credentials"].append({"kind": r["kind"], "credential": r["credential"]})
    out = []
    for key in sorted(found, key=lambda k: (k[0], k[5] or 0, k[1], k[2], k[3])):
        c = found[key]
        c["credentials"].sort(key=lambda x: (x["kind"], x["credential"]))
        out.append(c)
    return out


def build(q: AuditQueries, lo: int | None = None, hi: int | None = None) -> dict[str, Any]:
    look = Lookups(q)
    if lo is None or hi is None:
        first, last = history_span(q)
        lo, hi = first, (last // 1_000_000 + 1) * 1_000_000  # the next whole second
    apis = []
    counts: Counter[str] = Counter()
    for api in look.apis_sorted():
        raw = q.who_could_call_between(api["api_id"], lo, hi)
        changes = changes_of(raw, lo, hi)
        for c in changes:
            c["app_name"] = look.app_name(c["app_id"], None)
            c["owner"] = look.app_owner.get(c["app_id"])
            counts[c["change"]] += 1
        timeline = intervals_doc(raw)
        if not changes and not timeline:
            continue
        apis.append({"api_id": api["api_id"], "name": api["name"], "owner": api["owner"],
                     **q.api_group(api["api_id"]), "changes": changes, "intervals": timeline,
                     "app_names": {a: look.app_name(a, None) for a in sorted({i["app_id"] for i in timeline})}})
    summary = {"apis_with_changes": sum(1 for a in apis if a["changes"]),
               "changes": sum(counts.values()), "by_change": dict(sorted(counts.items()))}
    return {"report": NAME, "from": iso(lo), "to": iso(hi), "position": q.store.position,
            "window": {"from": iso(lo), "to": iso(hi)}, "summary": summary, "apis": apis}


def tables(doc: dict[str, Any]) -> list[Any]:
    from authledger.reports.render import Table

    cols = [("AT", "at"), ("STAGE", "stage"), ("ACCESS", "direction"), ("CHANGE", "change"),
            ("APP", "app_name"), ("APP ID", "app_id"), ("OWNER", "owner"), ("CREDENTIALS", "credentials"),
            ("ACTOR", "actor"), ("POSITION", "position")]
    return [Table(f"{api['name']} ({api['owner']}, group {api['group_name']} {api['group_id']}) {api['api_id']}", cols, api["changes"],
                  note="An expiry has no actor; its position is that of the event that set the end time.",
                  timeline={"title": f"{api['name']}: who could call it, {doc['from']} to {doc['to']}",
                            "intervals": api["intervals"], "names": api["app_names"],
                            "from": doc["from"], "to": doc["to"]})
            for api in doc["apis"]]
