"""Credential hygiene: each finding recomputed from the index's tables or the event history."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from projections.temporal import iso
from projections.temporal_queries import AuditQueries
from authledger.reports.run import generate
from tests.reports.conftest import AT, us

DAYS = 60
DAY = 86_400_000_000
LIVE = "start <= :t AND (end IS NULL OR end > :t)"


def _doc(demo: dict[str, Any]) -> dict[str, Any]:
    return json.loads(generate("credential-hygiene", "json", db=demo["db"], at=AT, days=DAYS))


def test_grant_findings_match_the_grant_periods(demo: dict[str, Any], q: AuditQueries) -> None:
    f = _doc(demo)["findings"]
    t = us(AT)
    live = q.conn.execute(f"SELECT app_id, api_id, stage, until FROM grant_periods WHERE {LIVE}", {"t": t}).fetchall()
    expired = {(a, p, s) for a, p, s, u in live if u is not None and u <= t}
    expiring = {(a, p, s) for a, p, s, u in live if u is not None and t < u <= t + DAYS * DAY}
    assert {(r["app_id"], r["api_id"], r["stage"]) for r in f["expired_grants_not_revoked"]} == expired
    assert {(r["app_id"], r["api_id"], r["stage"]) for r in f["grants_expiring_soon"]} == expiring
    assert expired and expiring
    enabled = {a for (a,) in q.conn.execute(f"SELECT app_id FROM enabled_periods WHERE {LIVE}", {"t": t})}
    alive = {a for (a,) in q.conn.execute(
        "SELECT app_id FROM apps WHERE created <= :t AND (deleted IS NULL OR deleted > :t)", {"t": t})}
    held = {(a, p, s) for a, p, s, u in live if a in alive - enabled and (u is None or u > t)}
    assert {(r["app_id"], r["api_id"], r["stage"]) for r in f["disabled_apps_with_grants"]} == held


def test_key_pair_findings_match_the_credential_periods_and_the_resets(demo: dict[str, Any], q: AuditQueries,
                                                                         events: list[dict[str, Any]]) -> None:
    f = _doc(demo)["findings"]
    t = us(AT)
    keys: dict[str, set[str]] = defaultdict(set)
    for a, k in q.conn.execute(f"SELECT app_id, cred FROM cred_periods WHERE kind='app_key' AND {LIVE}", {"t": t}):
        keys[a].add(k)
    assert {r["app_id"]: set(r["app_keys"]) for r in f["several_key_pairs"]} == {
        a: ks for a, ks in keys.items() if len(ks) > 1}
    # Independent: when each AppKey's secret was last set, by replaying the key events up to T.
    set_at: dict[str, int] = {}
    for e in events:
        ts = us(e["timestamp"])
        if ts > t:
            break
        if e["type"] == "KeyPairAdded":
            set_at[e["fields"]["app_key"]] = ts
        elif e["type"] == "KeyPairReset":
            set_at.pop(e["fields"]["app_key"], None)
            set_at[e["fields"]["new_app_key"]] = ts
    live_keys = {k for ks in keys.values() for k in ks}
    stale = {k for k in live_keys if t - set_at[k] > DAYS * DAY}
    got = {r["app_key"]: r["secret_set_at"] for r in f["stale_secrets"]}
    assert set(got) == stale and stale
    assert all(us(v) == set_at[k] for k, v in got.items())


def test_app_codes_in_use_are_those_that_could_call_apis_allowing_them(demo: dict[str, Any], q: AuditQueries) -> None:
    f = _doc(demo)["findings"]
    t = us(AT)
    want = set()
    for api_id, mode in q.conn.execute("SELECT api_id, appcode_mode FROM apis"):
        for r in q.who_could_call_at(api_id, t):
            if r["kind"] == "app_code":
                assert mode != "DISABLE"
                want.add((api_id, r["stage"], r["app_id"], r["credential"]))
    assert {(r["api_id"], r["stage"], r["app_id"], r["app_code"]) for r in f["app_codes_in_use"]} == want
    assert want and all(r["app_code"].startswith("****") for r in f["app_codes_in_use"])
    assert iso(t) == _doc(demo)["at"]
