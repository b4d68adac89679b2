"""Faults: PostgreSQL restarted under writers and a projection; a projection SIGKILLed
mid-catch-up; SQLite "database is locked" under concurrent CLI processes.

PostgreSQL tests run on a server of their own (restarting the session's would disturb
other tests).
"""

from __future__ import annotations

import base64
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any
from uuid import UUID

import pytest

from ledger.bootstrap import open_ledger
from ledger.errors import LedgerError
from ledger.store import StoreUnavailable
from projections.follow import start_following
from tests.conftest import TEST_KEY
from tests.pg import PgServer

CTX = mp.get_context("spawn")


@pytest.fixture(scope="module")
def own_pg() -> Any:
    server = PgServer().start()
    yield server
    server.stop()


class Recording:
    """A sink that records every position applied to it (duplicates and gaps show)."""

    def __init__(self) -> None:
        self.position = 0
        self.applied: list[int] = []

    def apply(self, position: int, topic: str, originator_id: UUID | str, state: dict[str, Any]) -> None:
        self.applied.append(position)
        self.position = position


def _writer(url: str, n: int, out: Any) -> None:
    ledger = open_ledger(url, key=TEST_KEY)
    acks, errors = [], []
    for i in range(n):
        try:
            r = ledger.create_app("alice", "Restarted")
            acks.append((r.events, r.position))
        except StoreUnavailable as e:
            errors.append(("StoreUnavailable", e.exit_code))
        except LedgerError as e:
            errors.append((type(e).__name__, e.exit_code))
        except Exception as e:  # noqa: BLE001 - fails the test
            errors.append((f"unexpected {type(e).__name__}: {e}", 1))
        time.sleep(0.005)
    ledger.close()
    out.put((acks, errors))


@pytest.mark.postgres
def test_a_postgres_restart_under_writers_and_a_follower_loses_and_repeats_nothing(own_pg: PgServer) -> None:
    url = own_pg.create_db()
    ledger = open_ledger(url, key=TEST_KEY)
    ledger.register_api("alice", "api")
    sink = Recording()
    following = start_following(ledger, sink)  # PostgreSQL: LISTEN/NOTIFY subscription
    out = CTX.Queue()
    procs = [CTX.Process(target=_writer, args=(url, 120, out)) for _ in range(3)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    own_pg.restart()  # pg_ctl restart -m fast: every connection is cut
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    acks = [a for r in results for a in r[0]]
    errors = [e for r in results for e in r[1]]
    # Writers either succeeded (the library's and the ledger's bounded retries) or got the
    # documented retriable error (exit 7); nothing else.
    assert all(name == "StoreUnavailable" and code == 7 for name, code in errors), errors
    assert len(acks) >= 300 * 0.9
    last = ledger.recorder.max_notification_id()
    covered = sorted(p for events, pos in acks for p in range(pos - events + 1, pos + 1))
    log_ids = [n.id for n in ledger.recorder.select_notifications(2, limit=100_000)]
    assert covered == log_ids  # every acknowledged event once, nothing else (ids may skip: rollbacks)
    deadline = time.time() + 30
    while sink.position < last and time.time() < deadline:
        time.sleep(0.05)
    following.stop()
    # The follower resumed from its position: every event once, in order.
    assert sink.applied == [1, *log_ids]
    ledger.close()


@pytest.mark.postgres
def test_a_projection_killed_mid_catch_up_resumes_exactly(own_pg: PgServer, tmp_path: Any) -> None:
    from projections.temporal_store import TemporalStore, open_index, open_log

    url = own_pg.create_db()
    ledger = open_ledger(url, key=TEST_KEY)
    api = ledger.register_api("acme", "api").ids["api_id"]
    apps = [ledger.create_app("bob", f"App{i:04d}").ids["app_id"] for i in range(5)]
    open_index(url)[0].close()  # an index at a position
    for i in range(600):
        app = apps[i % 5]
        ledger.grant("acme", app, api, "RELEASE")
        ledger.revoke("acme", app, api, "RELEASE")
        if i % 50 == 0:
            ledger.add_key_pair(apps[(i // 50) % 5], "bob")
    ledger.close()
    env = dict(os.environ, AUTHLEDGER_SECRET_KEY=base64.b64encode(TEST_KEY).decode())
    killed = 0
    for delay in (0.25, 0.35, 0.45, 0.6, 0.8):
        p = subprocess.Popen([sys.executable, "-m", "authledger.cli.main", "--database-url", url, "digest"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
    assert killed, "the catch-up finished before any kill: make the log longer"
    store, _ = open_index(url)  # resumes from whatever position survived
    resumed = _dump(store)
    store.close()
    # A rebuild from the log, in memory (the PostgreSQL index lives in the database itself).
    fresh = TemporalStore(":memory:")
    log = open_log(url)
    fresh.catch_up(log)
    assert _dump(fresh) == resumed  # same periods and the same chain head as a rebuild
    fresh.close()


def _dump(store: Any) -> dict[str, Any]:
    c = store.conn
    tables = ["apis", "apps", "app_names", "enabled_periods", "cred_periods", "grant_periods"]
    # Period ids are row numbers, given in flush order: compare what the rows say, not them.
    d: dict[str, Any] = {t: sorted(repr(r[1:] if t.endswith("_periods") else r)
                                   for r in c.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    d["position"] = store.position
    d["chain"] = store.chain_head()
    return d


def test_eight_cli_processes_hammering_one_sqlite_file_all_succeed(tmp_path: Any) -> None:
    db = str(tmp_path / "ledger.db")
    env = dict(os.environ, AUTHLEDGER_SECRET_KEY=base64.b64encode(TEST_KEY).decode())
    env.pop("AUTHLEDGER_DATABASE_URL", None)
    results: list[subprocess.CompletedProcess[str]] = []
    lock = threading.Lock()

    def hammer(i: int) -> None:
        for j in range(4):
            r = subprocess.run([sys.executable, "-m", "authledger.cli.main", "--db", db, "--json", "app", "create",
                                "--owner", f"acct{i}", "--name", f"App_{i}_{j}"],
                               capture_output=True, text=True, env=env, timeout=120, check=False)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [(r.returncode, r.stderr.strip()) for r in results if r.returncode != 0]
    assert not failed, failed  # "database is locked" is retried within a bound, never the user's problem
    ledger = open_ledger(db, key=TEST_KEY)
    assert ledger.recorder.max_notification_id() == 32 * 5
    ledger.close()


@pytest.mark.postgres
def test_save_listeners_hear_other_writers_through_listen_notify_and_across_a_restart(own_pg: PgServer) -> None:
    # What `authledger publish` relies on to follow PostgreSQL without polling: a listener on
    # one Ledger is woken by commits made through another (another process, in production).
    url = own_pg.create_db()
    listening = open_ledger(url, key=TEST_KEY)
    writer = open_ledger(url, key=TEST_KEY)
    heard = threading.Event()
    listening.add_save_listener(lambda _position: heard.set())
    time.sleep(0.5)  # connected and listening (it wakes once on connecting)
    heard.clear()
    writer.register_api("prov", "api")
    assert heard.wait(2), "a commit by another writer did not wake the listener"
    own_pg.restart()  # the LISTEN connection is cut; it must listen again
    deadline = time.monotonic() + 30
    while True:
        try:
            time.sleep(1.0)  # past the listener's reconnect
            heard.clear()
            writer.register_api("prov", "api2")
            break
        except LedgerError:
            assert time.monotonic() < deadline
    assert heard.wait(5), "the listener did not listen again after the restart"
    listening.close()
    writer.close()
