"""Real processes: ``authledger publish`` killed with SIGKILL and restarted, stopped with
SIGTERM; ``authledger gateway`` sidecars answering /authz from Redis with shared nonces."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from authledger.gateway.client import sign_headers
from ledger.application import Ledger
from tests.distribution.harness import authledger, churn, populate, wait_until
from tests.distribution.test_subscribers import converged
from tests.instant_format import check_instants
from tests.service.harness import free_port, wait_for


def _publish(db: str, url: str, prefix: str, log: Path) -> Any:
    return authledger("--db", db, "publish", "--redis", url, "--prefix", prefix, "--snapshot-every", "0.5",
                      "--poll-interval", "0.005", log=log)


def test_a_publisher_killed_mid_stream_and_restarted_neither_loses_nor_duplicates(
        ledger: Ledger, db_path: str, redis_server: Any, prefix: str, make_subscriber: Any, tmp_path: Path) -> None:
    world = populate(ledger, 10)
    log = tmp_path / "publish.log"
    proc = _publish(db_path, redis_server.url, prefix, log)
    applied: list[list[int]] = [[], []]
    subs = [make_subscriber(on_apply=applied[i].append) for i in range(2)]
    assert wait_until(lambda: all(s.bootstrapped for s in subs), 15), log.read_text()

    done = threading.Event()

    def write() -> None:
        for i in range(40):
            churn(ledger, world, 10, seed=i)
            time.sleep(0.01)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    rnd = random.Random(6)
    kills = 0
    try:
        while not done.is_set() or kills < 3:
            # once the (re)started publisher is publishing, kill it at a random instant
            assert wait_until(lambda k=kills: _started(log) > k, 15), log.read_text()
            time.sleep(rnd.uniform(0.0, 0.15))
            os.kill(proc.pid, signal.SIGKILL)  # at whatever point it happens to be
            proc.wait(10)
            kills += 1
            proc = _publish(db_path, redis_server.url, prefix, log)
        writer.join()
        assert wait_until(lambda: _started(log) > kills, 15), log.read_text()
        converged(ledger, *subs, timeout=20)
    finally:
        proc.terminate()
        proc.wait(10)
    # Check no loss, no duplicate: each subscriber applied strictly increasing positions,
    # never saw a gap, and the stream's messages are contiguous (each prev = previous pos)
    for positions, sub in zip(applied, subs):
        assert positions == sorted(set(positions)) and positions
        assert sub.gaps == 0 and sub.malformed == 0 and sub.bootstraps == 1
    from projections.wire import decode_message

    entries = subs[0].client.xrange(subs[0].keys["stream"])
    messages = [decode_message(fields[b"m"]) for _id, fields in entries]
    assert all(b.prev == a.pos for a, b in itertools.pairwise(messages))
    assert log.read_text().count("resuming after position") == kills
    assert kills >= 3


def _started(log: Path) -> int:
    """How many publisher runs reached their loop (first run: snapshot; restarts: resuming)."""
    text = log.read_text()
    return text.count("resuming after position") + text.count("empty Redis")


def test_sigterm_stops_the_publisher_cleanly(ledger: Ledger, db_path: str, redis_server: Any, prefix: str,
                                             tmp_path: Path) -> None:
    populate(ledger, 2)
    log = tmp_path / "publish.log"
    proc = _publish(db_path, redis_server.url, prefix, log)
    assert wait_until(lambda: redis_server.client().exists(f"{prefix}:snapshot"), 15), log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "publisher stopped at position" in log.read_text()


def _authz(port: int, headers: dict[str, str], uri: str = "/items/1") -> tuple[int, str | None, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/authz", headers={**headers, "X-Original-Method": "GET", "X-Original-URI": uri})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, resp.getheader("x-ca-error-message"), resp.getheader("x-ca-app-id")


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    return resp.status, body


def test_gateway_sidecars_share_nonces_and_all_refuse_a_reset_key(
        ledger: Ledger, redis_server: Any, prefix: str, publishing: Any, tmp_path: Path) -> None:
    world = populate(ledger, 3)
    api = ledger.register_api("acme", "items", nonce_required=True, http_method="GET",
                              path_pattern="/items/{id}").ids["api_id"]
    app_id, key, secret = world["apps"][0]
    ledger.grant("acme", app_id, api, "RELEASE")
    publishing()
    ports = [free_port() for _ in range(3)]
    procs = [authledger("gateway", "--redis", redis_server.url, "--prefix", prefix, "--port", str(p),
                        "--no-access-log", log=tmp_path / f"gateway{p}.log") for p in ports]
    try:
        for port, proc in zip(ports, procs):
            wait_for(port, "/healthz", proc=proc)
        position = ledger.recorder.max_notification_id()
        assert wait_until(lambda: all(_get(p, "/readyz")[1]["position"] >= position for p in ports), 10)
        status, health = _get(ports[0], "/healthz")
        assert status == 200 and {"position", "lag", "last_update"} <= health.keys() and health["lag"] == 0
        assert check_instants(health)["last_update"] == 1

        # Check one signed request is accepted once, and refused when replayed to another gateway
        headers = sign_headers("GET", "http://gw/items/1", key, secret)
        assert _authz(ports[0], headers) == (200, None, app_id)
        assert _authz(ports[1], headers)[:2] == (400, "Nonce Used")

        # Check a key reset reaches every sidecar: the old secret is refused by all of them
        t0 = time.perf_counter()
        reset = ledger.reset_key_pair(key, "bob")

        def refused(port: int) -> bool:
            return _authz(port, sign_headers("GET", "http://gw/items/1", key, secret))[0] == 400

        assert wait_until(lambda: all(refused(p) for p in ports), 5)
        assert time.perf_counter() - t0 < 2.0
        new = sign_headers("GET", "http://gw/items/1", reset.ids["app_key"], reset.revealed["app_secret"])
        assert _authz(ports[2], new)[0] == 200
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def test_two_serve_processes_with_redis_share_nonces(ledger: Ledger, db_path: str, redis_server: Any) -> None:
    from tests.service.harness import serve

    world = populate(ledger, 1)
    api = ledger.register_api("acme", "items", nonce_required=True, http_method="GET",
                              path_pattern="/items/{id}").ids["api_id"]
    app_id, key, secret = world["apps"][0]
    ledger.grant("acme", app_id, api, "RELEASE")
    with serve(db_path, "--redis", redis_server.url, "--no-access-log") as first, \
            serve(db_path, "--redis", redis_server.url, "--no-access-log") as second:
        headers = sign_headers("GET", "http://gw/items/1", key, secret)  # after the nonce epoch began
        assert _authz(first, headers) == (200, None, app_id)
        # Check the replay to the other process is refused: the nonce is in Redis, not in memory
        assert _authz(second, headers)[:2] == (400, "Nonce Used")


def test_a_sidecar_refuses_503_within_max_staleness_once_its_publisher_is_killed(
        ledger: Ledger, db_path: str, redis_server: Any, prefix: str, tmp_path: Path) -> None:
    # The attack: revoke an app while the publisher is dead (SIGKILL) and Redis is up. Before
    # heartbeats a sidecar's staleness was its contact with Redis, which still answers, so
    # `--max-staleness` never tripped and the revoked app got 200 forever.
    world = populate(ledger, 1)
    api = ledger.register_api("acme", "items", nonce_required=True, http_method="GET",
                              path_pattern="/items/{id}").ids["api_id"]
    app_id, key, secret = world["apps"][0]
    ledger.grant("acme", app_id, api, "RELEASE")
    log = tmp_path / "publish.log"
    publisher = authledger("--db", db_path, "publish", "--redis", redis_server.url, "--prefix", prefix,
                           "--heartbeat-every", "0.2", "--poll-interval", "0.005", log=log)
    max_staleness = 1.0
    port = free_port()
    sidecar = authledger("gateway", "--redis", redis_server.url, "--prefix", prefix, "--port", str(port),
                         "--max-staleness", str(max_staleness), "--no-access-log", log=tmp_path / "gateway.log")

    def call() -> int:
        return _authz(port, sign_headers("GET", "http://gw/items/1", key, secret))[0]

    try:
        wait_for(port, "/healthz", proc=sidecar)
        assert wait_until(lambda: _get(port, "/readyz")[0] == 200, 15), log.read_text()
        # Check a live, quiet publisher keeps the sidecar fresh: 200 for 2 × max-staleness.
        deadline = time.monotonic() + 2 * max_staleness
        while time.monotonic() < deadline:
            assert call() == 200
            time.sleep(0.1)
        assert _get(port, "/readyz")[1]["heartbeat_position"] == ledger.recorder.max_notification_id()

        os.kill(publisher.pid, signal.SIGKILL)
        publisher.wait(10)
        killed = time.monotonic()
        ledger.revoke("acme", app_id, api, "RELEASE")  # straight into the ledger; nobody publishes it
        while call() == 200:
            assert time.monotonic() - killed < max_staleness + 1.5, "a revoked app still answered 200"
            time.sleep(0.02)
        refused_after = time.monotonic() - killed
        # Check it is refused with 503 (index unavailable), not a decision the index never saw,
        # and /readyz fails with it; and it stays refused.
        status, message, _ = _authz(port, sign_headers("GET", "http://gw/items/1", key, secret))
        assert (status, message) == (503, "Authorization Index Unavailable")
        ready, body = _get(port, "/readyz")
        assert ready == 503 and body["stale"] and body["staleness"] > max_staleness
        assert refused_after < max_staleness + 1.5
        time.sleep(0.5)
        assert call() == 503

        # Check a restarted publisher heals it: the revocation arrives, the app is refused 403.
        publisher = authledger("--db", db_path, "publish", "--redis", redis_server.url, "--prefix", prefix,
                               "--heartbeat-every", "0.2", log=log)
        assert wait_until(lambda: call() == 403, 15), log.read_text()
        assert _get(port, "/readyz")[0] == 200
    finally:
        for proc in (publisher, sidecar):
            proc.terminate()
        for proc in (publisher, sidecar):
            proc.wait(10)
