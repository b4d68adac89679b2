"""Separation of duties: self-granted access, and every grant that crosses accounts.

From the grant periods of the temporal index and the events that bound them:

- self-dealing: a grant event (given, re-granted, revoked) made by an account on one of
  its own APIs for one of its own apps — nobody else looked at that access;
- cross-account grants: every grant period of an app of one account on an API of another,
  with both parties (provider = API owner, consumer = app owner), who opened it and
  how it ended.

With ``--from/--to``, only events (self-dealing) or periods (cross-account) inside or
overlapping the window ``[from, to)``; without, the whole history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.temporal import to_micros
from projections.temporal_queries import AuditQueries
from authledger.reports.common import GRANT_EVENTS, Lookups, iso

NAME = "separation-of-duties"
TITLE = "Separation of duties"


def _us(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def build(q: AuditQueries, lo: int | None = None, hi: int | None = None) -> dict[str, Any]:
    look = Lookups(q)
    periods = q.conn.execute(
        "SELECT app_id, api_id, stage, until, start, end, start_pos, end_pos FROM grant_periods"
        " ORDER BY start_pos, id").fetchall()
    events = q.events.at(p for r in periods for p in (r[6], r[7]) if p)

    def inside(t: int) -> bool:
        return lo is None or hi is None or lo <= t < hi

    self_dealing: dict[int, dict[str, Any]] = {}
    cross = []
    for app_id, api_id, stage, until, start, end, spos, epos in periods:
        api = look.apis.get(api_id, {})
        provider, consumer = api.get("owner"), look.app_owner.get(app_id)
        base = {"app_id": app_id, "app_name": look.app_name(app_id, start), "api_id": api_id,
                "api_name": api.get("name"), "stage": stage}
        for pos in (spos, epos):
            e = events.get(pos) if pos else None
            if (e is None or e["type"] not in GRANT_EVENTS or pos in self_dealing
                    or not inside(_us(e["timestamp"]))):
                continue
            if e["actor"] == provider == consumer:
                self_dealing[pos] = {**base, "account": e["actor"], "event": e["type"], "position": pos,
                                     "at": e["timestamp"], "source": e["source"],
                                     "until": e["fields"].get("until") if e["type"] != "GrantRevoked" else None}
        if provider != consumer:
            overlaps = lo is None or hi is None or (start < hi and (end is None or end > lo))
            if not overlaps:
                continue
            s, en = events.get(spos, {}), events.get(epos, {}) if epos else {}
            cross.append({**base, "provider": provider, "consumer": consumer, "until": iso(until),
                          "start": iso(start), "started_by": s.get("actor"), "started_with": s.get("type"),
                          "start_position": spos, "end": iso(end), "ended_by": en.get("actor"),
                          "ended_with": en.get("type"), "end_position": epos,
                          "no_end_time": until is None})
    rows = [self_dealing[p] for p in sorted(self_dealing)]
    parties = sorted({(c["provider"], c["consumer"]) for c in cross})
    summary = {"self_dealing_changes": len(rows), "cross_account_grant_periods": len(cross),
               "cross_account_pairs": len(parties),
               "accounts_self_dealing": sorted({r["account"] for r in rows})}
    return {"report": NAME, "from": iso(lo), "to": iso(hi), "position": q.store.position,
            "summary": summary, "self_dealing": rows, "cross_account": cross}


def tables(doc: dict[str, Any]) -> list[Any]:
    from authledger.reports.render import Table

    return [
        Table("Changes by an account to its own APIs' grants for its own apps",
              [("AT", "at"), ("ACCOUNT", "account"), ("EVENT", "event"), ("API", "api_name"), ("API ID", "api_id"),
               ("STAGE", "stage"), ("APP", "app_name"), ("APP ID", "app_id"), ("UNTIL", "until"),
               ("SOURCE", "source"), ("POSITION", "position")], doc["self_dealing"]),
        Table("Cross-account grants (provider = API owner, consumer = app owner)",
              [("PROVIDER", "provider"), ("CONSUMER", "consumer"), ("API", "api_name"), ("API ID", "api_id"),
               ("STAGE", "stage"), ("APP", "app_name"), ("APP ID", "app_id"), ("FROM", "start"),
               ("BY", "started_by"), ("WITH", "started_with"), ("UNTIL", "until"), ("ENDED", "end"),
               ("ENDED BY", "ended_by"), ("ENDED WITH", "ended_with")], doc["cross_account"],
              note="One row per grant period: a re-grant with a new end time starts a new period."),
    ]
