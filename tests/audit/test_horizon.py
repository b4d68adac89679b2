"""The horizon: the latest instant of the events applied. At or after it, who-could-call reads
only the open periods (their partial indexes); before it, the history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ledger.bootstrap import open_ledger
from projections.temporal import to_micros
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.temporal_store import open_index
from tests.audit.histories import CONSUMER, PROVIDER, T0
from tests.conftest import TEST_KEY

H = timedelta(hours=1)
HORIZON = to_micros(T0 + 5 * H)


def story(ledger: Any, db_path: str) -> tuple[AuditQueries, str, str]:
    """An app granted an API, disabled and enabled again, then renamed (the latest event)."""
    api = ledger.register_api(PROVIDER, "weather", at=T0).ids["api_id"]
    app = ledger.create_app(CONSUMER, "app1", app_key="key-first", at=T0 + H).ids["app_id"]
    ledger.grant(PROVIDER, app, api, "RELEASE", at=T0 + 2 * H)
    ledger.disable_app(app, CONSUMER, at=T0 + 3 * H)
    ledger.enable_app(app, CONSUMER, at=T0 + 4 * H)
    ledger.modify_app(app, CONSUMER, name="renamed", at=T0 + 5 * H)
    store, log = open_index(db_path)
    return AuditQueries(store, LedgerEvents(log)), api, app


def test_the_horizon_is_the_latest_event_and_answers_hold_on_both_sides(ledger, db_path):
    q, api, app = story(ledger, db_path)
    assert q.store.horizon == HORIZON
    assert q.who_could_call_at(api, to_micros(T0 + 3 * H)) == []  # disabled: the history's answer
    for t in (HORIZON - 1, HORIZON, HORIZON + 1, to_micros(T0 + 10 * H)):
        assert [(r["app_id"], r["credential"]) for r in q.who_could_call_at(api, t)] == [(app, "key-first")]
    q.store.close()


def test_at_or_after_the_horizon_the_sqlite_plan_uses_the_open_period_indexes(tmp_path):
    ledger = open_ledger(str(tmp_path / "ledger.db"), key=TEST_KEY)
    q, api, _app = story(ledger, str(tmp_path / "ledger.db"))

    def plan(t: int) -> str:
        seen: list[str] = []
        q.conn.set_trace_callback(seen.append)  # the statement as run, its values in place
        try:
            q.who_could_call_at(api, t, "RELEASE")
        finally:
            q.conn.set_trace_callback(None)
        (sql,) = [s for s in seen if "JOIN cred_periods" in s]
        return " ".join(str(r[-1]) for r in q.conn.execute("EXPLAIN QUERY PLAN " + sql))

    assert "_open" not in plan(HORIZON - 1)
    for t in (HORIZON, to_micros(T0 + 10 * H)):
        p = plan(t)
        assert "grant_open" in p and "enabled_open" in p and "cred_open" in p, p
    q.store.close()
    ledger.close()
