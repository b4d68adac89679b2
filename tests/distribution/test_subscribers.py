"""Gateways subscribe: convergence, late joiners, gaps, malformed entries, key resets, replays.

One real redis-server for the module; each test has its own key prefix, an in-process
publisher over a real SQLite ledger, and in-process subscribers (the sidecar processes
are exercised in test_gateway_process.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgpack
import pytest

from authledger.distribution.nonces_redis import RedisNonceStore
from authledger.gateway.client import sign_headers
from authledger.gateway.verifier import Verifier
from ledger.application import Ledger
from projections.auth_index import AuthIndex
from tests.distribution.harness import churn, populate, wait_until
from tests.instant_format import check_instants


def converged(ledger: Ledger, *subs: Any, timeout: float = 10.0) -> str:
    """Wait until every subscriber holds the index rebuilt from the ledger; return its digest."""
    expected = AuthIndex.build(ledger)
    assert wait_until(lambda: all(s.position >= expected.position for s in subs), timeout), (
        expected.position, [s.status() for s in subs])
    digest = expected.digest()
    assert [s.index.digest() for s in subs] == [digest] * len(subs)
    return digest


def test_three_subscribers_converge_to_the_index_rebuilt_from_the_ledger(
        ledger: Ledger, publishing: Any, make_subscriber: Any) -> None:
    world = populate(ledger, 10)
    publishing()
    subs = [make_subscriber() for _ in range(3)]
    # Check they bootstrap from the snapshot, then follow every kind of change
    churn(ledger, world, 150)
    ledger.delete_app(world["apps"][2][0], "bob")
    ledger.reset_key_pair(world["apps"][3][1], "bob")
    converged(ledger, *subs)
    for s in subs:
        status = s.status()
        assert status["lag"] == 0 and status["bootstrapped"] and status["last_update"] is not None
        assert check_instants(status) == {"last_update": 1, "last_contact": 1, "heartbeat_ts": 1}  # ISO 8601 UTC, not epoch floats
        assert s.bootstraps == 1 and s.gaps == 0 and s.malformed == 0


def test_a_late_subscriber_starts_from_the_snapshot_and_catches_up(
        ledger: Ledger, publishing: Any, make_subscriber: Any) -> None:
    world = populate(ledger, 5)
    publishing(snapshot_every=0.2)
    early = make_subscriber()
    churn(ledger, world, 100)
    converged(ledger, early)
    time.sleep(0.4)  # a newer snapshot than the first
    late = make_subscriber()
    churn(ledger, world, 30, seed=1)
    converged(ledger, early, late)
    assert late.bootstraps == 1 and late.gaps == 0


def test_a_stream_trimmed_past_a_slow_subscriber_is_a_gap_then_a_rebootstrap(
        ledger: Ledger, publishing: Any, make_subscriber: Any, caplog: pytest.LogCaptureFixture) -> None:
    world = populate(ledger, 5)
    publishing(maxlen=10, snapshot_every=3600)  # snapshots come only from the trim rule
    slow = make_subscriber(start=False)
    assert wait_until(lambda: _bootstrapped(slow))
    at = slow.position
    for i in range(12):  # one message per command: the stream is trimmed well past `at`
        churn(ledger, world, 10, seed=i)
        time.sleep(0.01)
    publisher_head = AuthIndex.build(ledger).position
    first = slow.client.xrange(slow.keys["stream"], "-", "+", count=1)
    assert int(first[0][0].split(b"-")[0]) > at + 1, "the stream should have been trimmed past the subscriber"
    with caplog.at_level(logging.WARNING, logger="authledger.subscriber"):
        slow.start()
        converged(ledger, slow)
    # Check the gap was seen, logged with the position, and healed by a re-bootstrap
    assert slow.gaps >= 1 and slow.bootstraps >= 2
    assert f"gap in the stream: at position {at}" in caplog.text
    assert slow.position >= publisher_head


def _bootstrapped(sub: Any) -> bool:
    try:
        sub.bootstrap()
        return True
    except Exception:  # noqa: BLE001 - no snapshot yet
        return False


@pytest.mark.parametrize("kind", ["garbage", "wrong_version", "position_backwards", "bad_change", "no_field"])
def test_a_malformed_entry_never_crashes_a_subscriber_it_logs_and_rebootstraps(
        ledger: Ledger, publishing: Any, make_subscriber: Any, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    world = populate(ledger, 4)
    publishing()
    sub = make_subscriber()
    assert wait_until(lambda: sub.bootstrapped)
    for i in range(3):  # a few stream entries after the snapshot
        ledger.modify_app(world["apps"][1][0], "bob", extension=f'{{"v":{i}}}')
    converged(ledger, sub)
    client, stream = sub.client, sub.keys["stream"]
    last = int(client.xrevrange(stream, "+", "-", count=1)[0][0].split(b"-")[0])
    bad = {
        "garbage": {"m": b"\x00\xff garbage \xc1"},
        "wrong_version": {"m": msgpack.packb({"v": 99, "pos": last, "prev": last - 1, "ts": 0.0, "changes": []})},
        "position_backwards": {"m": msgpack.packb({"v": 1, "pos": last - 3, "prev": last - 4, "ts": 0.0,
                                                   "changes": []})},
        "bad_change": {"m": msgpack.packb({"v": 1, "pos": last, "prev": last - 1, "ts": 0.0,
                                           "changes": [["grant_set", "no-such-app", "api", "RELEASE", None]]})},
        "no_field": {"x": b"1"},
    }[kind]
    with caplog.at_level(logging.ERROR, logger="authledger.subscriber"):
        client.xadd(stream, bad, id=f"{last}-1")  # between two publisher entries
        assert wait_until(lambda: sub.malformed >= 1)
        churn(ledger, world, 20)
        converged(ledger, sub)
    # Check: still alive, logged with the entry and position, re-bootstrapped once, answering
    assert sub.alive and sub.malformed == 1 and sub.bootstraps == 2
    assert f"malformed stream entry {last}-1 at position" in caplog.text
    _app, key, _secret = world["apps"][0]
    assert sub.view.check(key, world["apis"][0], "RELEASE").app_id == world["apps"][0][0]


def _verifiers(subs: list[Any], client: Any, prefix: str) -> list[Verifier]:
    return [Verifier(s.view, nonce_store=RedisNonceStore(client, prefix=prefix)) for s in subs]


def _verify(v: Verifier, headers: dict[str, str], api: str) -> Any:
    return v.verify("GET", "/items/1", "", list(headers.items()), None, api)


def test_a_key_reset_is_refused_by_every_gateway_within_the_propagation_time(
        ledger: Ledger, publishing: Any, make_subscriber: Any, redis_server: Any, prefix: str) -> None:
    world = populate(ledger, 3)
    api = world["apis"][0]
    _app_id, key, secret = world["apps"][0]
    publishing()
    subs = [make_subscriber() for _ in range(3)]
    converged(ledger, *subs)
    gateways = _verifiers(subs, redis_server.client(), prefix)
    assert all(_verify(g, sign_headers("GET", "http://gw/items/1", key, secret), api).accepted for g in gateways)

    t0 = time.perf_counter()
    reset = ledger.reset_key_pair(key, "bob")
    refused_at: dict[int, float] = {}

    def all_refuse() -> bool:
        for i, g in enumerate(gateways):
            if i not in refused_at:
                verdict = _verify(g, sign_headers("GET", "http://gw/items/1", key, secret), api)
                if not verdict.accepted:  # same AppKey, new secret: the old one no longer signs
                    assert verdict.status == 400 and verdict.error_message.startswith("Invalid Signature")
                    refused_at[i] = time.perf_counter() - t0
        return len(refused_at) == len(gateways)

    # Check every gateway refuses the old pair within the propagation time (goal: ms)
    assert wait_until(all_refuse, timeout=2.0, interval=0.001), refused_at
    assert max(refused_at.values()) < 1.0, refused_at
    new_key, new_secret = reset.ids["app_key"], reset.revealed["app_secret"]
    assert all(_verify(g, sign_headers("GET", "http://gw/items/1", new_key, new_secret), api).accepted
               for g in gateways)


def test_one_signed_request_replayed_to_a_second_gateway_is_refused_nonce_used(
        ledger: Ledger, publishing: Any, make_subscriber: Any, redis_server: Any, prefix: str) -> None:
    world = populate(ledger, 2)
    api = ledger.register_api("acme", "nonced", nonce_required=True).ids["api_id"]
    app_id, key, secret = world["apps"][0]
    ledger.grant("acme", app_id, api, "RELEASE")
    publishing()
    subs = [make_subscriber() for _ in range(2)]
    converged(ledger, *subs)
    first, second = _verifiers(subs, redis_server.client(), prefix)
    headers = sign_headers("GET", "http://gw/items/1", key, secret)
    assert _verify(first, headers, api).accepted
    replay = _verify(second, headers, api)
    assert (replay.accepted, replay.status, replay.error_message) == (False, 400, "Nonce Used")
    # the nonce lives in Redis under the AppKey's namespace, with the window's expiry
    ttl = redis_server.client().pttl(RedisNonceStore(None, prefix=prefix).key(key, headers["x-ca-nonce"]))
    assert 0 < ttl <= (2 * 900 + 1) * 1000
