"""Benchmark section "audit": temporal index build, queries, CLI wall time, catch-up, verify-log.

Data: 20,000 apps (each: AppKey, AppCode, 3 grants), 200 APIs of which one is granted
to 1,000 apps, then a mixed history — renewals, shortenings, revokes and re-grants,
disable/enable flaps, key resets with and without a new AppKey, AppCode resets —
stamped one second apart, to 1,000,000 events (quick: 50,000 events, 2,000 apps; the hot
API keeps its 1,000 apps). Written with bulk ``ledger.save(*aggregates)`` and injected
timestamps into a SQLite ledger cached under ``bench-results/``.

Figures and their floors/peers, measured in the same run:
- temporal index build events/s vs plain sqlite3 read + ``msgpack.unpackb`` (goal >= 0.25x, pure
  Python since issue 16 point 2: the build runs once per index);
- point query p50 (goal < 1 ms); who-could-call at T on the 1,000-app API (goal < 10 ms);
- CLI query wall time, process start included, vs ``python -c 'import click'`` (goal < 1.5 s);
- incremental catch-up per new event (batches of 1 and 1,000);
- verify-log events/s (goal >= 100,000/s);
- the same log copied into PostgreSQL (a throwaway server, tests/pg.py; skipped when
  PostgreSQL is not installed): first catch-up of the index there (index + chain, one pass,
  one transaction) next to SQLite's, and catch-up per new event.

Run: python -m scripts.bench.audit [--quick]
     python -m scripts.bench.audit --build-pairs N [--quick]   (only the build vs its floor:
     N alternating pairs in one process, medians and ratio)
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack

from scripts.bench.common import Row, cached_ledger

SECTION = "audit"
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
STAGES = ("RELEASE", "PRE", "TEST")


def sizes(quick: bool) -> dict[str, int]:
    return {"apps": 2_000 if quick else 20_000, "apis": 20 if quick else 200, "hot": 1_000,
            "events": 50_000 if quick else 1_000_000}


def ledger_db(quick: bool) -> tuple[Path, dict[str, Any]]:
    """The cached benchmark ledger (generated once per size) and what it holds."""
    s = sizes(quick)
    return cached_ledger(f"audit-{s['apps']}apps-{s['events']}events", lambda ledger: _generate(ledger, s))


def _generate(ledger: Any, s: dict[str, int]) -> dict[str, Any]:
    from ledger.domain import Acting, Api, App, AppCodeClaim, AppKeyClaim, acting

    rng = random.Random(11)
    box = ledger.box
    clock = [T0]

    def tick(seconds: float = 1.0) -> None:
        clock[0] += timedelta(seconds=seconds)
        acting.set(Acting("bench", "import", clock[0]))

    tick()
    apis = [Api(owner="provider", name=f"api{i}", group="g", auth_type="APP", appcode_mode="HEADER",
                signature_methods=("HmacSHA256",), nonce_required=True, http_method=None, path_pattern=None)
            for i in range(s["apis"])]
    ledger.save(*apis)
    api_ids = [str(a.id) for a in apis]
    hot = api_ids[0]
    apps: list[Any] = []
    keys: list[str] = []
    batch: list[Any] = []
    sealed = box.seal("bench-secret-0123456789", "bench")  # secrets are opaque to the audit side
    for i in range(s["apps"]):
        tick(0.01)
        app = App(owner=f"acct{i % 97}", name=f"app{i:05d}", description="", tags={}, extension="")
        key = f"key{i:06d}"
        app.add_key_pair(key, sealed)
        code_hash = box.code_hash(f"code{i:012d}abcdefgh")
        app.add_app_code(code_hash, sealed, "efgh")
        batch += [app, AppKeyClaim(app_key=key, app_id=str(app.id)), AppCodeClaim(code_hash=code_hash, app_id=str(app.id))]
        if i < s["hot"]:
            app.grant(hot, "RELEASE", None)
        for api in rng.sample(api_ids[1:], 2):
            app.grant(api, rng.choice(STAGES), clock[0] + timedelta(days=rng.randint(1, 400)))
        apps.append(app)
        keys.append(key)
        if len(batch) >= 3000:
            ledger.save(*batch)
            batch = []
    ledger.save(*batch)
    total = ledger.recorder.max_notification_id()
    n_keys = len(keys)
    while total < s["events"]:
        touched: dict[int, Any] = {}
        claims: list[Any] = []
        for _ in range(min(5000, s["events"] - total)):
            tick()
            i = rng.randrange(len(apps))
            app = apps[i]
            r = rng.random()
            if r < 0.45:  # renew or shorten an existing grant
                api, stage = rng.choice(list(app.grants))
                app.grant(api, stage, clock[0] + timedelta(days=rng.randint(1, 400)))
            elif r < 0.55:  # revoke one, grant another
                api, stage = rng.choice(list(app.grants))
                if api != hot:
                    app.revoke(api, stage, "provider")
                    app.grant(rng.choice(api_ids[1:]), rng.choice(STAGES),
                              clock[0] + timedelta(hours=rng.randint(1, 2000)))
            elif r < 0.75:  # disable/enable flap
                if app.enabled:
                    app.disable()
                else:
                    app.enable()
            elif r < 0.85:  # secret rotation, same AppKey
                app.reset_key_pair(keys[i], keys[i], sealed)
            elif r < 0.90:  # new AppKey
                n_keys += 1
                new = f"key{i:06d}r{n_keys}"
                app.reset_key_pair(keys[i], new, sealed)
                claims.append(AppKeyClaim(app_key=new, app_id=str(app.id)))
                keys[i] = new
            else:  # AppCode reset
                old = next(iter(app.app_codes))
                n_keys += 1
                new_hash = box.code_hash(f"code{n_keys:012d}zzzzzzzz")
                app.reset_app_code(old, new_hash, sealed, "zzzz")
                claims.append(AppCodeClaim(code_hash=new_hash, app_id=str(app.id)))
            touched[i] = app
        ledger.save(*touched.values(), *claims)
        total = ledger.recorder.max_notification_id()
    # Make sure the hot API has its 1,000 apps enabled at the sample instant (the end).
    tick()
    enabling = [a for a in apps[: s["hot"]] if not a.enabled]
    for a in enabling:
        a.enable()
    ledger.save(*enabling)
    return {"hot_api": hot, "api_ids": api_ids, "keys": keys, "end": clock[0].isoformat(),
            "start": T0.isoformat(), "events": ledger.recorder.max_notification_id()}


# -- measurements ---------------------------------------------------------------------------

def _floor(path: Path) -> float:
    """Events/s of reading the rows with sqlite3 and decoding the state with msgpack.unpackb."""
    conn = sqlite3.connect(path)
    t = time.perf_counter()
    n = 0
    for _pos, _oid, _ver, _topic, state in conn.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"):
        msgpack.unpackb(state, raw=False)
        n += 1
    conn.close()
    return n / (time.perf_counter() - t)


def _p50_ms(fn: Any, args: list[Any]) -> float:
    times = []
    for a in args:
        t = time.perf_counter()
        fn(*a)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def run(quick: bool) -> list[Row]:
    from projections import chain
    from projections.temporal import to_micros
    from projections.temporal_queries import AuditQueries, LedgerEvents
    from projections.log import rows as log_rows
    from projections.log.sqlite import SqliteLog
    from projections.temporal_store import TemporalStore

    path, info = ledger_db(quick)
    rows: list[Row] = []
    log = SqliteLog(str(path))
    total = log.max_position()
    rng = random.Random(3)

    with tempfile.TemporaryDirectory() as tmp:
        idx = os.path.join(tmp, "bench.audit.sqlite")
        built = total - 1000
        floor = _floor(path)
        # A first build, as open_index does it: a fresh file without a journal.
        t = time.perf_counter()
        bulk = TemporalStore(idx, bulk=True)
        bulk.catch_up(log, until=built, record_chain=False)
        bulk.close()
        index_s = time.perf_counter() - t
        build_rate = built / index_s
        store = TemporalStore(idx)
        t = time.perf_counter()
        store.catch_up(log, until=built)  # the chain, in a pass of its own
        chain_s = time.perf_counter() - t
        floor = max(floor, _floor(path))  # the machine is shared: the better of two floors, before and after
        rows.append(Row(SECTION, f"temporal index build ({built:,} events)", build_rate, "events/s",
                        "sqlite3 read + msgpack.unpackb", floor, ">= 0.25x floor", build_rate >= 0.25 * floor))
        both = built / (index_s + chain_s)
        rows.append(Row(SECTION, "first catch-up: index + chain recording (two passes)", both, "events/s",
                        "sqlite3 read + msgpack.unpackb", floor))
        t = time.perf_counter()
        store.catch_up(log, until=built + 1)
        one = time.perf_counter() - t
        t = time.perf_counter()
        store.catch_up(log)
        per = (time.perf_counter() - t) / (total - built - 1)
        rows.append(Row(SECTION, "catch-up, 1 new event (whole call)", one * 1000, "ms"))
        rows.append(Row(SECTION, "catch-up per new event (batch of 999)", per * 1e6, "µs/event",
                        "build, per event", 1e6 / build_rate))

        q = AuditQueries(store, LedgerEvents(log))
        lo, hi = to_micros(datetime.fromisoformat(info["start"])), to_micros(datetime.fromisoformat(info["end"]))
        samples = [(rng.choice(info["keys"]), rng.choice(info["api_ids"]), rng.choice(STAGES), rng.randint(lo, hi))
                   for _ in range(3000)]
        p50 = _p50_ms(q.could_call, samples)
        rows.append(Row(SECTION, "point query (key, API, stage, T) p50", p50, "ms", goal="< 1 ms", met=p50 < 1))
        who = q.who_could_call_at(info["hot_api"], hi, "RELEASE")
        apps_at = len({r["app_id"] for r in who})
        w = _p50_ms(q.who_could_call_at, [(info["hot_api"], hi + k, "RELEASE") for k in range(50)])
        rows.append(Row(SECTION, f"who-could-call at T, API with {apps_at:,} authorized apps", w, "ms",
                        goal="< 10 ms", met=w < 10))
        # T inside the history (before the index's horizon: the whole-history query, not the
        # open-period indexes): 50 instants spread over the second half of the history.
        mids = [(info["hot_api"], lo + (hi - lo) // 2 + k * (hi - lo) // 100, "RELEASE") for k in range(50)]
        apps_mid = min(len({r["app_id"] for r in q.who_could_call_at(*m)}) for m in mids)
        wm = _p50_ms(q.who_could_call_at, mids)
        rows.append(Row(SECTION, f"who-could-call at T inside the history, >= {apps_mid:,} authorized apps", wm, "ms",
                        goal="< 10 ms", met=wm < 10))
        store.close()
        # The CLI, on the ledger's own index (built once here, outside the timing).
        cli_store = TemporalStore(str(path) + ".audit.sqlite")
        cli_store.catch_up(log)
        cli_store.close()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "authledger.cli.main", "--db", str(path), "who-could-call", "--api",
               info["hot_api"], "--stage", "RELEASE", "--at", info["end"], "--json"]
        walls = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t)
        base = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import click"], check=True)
            base.append(time.perf_counter() - t)
        wall = statistics.median(walls) * 1000
        rows.append(Row(SECTION, f"CLI who-could-call wall time ({total:,}-event ledger)", wall, "ms",
                        "python -c 'import click'", statistics.median(base) * 1000, "< 1500 ms", wall < 1500))
        # verify-log: recompute the chain and walk it beside the recorded one.
        vs = TemporalStore(str(path) + ".audit.sqlite")
        h, p = vs.chain_head()
        t = time.perf_counter()
        verdict = chain.verify(log_rows(log), chain.recorded_entries(vs.conn), (h, p))
        vrate = verdict.events / (time.perf_counter() - t)
        assert verdict.ok, verdict
        rows.append(Row(SECTION, "verify-log", vrate, "events/s", goal=">= 100,000/s", met=vrate >= 100_000))
        vs.close()
    rows += _postgres(path, built, total, both, per, info, wall)
    return rows


def _postgres(path: Path, built: int, total: int, sqlite_first: float, sqlite_per: float, info: dict[str, Any],
              sqlite_wall: float) -> list[Row]:
    """The audit index in PostgreSQL (its audit_* tables) over the same log, copied there."""
    from authledger.migrate import migrate
    from projections.log import open_log
    from projections.temporal_store import TemporalStore
    from tests.pg import PgServer, find_bin_dir

    if find_bin_dir() is None:
        return []
    with PgServer() as pg:
        url = pg.create_db("bench")
        migrate(f"sqlite:{path}", url)
        log = open_log(url)
        store = TemporalStore(url)
        t = time.perf_counter()
        store.catch_up(log, until=built)
        first = built / (time.perf_counter() - t)
        t = time.perf_counter()
        store.catch_up(log)
        per = (time.perf_counter() - t) / (total - built)
        store.close()
        log.recorder.datastore.close()  # type: ignore[union-attr]
        cmd = [sys.executable, "-m", "authledger.cli.main", "--database-url", url, "who-could-call", "--api",
               info["hot_api"], "--stage", "RELEASE", "--at", info["end"], "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        walls = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t)
        wall = statistics.median(walls) * 1000
    return [
        Row(SECTION, "PostgreSQL: CLI who-could-call wall time (index up to date)", wall, "ms",
            "SQLite, same command", sqlite_wall, "< 1500 ms", wall < 1500),
        Row(SECTION, "PostgreSQL: first catch-up, index + chain (one pass)", first, "events/s",
            "SQLite first catch-up (two passes)", sqlite_first, goal="report"),
        Row(SECTION, "PostgreSQL: catch-up per new event (batch of 1,000)", per * 1e6, "µs/event",
            "SQLite, same batch", sqlite_per * 1e6, goal="report"),
    ]


def build_pairs(quick: bool, pairs: int) -> dict[str, Any]:
    """Only the index build and its floor, alternating ``pairs`` times in this process (the
    machine is shared: medians, and the ratio of the medians)."""
    from projections.log.sqlite import SqliteLog
    from projections.temporal_store import TemporalStore

    path, _info = ledger_db(quick)
    log = SqliteLog(str(path))
    built = log.max_position() - 1000
    builds, floors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(pairs):
            floors.append(built / _floor(path))  # seconds for as many events as the build
            idx = os.path.join(tmp, f"bench{k}.audit.sqlite")
            t = time.perf_counter()
            bulk = TemporalStore(idx, bulk=True)
            bulk.catch_up(log, until=built, record_chain=False)
            bulk.close()
            builds.append(time.perf_counter() - t)
            os.remove(idx)
    b, f = statistics.median(builds), statistics.median(floors)
    return {"events": built, "build_s": [round(x, 3) for x in builds],
            "floor_s": [round(x, 3) for x in floors], "build_median_s": round(b, 3),
            "floor_median_s": round(f, 3), "ratio": round(f / b, 3)}


if __name__ == "__main__":  # pragma: no cover
    if "--build-pairs" in sys.argv:
        n = int(sys.argv[sys.argv.index("--build-pairs") + 1])
        print(json.dumps(build_pairs("--quick" in sys.argv, n)))
    else:
        for r in run("--quick" in sys.argv):
            print(json.dumps(r.to_dict()))
