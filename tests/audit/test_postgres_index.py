"""The audit index of a PostgreSQL ledger lives in its database: equal to a rebuild, shared
safely by concurrent processes, whole after a SIGKILL, and never a local file."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from ledger.bootstrap import open_ledger
from projections.temporal_sql import PREFIX, TABLES, translate
from projections.temporal_store import TemporalStore, open_index, open_log
from tests.audit.cli_helpers import run, run_json
from tests.audit.histories import T0, Driver, histories
from tests.audit.test_catch_up import dump
from tests.conftest import TEST_KEY

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif("postgres" not in os.environ.get("AUTHLEDGER_TEST_STORES", "sqlite,postgres"),
                                 reason="AUTHLEDGER_TEST_STORES excludes postgres")]
CTX = mp.get_context("spawn")


def rebuilt(url: str, until: int | None = None) -> dict[str, object]:
    """The index a rebuild from the log gives, in SQLite, for comparison."""
    log = open_log(url)
    store = TemporalStore(":memory:")
    store.catch_up(log, until=until)
    d = dump(store)
    store.close()
    return d


def pg_dump(url: str) -> dict[str, object]:
    store = TemporalStore(url)
    try:
        return dump(store)
    finally:
        store.close()


def audit_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'audit\\_%'"))


# -- equal to a rebuild --------------------------------------------------------------------

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_the_postgres_index_caught_up_event_by_event_equals_a_rebuild(pg_pool: Any, history: Any) -> None:
    url = pg_pool.take()
    try:
        ledger = open_ledger(url, key=TEST_KEY)
        log = open_log(url)
        store = TemporalStore(url)
        d = Driver(ledger)
        d.setup()
        store.catch_up(log)
        for step, op in history:
            d.play([(step, op)])
            store.catch_up(log)
        assert store.position == log.max_position()
        assert dump(store) == rebuilt(url)
        store.close()
        log.recorder.datastore.close()
        ledger.close()
    finally:
        pg_pool.give_back(url)


def test_the_tables_are_the_sqlite_files_with_the_prefix(pg_url: str, tmp_path: Any) -> None:
    TemporalStore(pg_url).close()
    assert audit_tables(pg_url) == sorted(PREFIX + t for t in TABLES)
    lite = TemporalStore(str(tmp_path / "x.audit.sqlite"))
    with psycopg.connect(pg_url) as conn:
        for t in TABLES:
            pg_cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name=%s ORDER BY ordinal_position",
                (PREFIX + t,))]
            assert pg_cols == [r[1] for r in lite.conn.execute(f"PRAGMA table_info({t})")], t
    lite.close()


def test_the_index_follows_the_ledgers_schema(pg_url: str) -> None:
    url = pg_url + "?schema=tenant1"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant1")  # the ledger's schema is made by its operator
    ledger = open_ledger(url, key=TEST_KEY)
    Driver(ledger).setup()
    store, _log = open_index(url)
    assert store.position > 0
    store.close()
    with psycopg.connect(pg_url) as conn:
        schemas = {r[0] for r in conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit_grant_periods'")}
    assert schemas == {"tenant1"}
    assert pg_dump(url) == rebuilt(url)
    ledger.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.execute("DROP SCHEMA tenant1 CASCADE")  # the pool recycles only public


# -- several processes -------------------------------------------------------------------------

def _catch_up_repeatedly(url: str, rounds: int, out: Any) -> None:
    applied = 0
    for _ in range(rounds):
        store, log = open_index(url, catch_up=False)
        applied += store.catch_up(log)
        store.close()
        log.recorder.datastore.close()
    out.put(applied)


def test_concurrent_catch_ups_apply_every_event_exactly_once(pg_url: str) -> None:
    ledger = open_ledger(pg_url, key=TEST_KEY)
    d = Driver(ledger)
    d.setup()
    out = CTX.Queue()
    procs = [CTX.Process(target=_catch_up_repeatedly, args=(pg_url, 40, out)) for _ in range(3)]
    for p in procs:
        p.start()
    ops = [("grant", 0, 0, "RELEASE", None), ("disable", 1), ("grant", 2, 1, "TEST", 30), ("enable", 1),
           ("revoke", 0, 0, "RELEASE", True), ("reset_key", 2, True)]
    for i in range(120):  # events keep arriving while they catch up
        d.play([(timedelta(seconds=1), ops[i % len(ops)])])
    applied = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store, log = open_index(pg_url, catch_up=False)
    applied.append(store.catch_up(log))
    # Each event applied by exactly one caller: the others found the position advanced.
    assert sum(applied) == log.max_position()
    assert store.position == log.max_position()
    store.close()
    got = pg_dump(pg_url)
    assert got == rebuilt(pg_url)  # same tables, hence no period written twice
    with psycopg.connect(pg_url) as conn:
        for t in ("enabled_periods", "cred_periods", "grant_periods"):
            dup = conn.execute(translate(f"SELECT app_id, start_pos, COUNT(*) FROM {t} GROUP BY app_id, start_pos, "
                                         "id HAVING COUNT(*) > 1")).fetchall()
            assert dup == []
    ledger.close()


def _holding_the_lock(url: str) -> bool:
    """A catch-up of another process is in its transaction, holding the index's lock."""
    with psycopg.connect(url) as conn:
        return bool(conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
            " AND a.application_name = 'authledger-audit' AND a.pid <> pg_backend_pid()").fetchone()[0])


SLOW_CATCH_UP = """
import sys, time
import projections.temporal_store as ts
ts.PAGE = ts.FLUSH_EVERY = 1
flush = ts.TemporalStore._flush
def slow_flush(self, builder, *, final=True):
    time.sleep(0.002)
    flush(self, builder, final=final)
ts.TemporalStore._flush = slow_flush
ts.open_index(sys.argv[1])
"""


def test_a_catch_up_killed_mid_way_leaves_the_last_committed_position(pg_url: str) -> None:
    ledger = open_ledger(pg_url, key=TEST_KEY)
    d = Driver(ledger)
    d.setup()
    store, _ = open_index(pg_url)
    committed = store.position
    store.close()
    for i in range(400):
        d.do(("grant", i % 3, 0, "RELEASE", None))
        d.do(("revoke", i % 3, 0, "RELEASE", True))
    ledger.close()
    # The real catch-up in another process, made slow enough to be killed while it holds the
    # lock, before it commits: one row per read, a write after every event, each 2 ms later.
    child = subprocess.Popen([sys.executable, "-c", SLOW_CATCH_UP, pg_url], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not _holding_the_lock(pg_url):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.time() < deadline, "the catch-up never took the lock"
        time.sleep(0.01)
    time.sleep(0.3)
    assert _holding_the_lock(pg_url), "the catch-up finished before the kill: make the log longer"
    child.send_signal(signal.SIGKILL)
    child.wait()
    # Nothing of the killed transaction shows: the index is the rebuild up to the old position.
    assert pg_dump(pg_url) == rebuilt(pg_url, until=committed)
    store, log = open_index(pg_url)  # the next call completes it
    assert store.position == log.max_position() > committed
    store.close()
    assert pg_dump(pg_url) == rebuilt(pg_url)


# -- no local file -------------------------------------------------------------------

def test_no_local_file_is_made_for_a_postgres_ledger(pg_url: str, tmp_path: Any, capsys: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ledger = open_ledger(pg_url, key=TEST_KEY)
    d = Driver(ledger)
    d.setup()
    api = d.apis[0]
    at = T0.isoformat().replace("+00:00", "Z")
    digest = run_json(capsys, "--database-url", pg_url, "digest")["digest"]
    assert run_json(capsys, "--database-url", pg_url, "verify-log", "--digest", digest)["ok"]
    assert run(capsys, "--database-url", pg_url, "who-could-call", "--api", api, "--at", at)[0] == 0
    assert run(capsys, "--database-url", pg_url, "replay", "--until", at)[0] == 0
    assert run(capsys, "--database-url", pg_url, "report", "access-review", "--at", at)[0] == 0
    assert os.listdir(os.environ["AUTHLEDGER_CACHE_DIR"]) == []
    assert os.listdir(tmp_path) == []
    assert audit_tables(pg_url) == sorted(PREFIX + t for t in TABLES)
    ledger.close()


def test_verify_log_reads_the_recorded_chain_in_the_database(pg_url: str, capsys: Any) -> None:
    ledger = open_ledger(pg_url, key=TEST_KEY)
    Driver(ledger).setup()
    ledger.close()
    # Before any index: nothing to compare the log with — "not verified" (exit 3), not "ok";
    # and nothing is created.
    code, _, err = run(capsys, "--database-url", pg_url, "verify-log")
    assert code == 3 and "not verified" in err
    assert audit_tables(pg_url) == []
    run_json(capsys, "--database-url", pg_url, "digest")
    v = run_json(capsys, "--database-url", pg_url, "verify-log")
    assert v["ok"] and v["recorded_entries_checked"] == v["events"] > 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        (state,) = conn.execute("SELECT state FROM ledger_events WHERE notification_id = 3").fetchone()
        conn.execute("UPDATE ledger_events SET state = %s WHERE notification_id = 3",
                     (bytes(state[:-1]) + bytes([state[-1] ^ 1]),))
    code, _, err = run(capsys, "--database-url", pg_url, "verify-log")
    assert code == 6 and "position 3" in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_database_is_one_line_exit_7(capsys: Any) -> None:
    code, _, err = run(capsys, "--database-url", "postgresql://u:hunter2@127.0.0.1:1/x", "digest")
    assert code == 7 and len(err.strip().splitlines()) == 1 and "hunter2" not in err
