"""Issue 2 point 9: the ledger's write speed on a SQLite file, and one CLI command's wall time.
Issue 16 point 4: a cold command on an app with a long history (snapshots).

Each figure sits beside a floor measured in the same run on the same disk:
individual commands beside a raw sqlite3 INSERT+COMMIT per row (WAL, the ledger's own
``synchronous`` setting); a batched bulk load beside a raw ``executemany`` of as many
msgpack rows in one transaction; the CLI beside ``python -c pass``; a cold command on a
50,000-event app beside the same command on a 3-event app, and the load of that app
without snapshots (as before them) beside the load with them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from scripts.bench.common import Row, median_rate

SECTION = "ledger"
KEY = bytes(range(32))


def _ledger_synchronous(ledger: object) -> int:
    with ledger.recorder.datastore.transaction(commit=False) as cur:  # type: ignore[attr-defined]
        cur.execute("PRAGMA synchronous")
        return int(cur.fetchone()[0])


def _raw_insert_rate(directory: str, n: int, synchronous: int, repeats: int) -> float:
    """Floor: one INSERT + COMMIT per row, WAL mode, the ledger's synchronous setting."""
    path = os.path.join(directory, "raw-rows.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, oid BLOB, v INTEGER, topic TEXT, state BLOB, UNIQUE (oid, v))")
    state = os.urandom(120)

    def once() -> int:
        for _ in range(n):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (oid, v, topic, state) VALUES (?, 1, 'authledger:X', ?)", (uuid.uuid4().bytes, state))
            conn.execute("COMMIT")
        return n

    rate = median_rate(once, repeats)
    conn.close()
    return rate


def _raw_executemany_rate(directory: str, n_events: int, synchronous: int, repeats: int) -> float:
    """Floor: executemany of n msgpack rows in one transaction."""
    from ledger.transcoder import pack

    path = os.path.join(directory, "raw-bulk.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, oid BLOB, v INTEGER, topic TEXT, state BLOB, UNIQUE (oid, v))")
    now = datetime.now(timezone.utc)

    def once() -> int:
        rows = [
            (uuid.uuid4().bytes, 1, "authledger:AppCreated",
             pack({"timestamp": now, "actor": "importer", "source": "import", "owner": "acct", "name": f"App{i}",
                   "description": "", "tags": {}, "extension": ""}))
            for i in range(n_events)
        ]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (oid, v, topic, state) VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        return n_events

    rate = median_rate(once, repeats)
    conn.close()
    return rate


def _command_rates(ledger: object, n: int, repeats: int) -> dict[str, float]:
    from ledger.application import Ledger

    assert isinstance(ledger, Ledger)
    api_id = ledger.register_api("provider", "bench").ids["api_id"]
    apps: list[tuple[str, str]] = []

    def create() -> int:
        for _ in range(n):
            r = ledger.create_app("consumer", "BenchApp")
            apps.append((r.ids["app_id"], r.ids["app_key"]))
        return n

    rates = {"create_app": median_rate(create, repeats)}
    targets = apps[:n]
    rounds = iter(range(1, 1000))

    def grant() -> int:
        until = datetime.now(timezone.utc) + timedelta(days=next(rounds))
        for app_id, _ in targets:
            ledger.grant("provider", app_id, api_id, "RELEASE", until=until)
        return n

    def disable_enable() -> int:
        for app_id, _ in targets[: n // 2]:
            ledger.disable_app(app_id, "consumer")
            ledger.enable_app(app_id, "consumer")
        return 2 * (n // 2)

    keys = {app_id: key for app_id, key in targets}

    def reset() -> int:
        for app_id, key in targets:
            ledger.reset_key_pair(key, "consumer")
        return n

    rates["grant"] = median_rate(grant, repeats)
    rates["disable/enable"] = median_rate(disable_enable, repeats)
    rates["reset_key_pair"] = median_rate(reset, repeats)
    assert keys  # every reset kept its AppKey
    return rates


def _bulk_rate(ledger: object, n_apps: int, batch: int, repeats: int) -> tuple[float, int]:
    """Events/s when an import saves many aggregates per save() (one transaction each)."""
    from ledger import crypto
    from ledger.domain import Acting, App, acting

    box = ledger.box  # type: ignore[attr-defined]
    api_id = str(uuid.uuid4())
    events_per_run = 0

    def once() -> int:
        nonlocal events_per_run
        token = acting.set(Acting("importer", "import"))
        try:
            count = 0
            for start in range(0, n_apps, batch):
                aggs = []
                for i in range(start, min(start + batch, n_apps)):
                    app = App(owner="acct", name=f"App{i}", description="", tags={}, extension="")
                    app.add_key_pair(crypto.generate_app_key(), box.seal("S" * 43, crypto.keypair_context(str(app.id))))
                    app.grant(api_id, "RELEASE", None)
                    aggs.append(app)
                    count += len(app.pending_events)
                ledger.save(*aggs)  # type: ignore[attr-defined]
            events_per_run = count
            return count
        finally:
            acting.reset(token)

    return median_rate(once, repeats), events_per_run


def _long_history(ledger: object, n_events: int, apis: list[str], repeats: int) -> str:
    """An app of ``n_events`` events: created, granted every API in three stages with a
    description, then renewals (and a key reset every 1,000), saved 1,000 events at a time
    (snapshots taken as every save crosses a multiple of the interval) up to the last
    multiple, then one command at a time up to ``interval - 1 - repeats`` events past it: each
    measured command then loads from a snapshot 84-98 events behind (the worst case is 99)."""
    from ledger import crypto
    from ledger.domain import Acting, acting
    from ledger.snapshots import SNAPSHOT_INTERVAL

    led: Any = ledger
    app_id = led.create_app("consumer", "longLived").ids["app_id"]
    for stage in ("RELEASE", "PRE", "TEST"):
        led.grant("provider", app_id, apis, stage, description=f"{stage.lower()} access, ticket 1234")
    token = acting.set(Acting("provider", "import"))
    end = datetime.now(timezone.utc) + timedelta(days=30)
    try:
        app = led.get_app(app_id)
        i = 0
        while app.version < n_events:
            i += 1
            if i % 1000 == 0:
                key = next(iter(app.key_pairs))
                app.reset_key_pair(key, key, led.box.seal(crypto.generate_app_secret(), crypto.keypair_context(app_id)))
            else:
                app.grant(apis[i % len(apis)], ("RELEASE", "PRE", "TEST")[i % 3], end + timedelta(seconds=i))
            if len(app.pending_events) >= 1000 or app.version == n_events:
                led.save(app)
    finally:
        acting.reset(token)
    target = n_events + SNAPSHOT_INTERVAL - 1 - repeats
    while led.get_app(app_id).version < target:
        led.grant("provider", app_id, apis[0], "RELEASE", until=end + timedelta(days=1, seconds=led.get_app(app_id).version))
    return str(app_id)


def _cold_commands(db: str, apis: list[str], n_events: int, repeats: int) -> tuple[float, float, float, float, int]:
    """Median ms of a cold command — a new Ledger on the file (a new process's state: nothing
    cached), load the app, renew a grant, close — on the long app and on 3-event apps; and the
    long app's load alone without snapshots (as before them) and with them."""
    from ledger.bootstrap import open_ledger

    setup = open_ledger(db, key=KEY)
    try:
        long_app = _long_history(setup, n_events, apis, repeats)
        small = [setup.create_app("consumer", f"small{i}").ids["app_id"] for i in range(repeats)]
        versions = setup.get_app(long_app).version
    finally:
        setup.close()
    end = datetime.now(timezone.utc) + timedelta(days=90)

    def cold(app_id: str, k: int) -> float:
        t0 = time.perf_counter()
        ledger = open_ledger(db, key=KEY)
        try:
            ledger.grant("provider", app_id, apis[1], "PRE", until=end + timedelta(seconds=k))
        finally:
            ledger.close()
        return (time.perf_counter() - t0) * 1000

    long_ms = statistics.median(cold(long_app, k) for k in range(repeats))
    small_ms = statistics.median(cold(app_id, k) for k, app_id in enumerate(small))

    def load(snapshots: bool) -> float:
        ledger = open_ledger(db, key=KEY)
        try:
            if not snapshots:
                ledger.repository.snapshot_store = None
            t0 = time.perf_counter()
            ledger.get_app(long_app)
            return (time.perf_counter() - t0) * 1000
        finally:
            ledger.close()

    with_ms = statistics.median(load(True) for _ in range(repeats))
    without_ms = statistics.median(load(False) for _ in range(3))
    return long_ms, small_ms, without_ms, with_ms, versions


def _cli_wall_ms(db: str, repeats: int) -> tuple[float, float, int]:
    exe = shutil.which("authledger")
    cmd = [exe] if exe else [sys.executable, "-m", "authledger.cli.main"]
    env = dict(os.environ)
    env.pop("AUTHLEDGER_SECRET_KEY", None)

    def timed(args: list[str]) -> tuple[float, int]:
        t0 = time.perf_counter()
        proc = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return (time.perf_counter() - t0) * 1000, proc.returncode

    runs = [timed(cmd + ["--db", db, "api", "list"]) for _ in range(repeats)]
    floor = [timed([sys.executable, "-c", "pass"])[0] for _ in range(repeats)]
    worst_rc = max(rc for _, rc in runs)
    return statistics.median(t for t, _ in runs), statistics.median(floor), worst_rc


def run(quick: bool) -> list[Row]:
    from ledger.bootstrap import open_ledger
    from ledger.crypto import key_file_for

    n = 100 if quick else 1000
    repeats = 3 if quick else 5
    n_bulk, batch = (500, 250) if quick else (10_000, 500)
    directory = tempfile.mkdtemp(prefix="authledger-bench-", dir=os.environ.get("BENCH_TMPDIR"))
    rows: list[Row] = []
    try:
        db = os.path.join(directory, "ledger.db")
        with open(key_file_for(db), "wb") as f:  # the CLI finds the same key beside the db
            import base64

            f.write(base64.b64encode(KEY) + b"\n")
        os.chmod(key_file_for(db), 0o600)
        ledger = open_ledger(db, key=KEY)
        sync = _ledger_synchronous(ledger)
        floor = _raw_insert_rate(directory, n, sync, repeats)
        peer = f"raw sqlite3 INSERT+COMMIT/row (WAL, synchronous={sync})"
        for name, rate in _command_rates(ledger, n, repeats).items():
            rows.append(Row(SECTION, f"{name} (individual, SQLite file)", rate, "commands/s", peer, floor,
                            ">= 1,000 commands/s", rate >= 1000))

        bulk_ledger = open_ledger(os.path.join(directory, "bulk.db"), key=KEY)
        rate, events = _bulk_rate(bulk_ledger, n_bulk, batch, repeats)
        bulk_ledger.close()
        raw = _raw_executemany_rate(directory, events, sync, repeats)
        rows.append(Row(SECTION, f"bulk load ({n_bulk} apps, {batch} per save)", rate, "events/s",
                        f"raw sqlite3 executemany of {events} msgpack rows", raw))
        ledger.close()

        history = 5_000 if quick else 50_000
        history_db = os.path.join(directory, "history.db")
        setup = open_ledger(history_db, key=KEY)
        apis = [setup.register_api("provider", f"long{i}").ids["api_id"] for i in range(20)]
        setup.close()
        long_ms, small_ms, without_ms, with_ms, versions = _cold_commands(history_db, apis, history, 15)
        rows.append(Row(SECTION, f"cold command (open, load, grant) on a {history:,}-event app ({versions:,} events: "
                        "84-98 after its newest snapshot)", long_ms, "ms",
                        "same on a 3-event app", small_ms, "< 20 ms", long_ms < 20))
        rows.append(Row(SECTION, f"load of the {versions:,}-event app, cold, without snapshots (as before)",
                        without_ms, "ms", "with snapshots", with_ms))

        wall, python_floor, rc = _cli_wall_ms(db, 7)
        metric = "CLI `authledger --db X api list` wall" + ("" if rc == 0 else f" (FAILED: exit {rc})")
        rows.append(Row(SECTION, metric, wall, "ms", "python -c pass", python_floor, "< 300 ms", rc == 0 and wall < 300))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return rows
