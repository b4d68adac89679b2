"""The admin API's audit endpoints answer from the same index as the CLI, on both stores."""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from typing import Any

from ledger.tokens import issue_token
from projections.instants import instant
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.temporal_store import open_index
from authledger.service.app import create_app
from tests.audit.histories import CONSUMER, PROVIDER, Driver

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def test_http_audit_answers_equal_the_index_and_leave_no_local_file(ledger: Any, db_path: str) -> None:
    d = Driver(ledger)
    d.setup()
    d.play([(timedelta(0), ("grant", 0, 0, "RELEASE", None)), (timedelta(0), ("disable", 1))])
    app = create_app(ledger)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        provider = {"Authorization": "Bearer " + issue_token(ledger, PROVIDER, "tests").revealed["token"]}
        consumer = {"Authorization": "Bearer " + issue_token(ledger, CONSUMER, "tests").revealed["token"]}
        at = d.now.isoformat().replace("+00:00", "Z")
        store, log = open_index(db_path)
        q = AuditQueries(store, LedgerEvents(log))
        r = client.get("/v1/audit/who-could-call", params={"api_id": d.apis[0], "at": at}, headers=provider)
        assert r.status_code == 200, r.text
        assert r.json()["could_call"] == q.who_could_call_at(d.apis[0], instant(at, "at"))
        assert r.json()["could_call"]  # app 0 was granted: the answer is not trivially empty
        r = client.get("/v1/audit/history", params={"app_id": d.apps[1]}, headers=consumer)
        assert r.status_code == 200 and r.json()["events"] == q.history(app_id=d.apps[1])
        digest = client.get("/v1/audit/digest", headers=provider).json()
        head, pos = store.chain_head()
        assert digest["digest"] == f"{head.hex()}@{pos}" and pos == log.max_position()
        store.close()
    finally:
        app.state.service.close()
    assert os.listdir(os.environ["AUTHLEDGER_CACHE_DIR"]) == []



def test_audit_requests_close_what_they_open(ledger: Any, db_path: str) -> None:
    # Each request opens the index (and, on SQLite, a read-only log connection); none may
    # linger after the response: 40 requests leave the process's open files as they were.
    d = Driver(ledger)
    d.setup()
    d.play([(timedelta(0), ("grant", 0, 0, "RELEASE", None))])
    app = create_app(ledger)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        provider = {"Authorization": "Bearer " + issue_token(ledger, PROVIDER, "tests").revealed["token"]}
        params = {"api_id": d.apis[0], "at": d.now.isoformat().replace("+00:00", "Z")}
        assert client.get("/v1/audit/who-could-call", params=params, headers=provider).status_code == 200
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(40):
            assert client.get("/v1/audit/who-could-call", params=params, headers=provider).status_code == 200
            assert client.get("/v1/audit/digest", headers=provider).status_code == 200
        assert len(os.listdir("/proc/self/fd")) <= before + 2
    finally:
        app.state.service.close()
