"""Replay fences on gateway sidecars (issue 13, point 7): a nonce used before Redis lost its
data (FLUSHALL, a restart without persistence, a failover to a replica that missed the last
writes) is never accepted again. Real redis-server, real `authledger gateway` processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authledger.distribution.nonces_redis import RedisNonceStore
from authledger.distribution.publisher import Publisher, Publishing
from authledger.gateway.client import sign_headers
from ledger.application import Ledger
from tests.distribution.harness import RedisServer, authledger, wait_until
from tests.distribution.test_processes import _authz, _get
from tests.service.harness import free_port, wait_for


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (it is flushed and restarted)."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def sidecars(ledger: Ledger, own_redis: RedisServer, prefix: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An API, an app granted it, a publisher thread and two gateway sidecar processes."""
    api = ledger.register_api("acme", "items", nonce_required=True, http_method="GET",
                              path_pattern="/items/{id}").ids["api_id"]
    app = ledger.create_app("bob", "shop")
    ledger.grant("acme", app.ids["app_id"], api, "RELEASE")
    publishing = Publishing(Publisher(ledger, own_redis.client(), prefix=prefix, poll_interval=0.005,
                                      heartbeat_every=0.1))
    ports = [free_port(), free_port()]
    procs = [authledger("gateway", "--redis", own_redis.url, "--prefix", prefix, "--port", str(p), "--no-access-log",
                        log=tmp_path / f"gateway{p}.log") for p in ports]
    try:
        for port, proc in zip(ports, procs):
            wait_for(port, "/healthz", proc=proc)
        position = ledger.recorder.max_notification_id()
        assert wait_until(lambda: all(_get(p, "/readyz")[1]["position"] >= position for p in ports), 15)
        yield {"ports": ports, "app_id": app.ids["app_id"], "key": app.ids["app_key"],
               "secret": app.revealed["app_secret"], "logs": [tmp_path / f"gateway{p}.log" for p in ports]}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        publishing.stop()


def _used_once(s: dict[str, Any]) -> dict[str, str]:
    headers = sign_headers("GET", "http://gw/items/1", s["key"], s["secret"])
    assert _authz(s["ports"][0], headers) == (200, None, s["app_id"])
    assert _authz(s["ports"][1], headers)[:2] == (400, "Nonce Used")
    return headers


def test_a_request_replayed_after_flushall_is_refused(sidecars: dict[str, Any], own_redis: RedisServer) -> None:
    headers = _used_once(sidecars)
    own_redis.client().flushall()  # every nonce is gone; the request is still inside its window
    # Check neither sidecar accepts the replay: the missing epoch is the new fence.
    for port in sidecars["ports"]:
        assert _authz(port, headers)[:2] == (400, "Timestamp Expired")
    assert wait_until(lambda: all(_get(p, "/readyz")[0] == 200 for p in sidecars["ports"]), 15)
    fresh = sign_headers("GET", "http://gw/items/1", sidecars["key"], sidecars["secret"])
    assert _authz(sidecars["ports"][1], fresh) == (200, None, sidecars["app_id"])


def test_a_request_replayed_after_redis_restarts_empty_is_refused(
        sidecars: dict[str, Any], own_redis: RedisServer) -> None:
    headers = _used_once(sidecars)
    own_redis.stop()
    own_redis.start()  # same port, no data
    for port in sidecars["ports"]:
        assert wait_until(lambda p=port: _authz(p, headers)[0] != 500, 15)  # reconnected
        assert _authz(port, headers)[:2] == (400, "Timestamp Expired")


def test_a_request_replayed_after_a_failover_to_a_replica_that_missed_the_nonce_is_refused(
        sidecars: dict[str, Any], own_redis: RedisServer, prefix: str) -> None:
    # A replica promoted after the primary died holds the replicated epoch key but not the
    # last nonces written. Simulated: a new server (new run_id) with the old epoch restored.
    headers = _used_once(sidecars)
    epoch_key = RedisNonceStore(None, prefix=prefix).epoch_key
    epoch = own_redis.client().get(epoch_key)
    assert epoch is not None
    own_redis.stop()
    own_redis.start()
    own_redis.client().set(epoch_key, epoch)
    for port in sidecars["ports"]:
        assert wait_until(lambda p=port: _authz(p, headers)[0] != 500, 15)
        assert _authz(port, headers)[:2] == (400, "Timestamp Expired")
    assert any("Redis server changed" in log.read_text() for log in sidecars["logs"])


def test_a_hostile_epoch_value_fails_closed_never_open(sidecars: dict[str, Any], own_redis: RedisServer,
                                                       prefix: str) -> None:
    headers = _used_once(sidecars)
    epoch_key = RedisNonceStore(None, prefix=prefix).epoch_key
    for value in ("not a number", "nan", ""):
        own_redis.client().set(epoch_key, value)  # treated as lost: a new epoch, now
        assert _authz(sidecars["ports"][0], headers)[:2] == (400, "Timestamp Expired")
    own_redis.client().delete(epoch_key)
    own_redis.client().rpush(epoch_key, "a list")  # another type: replaced, no 500
    assert _authz(sidecars["ports"][1], headers)[:2] == (400, "Timestamp Expired")
