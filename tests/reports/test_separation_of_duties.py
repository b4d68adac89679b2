"""Separation of duties: self-dealing and cross-account grants, from the event history."""

from __future__ import annotations

import json
from typing import Any

from projections.temporal_queries import AuditQueries
from authledger.reports.run import generate
from tests.reports.conftest import FROM, TO, us

GRANT_EVENTS = {"GrantGiven", "GrantEndChanged", "GrantRevoked"}


def _owners(events: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    apis = {e["originator_id"]: e["fields"]["owner"] for e in events if e["type"] == "ApiRegistered"}
    apps = {e["originator_id"]: e["fields"]["owner"] for e in events if e["type"] == "AppCreated"}
    return apis, apps


def test_self_dealing_is_every_grant_event_by_the_owner_of_both_sides(demo: dict[str, Any],
                                                                        events: list[dict[str, Any]]) -> None:
    apis, apps = _owners(events)
    for window in ((None, None), (FROM, TO)):
        doc = json.loads(generate("separation-of-duties", "json", db=demo["db"], start=window[0], end=window[1]))
        want = {e["position"] for e in events if e["type"] in GRANT_EVENTS
                and e["actor"] == apis[e["fields"]["api_id"]] == apps[e["originator_id"]]
                and (window[0] is None or us(window[0]) <= us(e["timestamp"]) < us(window[1]))}
        got = [r["position"] for r in doc["self_dealing"]]
        assert got == sorted(want) and want
        assert doc["summary"]["self_dealing_changes"] == len(want)


def test_every_cross_account_grant_period_is_listed_with_both_parties(demo: dict[str, Any], q: AuditQueries,
                                                                        events: list[dict[str, Any]]) -> None:
    apis, apps = _owners(events)
    doc = json.loads(generate("separation-of-duties", "json", db=demo["db"]))
    want = {(spos, apis[api], apps[app]) for app, api, spos in q.conn.execute(
        "SELECT app_id, api_id, start_pos FROM grant_periods") if apis[api] != apps[app]}
    got = {(r["start_position"], r["provider"], r["consumer"]) for r in doc["cross_account"]}
    assert got == want and want
    given = {e["position"]: e["actor"] for e in events if e["type"] in GRANT_EVENTS}
    assert all(r["started_by"] == given[r["start_position"]] == r["provider"] for r in doc["cross_account"])
