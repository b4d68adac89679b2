"""Access review: its JSON form against the temporal index's own answers and the event history."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from projections.temporal import iso
from projections.temporal_queries import AuditQueries
from authledger.reports.run import generate
from tests.reports.conftest import AT, us


def _doc(demo: dict[str, Any]) -> dict[str, Any]:
    return json.loads(generate("access-review", "json", db=demo["db"], at=AT))


def test_every_caller_at_the_instant_is_listed_with_its_owner_and_flags(demo: dict[str, Any], q: AuditQueries) -> None:
    doc = _doc(demo)
    t = us(AT)
    owners = dict(q.conn.execute("SELECT app_id, owner FROM apps"))
    apis = {a: o for a, o in q.conn.execute("SELECT api_id, owner FROM apis WHERE registered <= ?", (t,))}
    # Check: every API registered by T is there, once.
    assert sorted(a["api_id"] for a in doc["apis"]) == sorted(apis)
    total = Counter[str]()
    for api in doc["apis"]:
        want: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        until: dict[tuple[str, str], Any] = {}
        for r in q.who_could_call_at(api["api_id"], t):
            want[(r["stage"], r["app_id"])].add((r["kind"], r["credential"]))
            until[(r["stage"], r["app_id"])] = iso(r["grant_until"])
        got = {(s, e["app_id"]): {(c["kind"], c["credential"]) for c in e["credentials"]}
               for s, entries in api["stages"].items() for e in entries}
        # Check: the same apps, stages and credentials as who_could_call_at.
        assert got == dict(want)
        for s, entries in api["stages"].items():
            for e in entries:
                assert e["owner"] == owners[e["app_id"]]
                assert e["grant_until"] == until[(s, e["app_id"])]
                assert e["cross_account"] == (owners[e["app_id"]] != apis[api["api_id"]])
                assert e["no_end_time"] == (e["grant_until"] is None)
                total["cross"] += e["cross_account"]
                total["open"] += e["no_end_time"]
                total["grants"] += 1
    assert doc["summary"]["grants"] == total["grants"] > 0
    assert doc["summary"]["cross_account"] == total["cross"] > 0
    assert doc["summary"]["no_end_time"] == total["open"] > 0


def test_who_granted_it_and_when_comes_from_the_grant_given_event(demo: dict[str, Any], events: list[dict[str, Any]]
                                                                   ) -> None:
    doc = _doc(demo)
    t = us(AT)
    # Independent: the last GrantGiven at or before T for each (app, API, stage), from the history.
    given: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in events:
        if e["type"] == "GrantGiven" and us(e["timestamp"]) <= t:
            given[(e["originator_id"], e["fields"]["api_id"], e["fields"]["stage"])] = e
    checked = 0
    for api in doc["apis"]:
        for s, entries in api["stages"].items():
            for e in entries:
                g = given[(e["app_id"], api["api_id"], s)]
                assert (e["granted_by"], e["granted_at"], e["granted_position"]) == (
                    g["actor"], g["timestamp"], g["position"])
                checked += 1
    assert checked == doc["summary"]["grants"]


def test_the_timeline_is_the_indexes_intervals_with_their_causes(demo: dict[str, Any], q: AuditQueries) -> None:
    doc = _doc(demo)
    lo, t = us(doc["window"]["from"]), us(AT)
    for api in doc["apis"]:
        want = sorted((r["app_id"], r["stage"], r["credential"], iso(r["start"]), iso(r["end"]),
                       (r["start_cause"] or {}).get("position"), (r["end_cause"] or {}).get("kind"))
                      for r in q.who_could_call_between(api["api_id"], lo, t + 1))
        got = sorted((r["app_id"], r["stage"], r["credential"], r["start"], r["end"],
                      (r["start_cause"] or {}).get("position"), (r["end_cause"] or {}).get("kind"))
                     for r in api["intervals"])
        assert got == want


def test_no_secret_or_code_hash_appears(demo: dict[str, Any], events: list[dict[str, Any]]) -> None:
    hashes = {e["fields"][k] for e in events for k in ("code_hash", "new_code_hash") if k in e["fields"]}
    for fmt in ("json", "md", "csv", "html"):
        text = generate("access-review", fmt, db=demo["db"], at=AT)
        assert "sealed" not in text
        assert not [h for h in hashes if h in text]
    # The seeded AppSecrets and AppCodes are never printed (codes only as ****abcd).
    demo_apps = demo["history"].apps
    text = generate("access-review", "json", db=demo["db"], at=AT)
    assert not [c for a in demo_apps for c in a["codes"] if c in text]
