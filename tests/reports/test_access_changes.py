"""Access changes: every row is a real change of "could call", and every change is a row."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from projections.temporal_queries import AuditQueries
from authledger.reports.run import generate
from tests.reports.conftest import FROM, TO, us


def _doc(demo: dict[str, Any]) -> dict[str, Any]:
    return json.loads(generate("access-changes", "json", db=demo["db"], start=FROM, end=TO))


def _code_hash(q: AuditQueries, app_id: str, display: str) -> str:
    return str(q.conn.execute("SELECT cred FROM cred_periods WHERE app_id=? AND display=? LIMIT 1",
                              (app_id, display)).fetchone()[0])


def test_each_change_flips_could_call_at_its_instant(demo: dict[str, Any], q: AuditQueries) -> None:
    doc = _doc(demo)
    n = 0
    for api in doc["apis"]:
        for c in api["changes"]:
            t = us(c["at"])
            assert us(FROM) <= t < us(TO)
            for cred in c["credentials"]:
                kind = cred["kind"]
                cid = cred["credential"] if kind == "app_key" else _code_hash(q, c["app_id"], cred["credential"])
                before = q.could_call(cid, api["api_id"], c["stage"], t - 1, kind=kind)
                after = q.could_call(cid, api["api_id"], c["stage"], t, kind=kind)
                # Check: gained = could not call just before, could at t; lost = the reverse.
                assert (before, after) == ((False, True) if c["direction"] == "gained" else (True, False)), c
                n += 1
    assert n > 20


def test_every_boundary_in_the_window_is_reported_once_with_its_cause(demo: dict[str, Any], q: AuditQueries) -> None:
    doc = _doc(demo)
    lo, hi = us(FROM), us(TO)
    by_api = {a["api_id"]: a for a in doc["apis"]}
    kinds = Counter[str]()
    for (api_id,) in q.conn.execute("SELECT api_id FROM apis"):
        want = Counter[tuple[Any, ...]]()
        for r in q.who_could_call_between(api_id, lo, hi):
            if not r["start_clipped"]:
                want[(r["start"], "gained", r["app_id"], r["stage"], r["credential"],
                      r["start_cause"].get("type") or "expiry")] += 1
            if r["end"] is not None and not r["end_clipped"] and r["end"] < hi:
                want[(r["end"], "lost", r["app_id"], r["stage"], r["credential"],
                      r["end_cause"].get("type") or "expiry")] += 1
        got = Counter[tuple[Any, ...]]()
        for c in by_api.get(api_id, {"changes": []})["changes"]:
            cause = c["cause"]["type"] if c["cause"]["kind"] == "event" else "expiry"
            kinds[cause] += 1
            for cred in c["credentials"]:
                got[(us(c["at"]), c["direction"], c["app_id"], c["stage"], cred["credential"], cause)] += 1
        assert got == want
    assert doc["summary"]["changes"] == sum(len(a["changes"]) for a in doc["apis"])
    # The seeded history exercises the causes the report must name.
    assert {"GrantGiven", "GrantRevoked", "expiry", "AppDisabled", "AppEnabled"} <= set(kinds)


def test_the_actor_is_the_events_and_an_expiry_has_none(demo: dict[str, Any], events: list[dict[str, Any]]) -> None:
    doc = _doc(demo)
    by_pos = {e["position"]: e for e in events}
    for api in doc["apis"]:
        for c in api["changes"]:
            if c["cause"]["kind"] == "event":
                e = by_pos[c["position"]]
                assert (c["actor"], c["cause"]["type"]) == (e["actor"], e["type"])
                assert us(e["timestamp"]) == us(c["at"])
            else:
                assert c["actor"] is None and c["change"] == "expired"
                assert by_pos[c["position"]]["fields"]["until"] == c["at"]
