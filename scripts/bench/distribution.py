"""Benchmark section "distribution": the auth index reaching gateways over a real Redis.

A throwaway ``redis-server`` on loopback (no persistence), started by the bench:

- **propagation**: ledger commit → applied in a subscriber's index, p50/p99/max, at 100
  and 1,000 changes/s with 3 subscribers, each in its own process (as gateways are). The
  writer commits grant renewals on a fixed schedule (1 change per commit at 100/s, 10 per
  commit at 1,000/s: 100 commits/s) into a SQLite ledger; the publisher runs in the
  writer's process (woken by its saves). Commit time = the ledger's save listener; applied
  time = the subscriber's ``on_apply``; same machine, same clock.
- **peer**: the same changes (grants as casbin policies ``app, api, stage`` over the same
  data) reaching 3 more pycasbin enforcers through ``casbin-redis-watcher`` (Redis pub/sub;
  the enforcers and their watcher threads in one process, each callback applying the
  policy incrementally, the fastest use of that watcher): ``add_policy`` on the writer's
  enforcer + ``update_for_add_policy`` → present in the others.
- **bootstrap**: a gateway's first load of a 100,000-app snapshot (app, key pair with a
  sealed secret to open, AppCode, 2 grants each), next to LRANGE + msgpack-decoding the same
  chunks alone (the floor).

    python -m scripts.bench.distribution [--quick]
"""

from __future__ import annotations

import ast
import bisect
import gc
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from scripts.bench.common import Row

SECTION = "distribution"
REPO = Path(__file__).resolve().parents[2]
KEY = bytes(range(32))
SUBSCRIBERS = 3
GOAL_P99_MS = 10.0
GOAL_BOOTSTRAP_S = 2.0


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


# -- a subscriber process -------------------------------------------------------------------


def subscriber_main(url: str, prefix: str, out: str) -> None:
    """Run one subscriber until SIGTERM; then write [(position, applied epoch time)] to ``out``."""
    from authledger.distribution import connect
    from authledger.distribution.subscriber import Subscriber
    from ledger.crypto import SecretBox

    applied: list[tuple[int, float]] = []
    sub = Subscriber(connect(url), SecretBox(KEY), prefix=prefix, block_ms=1000,
                     on_apply=lambda pos: applied.append((pos, time.time())))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sub.start()
    Path(out + ".ready").write_text("1")
    stop.wait()
    sub.stop()
    Path(out).write_text(json.dumps(applied))


# -- propagation ----------------------------------------------------------------------------


def _world(ledger: Any, apps: int) -> tuple[list[Any], list[str]]:
    from ledger.domain import Acting, acting

    acting.set(Acting("acme", "bench"))
    apis = [ledger.register_api("acme", f"api{i}", nonce_required=False).ids["api_id"] for i in range(10)]
    ids = [ledger.create_app("bob", f"app{i}").ids["app_id"] for i in range(apps)]
    for i, app_id in enumerate(ids):
        ledger.grant("acme", app_id, apis[i % len(apis)], "RELEASE")
    return [ledger.get_app(a) for a in ids], apis


def _write_at_rate(ledger: Any, apps: list[Any], apis: list[str], rate: int, seconds: float) -> int:
    """Grant renewals at ``rate`` changes/s on a fixed schedule; returns how many changes."""
    from ledger.domain import Acting, acting

    acting.set(Acting("acme", "bench"))
    per_commit = 1 if rate <= 100 else rate // 100
    interval = per_commit / rate
    rnd = random.Random(rate)
    changes = 0
    t_next = time.perf_counter()
    end = t_next + seconds
    base = datetime.now(UTC) + timedelta(days=30)
    while t_next < end:
        batch = rnd.sample(apps, per_commit)
        for app in batch:
            app.grant(apis[rnd.randrange(len(apis))], "RELEASE", base + timedelta(seconds=rnd.randrange(10**7)))
        ledger.save(*batch)
        changes += per_commit
        t_next += interval
        delay = t_next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    return changes


def _latencies(commits: list[tuple[int, float]], applied: list[tuple[int, float]]) -> list[float]:
    """Per commit: the first applied message at or past its position, minus its commit time (ms)."""
    positions = [p for p, _ in applied]
    out = []
    for pos, t in commits:
        i = bisect.bisect_left(positions, pos)
        if i < len(applied):
            out.append((applied[i][1] - t) * 1000)
    return out


def bench_propagation(redis: Any, tmp: Path, quick: bool) -> tuple[list[Row], dict[int, dict[str, float]]]:
    from authledger.distribution.publisher import Publisher, Publishing
    from ledger.bootstrap import open_ledger

    seconds = 3.0 if quick else 10.0
    rows: list[Row] = []
    figures: dict[int, dict[str, float]] = {}
    for rate in (100, 1000):
        prefix = f"bench{rate}"
        ledger = open_ledger(str(tmp / f"prop{rate}.db"), key=KEY)
        apps, apis = _world(ledger, 200 if quick else 1000)
        commits: list[tuple[int, float]] = []
        ledger.add_save_listener(lambda pos, c=commits: c.append((pos, time.time())))  # first: before the wake
        publishing = Publishing(Publisher(ledger, redis.client(), prefix=prefix, poll_interval=0.005))
        procs, outs = [], []
        for i in range(SUBSCRIBERS):
            out = str(tmp / f"sub{rate}-{i}.json")
            outs.append(out)
            procs.append(subprocess.Popen([sys.executable, "-m", "scripts.bench.distribution", "--subscriber",
                                           redis.url, prefix, out], cwd=REPO))
        deadline = time.monotonic() + 30
        while not all(Path(o + ".ready").exists() for o in outs) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # bootstrapped and blocking on XREAD
        commits.clear()
        n = _write_at_rate(ledger, apps, apis, rate, seconds)
        time.sleep(1.0)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        publishing.stop()
        lat: list[float] = []
        for out in outs:
            applied = json.loads(Path(out).read_text())
            lat += _latencies(commits, [tuple(a) for a in applied])  # type: ignore[misc]
        ledger.close()
        achieved = n / seconds
        p50, p99, mx = _pct(lat, 50), _pct(lat, 99), max(lat) if lat else float("nan")
        figures[rate] = {"p50": p50, "p99": p99, "max": mx}
        label = f"propagation at {rate:,} changes/s ({achieved:,.0f} achieved), {SUBSCRIBERS} subscriber processes"
        rows.append(Row(SECTION, label + ": p50", p50, "ms"))
        rows.append(Row(SECTION, label + ": p99", p99, "ms", goal="< 10 ms at 1,000/s" if rate == 1000 else "",
                        met=(p99 < GOAL_P99_MS) if rate == 1000 else None))
        rows.append(Row(SECTION, label + ": max", mx, "ms"))
    return rows, figures


# -- the peer: pycasbin + casbin-redis-watcher ----------------------------------------------


CASBIN_MODEL = ("[request_definition]\nr = sub, obj, act\n[policy_definition]\np = sub, obj, act\n"
                "[policy_effect]\ne = some(where (p.eft == allow))\n"
                "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n")


def _enforcer(apps: int) -> Any:
    import casbin
    from casbin.model import Model

    m = Model()
    m.load_model_from_text(CASBIN_MODEL)
    e = casbin.Enforcer(m)
    e.add_policies([[f"app{i}", f"api{i % 10}", "RELEASE"] for i in range(apps)])
    return e


def _resp2_watchers() -> None:
    """Run casbin-redis-watcher (which pins redis-py 4.5) on redis-py 8 as intended.

    ``new_watcher`` drops its ``Redis`` object on return; redis-py >= 5 closes the shared pool
    in ``__del__``, which cuts the watcher's pub/sub connection (seen here: 2 of 3 watchers
    silently got nothing). Keeping the clients alive restores the library's own behaviour.
    """
    import redis
    from casbin_redis_watcher import watcher

    class KeptRedis(redis.Redis):
        kept: ClassVar[list[Any]] = []

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            KeptRedis.kept.append(self)

    watcher.Redis = KeptRedis  # type: ignore[misc]


def casbin_subscriber_main(port: str, channel: str, apps: str, out: str) -> None:
    """One pycasbin enforcer kept current by casbin-redis-watcher, until SIGTERM; writes [(rule, time)]."""
    from casbin_redis_watcher import WatcherOptions, new_watcher

    _resp2_watchers()
    e = _enforcer(int(apps))
    arrived: list[tuple[list[str], float]] = []

    def callback(raw: str) -> None:
        # The watcher hands over str(pubsub item); apply the one policy it carries (incremental).
        msg = json.loads(ast.literal_eval(raw)["data"])
        if msg["method"] == "UpdateForAddPolicy":
            rule = [str(x) for x in msg["params"][0]]
            e.add_policy(*rule)
            arrived.append((rule, time.time()))

    opts = WatcherOptions()
    opts.host, opts.port, opts.channel = "127.0.0.1", port, channel
    opts.optional_update_callback = callback
    new_watcher(opts)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Path(out + ".ready").write_text("1")
    stop.wait()
    Path(out).write_text(json.dumps(arrived))


def bench_casbin(redis: Any, tmp: Path, quick: bool, ours: dict[int, dict[str, float]]) -> list[Row]:
    from casbin_redis_watcher import WatcherOptions, new_publish_watcher

    _resp2_watchers()
    apps = 200 if quick else 1000
    seconds = 3.0 if quick else 10.0
    rows: list[Row] = []
    for rate in (100, 1000):
        channel = f"/casbin-bench-{rate}"
        outs = [str(tmp / f"casbin{rate}-{i}.json") for i in range(SUBSCRIBERS)]
        procs = [subprocess.Popen([sys.executable, "-m", "scripts.bench.distribution", "--casbin-subscriber",
                                   str(redis.port), channel, str(apps), out], cwd=REPO) for out in outs]
        deadline = time.monotonic() + 30
        while not all(Path(o + ".ready").exists() for o in outs) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        popts = WatcherOptions()
        popts.host, popts.port, popts.channel = "127.0.0.1", str(redis.port), channel
        popts.optional_update_callback = lambda _raw: None
        writer_watcher = new_publish_watcher(popts)
        writer = _enforcer(apps)
        sent: dict[tuple[str, ...], float] = {}
        interval = 1 / rate
        t_next = time.perf_counter()
        end = t_next + seconds
        i = 0
        while t_next < end:
            rule = (f"app{i % apps}", f"api{i % 10}-{i}", "RELEASE")
            writer.add_policy(*rule)
            sent[rule] = time.time()  # the writer's enforcer has it: the "commit"
            writer_watcher.update_for_add_policy("p", "p", *rule)
            i += 1
            t_next += interval
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        time.sleep(1.0)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        lat = []
        for out in outs:
            for rule, t in json.loads(Path(out).read_text()):
                if tuple(rule) in sent:
                    lat.append((t - sent[tuple(rule)]) * 1000)
        missing = len(sent) * SUBSCRIBERS - len(lat)
        p50, p99 = _pct(lat, 50), _pct(lat, 99)
        label = f"propagation at {rate:,} changes/s, ours vs pycasbin + casbin-redis-watcher ({SUBSCRIBERS} processes each"
        label += f"; peer missed {missing})" if missing else ")"
        rows.append(Row(SECTION, label + ": p50", ours[rate]["p50"], "ms", "casbin-redis-watcher p50", p50))
        rows.append(Row(SECTION, label + ": p99", ours[rate]["p99"], "ms", "casbin-redis-watcher p99", p99))
    return rows


# -- bootstrap ------------------------------------------------------------------------------


def bench_bootstrap(redis: Any, quick: bool) -> list[Row]:
    import msgpack

    from authledger.distribution.publisher import Publisher
    from authledger.distribution.subscriber import Subscriber
    from ledger.crypto import SecretBox, keypair_context
    from projections.auth_index import AuthIndex

    n = 10_000 if quick else 100_000
    box = SecretBox(KEY)
    index = AuthIndex(box)
    apis = [f"00000000-0000-4000-8000-{i:012d}" for i in range(100)]
    for api in apis:
        index.apply_change(("api_set", api, "acme", "APP", "HEADER", ("HmacSHA256",), True, None, None))
    rnd = random.Random(1)
    for i in range(n):
        app_id = f"10000000-0000-4000-8000-{i:012d}"
        index.apply_change(("app_set", app_id, {"owner": "bob", "extension": f'{{"n":{i}}}',
                                                "enabled": True, "deleted": False}))
        index.apply_change(("key_set", f"key{i:020d}", app_id, box.seal(f"secret-{i:032d}", keypair_context(app_id))))
        index.apply_change(("code_set", f"{i:064x}", app_id))
        for api in rnd.sample(apis, 2):
            index.apply_change(("grant_set", app_id, api, "RELEASE", None))
    index.position = 1
    prefix = "benchboot"
    publisher = Publisher(SimpleNamespace(box=box), redis.client(), prefix=prefix)
    publisher.index = index
    publisher.snapshot()
    client = redis.client()
    sub = Subscriber(client, box, prefix=prefix)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sub.bootstrap()
        times.append(time.perf_counter() - t0)
    assert sub.index.digest() == index.digest()

    def floor() -> None:  # with the collector paused too, as the subscriber does
        gc.disable()
        try:
            key = client.get(sub.keys["pointer"])
            for c in client.lrange(key, 0, -1):
                msgpack.unpackb(c, raw=False, use_list=False)
        finally:
            gc.enable()

    floors = []
    for _ in range(3):
        t0 = time.perf_counter()
        floor()
        floors.append(time.perf_counter() - t0)
    size = sum(len(c) for c in client.lrange(client.get(sub.keys["pointer"]), 0, -1))
    value = statistics.median(times)
    return [
        Row(SECTION, f"gateway bootstrap from a {n:,}-app snapshot ({size / 1e6:.1f} MB)", value, "s",
            "LRANGE + msgpack decode alone (floor)", statistics.median(floors), "< 2 s at 100,000 apps",
            value < GOAL_BOOTSTRAP_S if n >= 100_000 else None),
    ]


def run(quick: bool) -> list[Row]:
    from tests.distribution.harness import RedisServer

    with tempfile.TemporaryDirectory(prefix="authledger-bench-dist-") as d:
        tmp = Path(d)
        redis = RedisServer(tmp).start()
        try:
            rows, ours = bench_propagation(redis, tmp, quick)
            try:
                import casbin_redis_watcher  # noqa: F401 - the peer (pip install --no-deps casbin-redis-watcher)
            except ImportError:
                rows.append(Row(SECTION, "peer casbin-redis-watcher not installed (pip install --no-deps "
                                "casbin-redis-watcher)", float("nan"), ""))
            else:
                rows += bench_casbin(redis, tmp, quick, ours)
            rows += bench_bootstrap(redis, quick)
        finally:
            redis.stop()
    return rows


def _print(rows: list[Row]) -> None:
    for r in rows:
        peer = f"  | {r.peer}: {r.peer_value:,.3f}" if r.peer_value is not None else ""
        goal = f"  | goal {r.goal}: {'met' if r.met else 'NOT met'}" if r.met is not None else ""
        print(f"{r.metric}: {r.value:,.3f} {r.unit}{peer}{goal}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--subscriber":
        subscriber_main(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "--casbin-subscriber":
        casbin_subscriber_main(*sys.argv[2:6])
    else:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        os.environ.setdefault("PYTHONHASHSEED", "0")
        _print(run("--quick" in sys.argv))
