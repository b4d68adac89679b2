"""Benchmark section "store": SQLite versus PostgreSQL under concurrent writer processes.

- commands/s with 1, 4 and 8 writer processes (each its own Ledger, ``create_app`` +
  ``grant`` + ``disable``/``enable`` mixed, on apps of its own) on one SQLite file and on one
  PostgreSQL database;
- projection follow latency, commit to applied: PostgreSQL through LISTEN/NOTIFY (the
  library's subscription) next to SQLite polling (a writer in another process);
- the machine's core count (throughput with N writers is bounded by it: 2 cores here).

Starts its own throwaway PostgreSQL server (tests/pg.py), like the tests.
Run: python -m scripts.bench.store [--quick]
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench.common import KEY, Row

SECTION = "store"
CTX = mp.get_context("spawn")


def _writer(target: str, n: int, seed: int, barrier: Any, out: Any) -> None:
    from ledger.bootstrap import open_ledger

    ledger = open_ledger(target, key=KEY)
    api = ledger.register_api(f"prov{seed}", "api").ids["api_id"]
    app = ledger.create_app(f"acct{seed}", "BenchApp").ids["app_id"]
    barrier.wait()
    t0 = time.perf_counter()
    for i in range(n):
        k = i % 4
        if k == 0:
            ledger.create_app(f"acct{seed}", "BenchApp")
        elif k == 1:
            ledger.grant(f"prov{seed}", app, api, "RELEASE", until=f"2099-01-{1 + i % 28:02d}T00:00:00+00:00")
        elif k == 2:
            ledger.disable_app(app, f"acct{seed}")
        else:
            ledger.enable_app(app, f"acct{seed}")
    out.put((n, t0, time.perf_counter()))
    ledger.close()


def writers(target: str, processes: int, n: int) -> float:
    """Commands per second, all processes together (first start to last finish)."""
    barrier, out = CTX.Barrier(processes), CTX.Queue()
    procs = [CTX.Process(target=_writer, args=(target, n, seed, barrier, out)) for seed in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    total = sum(r[0] for r in results)
    return total / (max(r[2] for r in results) - min(r[1] for r in results))


def _follow_writer(target: str, n: int, out: Any) -> None:
    from ledger.bootstrap import open_ledger

    ledger = open_ledger(target, key=KEY)
    app = ledger.create_app("acct", "Latency").ids["app_id"]
    out.put(("ready", 0, 0.0))
    time.sleep(0.5)
    for i in range(n):
        r = ledger.disable_app(app, "acct") if i % 2 == 0 else ledger.enable_app(app, "acct")
        out.put(("wrote", r.position, time.time()))
        time.sleep(0.02)
    ledger.close()


class _Stamp:
    def __init__(self) -> None:
        self.position = 0
        self.seen: dict[int, float] = {}

    def apply(self, position: int, topic: str, originator_id: Any, state: dict[str, Any]) -> None:
        self.position = position
        self.seen[position] = time.time()


def follow_latency(target: str, n: int) -> float:
    """Median ms from a commit in another process to the follower applying it."""
    from ledger.bootstrap import open_ledger
    from projections.follow import start_following

    ledger = open_ledger(target, key=KEY)
    sink = _Stamp()
    following = start_following(ledger, sink, poll_interval=0.05)
    out = CTX.Queue()
    p = CTX.Process(target=_follow_writer, args=(target, n, out))
    p.start()
    assert out.get(timeout=60)[0] == "ready"
    wrote = [out.get(timeout=60) for _ in range(n)]
    p.join(60)
    deadline = time.time() + 10
    while sink.position < wrote[-1][1] and time.time() < deadline:
        time.sleep(0.01)
    following.stop()
    ledger.close()
    lat = [(sink.seen[pos] - t) * 1000 for _, pos, t in wrote if pos in sink.seen]
    return statistics.median(lat)


def run(quick: bool) -> list[Row]:
    from tests.pg import PgServer

    n = 150 if quick else 500
    rows = [Row(SECTION, "machine cores (os.cpu_count)", float(os.cpu_count() or 0), "cores", peer="",
                goal="report")]
    with PgServer() as pg, tempfile.TemporaryDirectory() as tmp:
        for procs in (1, 4, 8):
            sqlite_rate = writers(os.path.join(tmp, f"w{procs}.db"), procs, n)
            pg_rate = writers(pg.create_db("bench"), procs, n)
            rows.append(Row(SECTION, f"commands/s, {procs} writer process{'es' if procs > 1 else ''}, PostgreSQL",
                            pg_rate, "ops/s", peer="SQLite file", peer_value=sqlite_rate, goal="report"))
        m = 30 if quick else 100
        sqlite_lat = follow_latency(os.path.join(tmp, "follow.db"), m)
        pg_lat = follow_latency(pg.create_db("bench"), m)
        rows.append(Row(SECTION, "follow latency, commit in another process to applied, PostgreSQL LISTEN/NOTIFY",
                        pg_lat, "ms", peer="SQLite polling (50 ms)", peer_value=sqlite_lat, goal="< 50 ms",
                        met=pg_lat < 50))
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run("--quick" in sys.argv):
        print(json.dumps(r.to_dict()))
