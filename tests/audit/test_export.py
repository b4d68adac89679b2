"""An export answers every audit question exactly as the database does, and holds no secret."""

from __future__ import annotations

import io
import json
import os
import tempfile

import pytest
from hypothesis import given, settings

from ledger.bootstrap import open_ledger
from ledger.errors import InvalidInput
from projections import export
from projections.temporal import to_micros
from projections.temporal_queries import AuditQueries, LedgerEvents
from projections.log.sqlite import SqliteLog
from projections.temporal_store import open_index
from tests.audit.histories import Driver, histories
from tests.conftest import TEST_KEY


def answers(q: AuditQueries, d: Driver, instants: list[int]) -> dict[str, object]:
    lo, hi = min(instants) - 1, max(instants) + 10**10
    out: dict[str, object] = {}
    for api in d.apis:
        out[f"who {api}"] = [q.who_could_call_at(api, t) for t in instants]
        out[f"who-span {api}"] = q.who_could_call_between(api, lo, hi)
        out[f"history api {api}"] = q.history(api_id=api)
    for app in d.apps.values():
        out[f"access {app}"] = [q.access_at(app, t) for t in instants]
        out[f"access-span {app}"] = q.access_between(app, lo, hi)
        out[f"history app {app}"] = q.history(app_id=app)
    for keys in d.keys.values():
        for k in keys:
            out[f"history key {k}"] = q.history(app_key=k)
    out["replay"] = [q.replay(t) for t in instants]
    return out


@settings(max_examples=20, deadline=None)
@given(history=histories)
def test_queries_from_an_export_equal_queries_from_the_database(history):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ledger.db")
        ledger = open_ledger(path, key=TEST_KEY)
        d = Driver(ledger)
        d.setup()
        d.play(history)
        store, log = open_index(path)
        from_db = AuditQueries(store, LedgerEvents(log))
        out = os.path.join(tmp, "export.jsonl")
        with open(out, "w") as f:
            n = export.write(SqliteLog(path), f)
        assert n == log.max_position()
        text = open(out).read()
        # Check no secret left the database: sealed fields, plaintext AppCodes.
        assert "sealed" not in text
        assert not any(code in text for codes in d.codes.values() for code in codes)
        # Check the trailer's digest is the chain head the index recorded.
        head, pos = store.chain_head()
        assert json.loads(text.splitlines()[-1])["digest"] == f"{head.hex()}@{pos}"
        xstore, xevents, _ = export.load(out)
        from_export = AuditQueries(xstore, xevents)
        instants = sorted({to_micros(d.now)} | {t for (t,) in store.conn.execute(
            "SELECT start FROM grant_periods UNION SELECT until FROM grant_periods WHERE until IS NOT NULL"
            " UNION SELECT start FROM enabled_periods")})
        assert answers(from_export, d, instants) == answers(from_db, d, instants)
        ledger.close()


@pytest.mark.sqlite_only  # edits the SQLite file directly
def test_a_truncated_or_foreign_file_is_refused(tmp_path, ledger, db_path):
    Driver(ledger).setup()
    buf = io.StringIO()
    export.write(SqliteLog(db_path), buf)
    lines = buf.getvalue().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(InvalidInput, match="truncated"):
        export.load(str(cut))
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"hello": 1}\n')
    with pytest.raises(InvalidInput, match="line 1"):
        export.load(str(foreign))
    with pytest.raises(InvalidInput):
        export.load(str(tmp_path / "missing.jsonl"))
