"""Publisher heartbeats (issue 13, point 6): a sidecar's staleness is the age of the last
heartbeat (or message) it has caught up with, not its contact with Redis; heartbeats never
grow the stream, and nothing a Redis key holds can crash a subscriber or make it fresher."""

from __future__ import annotations

import time
from typing import Any

import msgpack

from authledger.distribution.subscriber import Subscriber
from ledger.application import Ledger
from projections.decision import Reason
from projections.wire import decode_message, encode_heartbeat
from tests.distribution.harness import RedisServer, churn, populate, wait_until
from tests.distribution.test_subscribers import converged


def test_a_dead_publisher_makes_a_strict_subscriber_stale_though_redis_answers(
        ledger: Ledger, publishing: Any, make_subscriber: Any) -> None:
    world = populate(ledger, 2)
    app_id, key, _ = world["apps"][0]
    api = world["apis"][0]
    publisher = publishing()
    strict: Subscriber = make_subscriber(max_staleness=0.5)
    plain: Subscriber = make_subscriber()
    converged(ledger, strict, plain)
    assert wait_until(lambda: not strict.stale(), 2.0)  # its first heartbeat read
    # Check a live, quiet publisher keeps it fresh (heartbeats, no messages).
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert not strict.stale() and strict.view.check(key, api, "RELEASE").allowed
        time.sleep(0.05)
    publisher.stop()  # dead (the SIGKILL case is tests/distribution/test_processes.py)
    ledger.revoke("acme", app_id, api, "RELEASE")
    assert wait_until(strict.stale, 0.5 + 1.0)
    assert strict.connected  # Redis still answers: contact is not freshness
    assert strict.view.check(key, api, "RELEASE").reason is Reason.NOT_AUTHORIZED
    # Check fail-static is the default: without a bound the old index still answers.
    assert not plain.stale() and plain.view.check(key, api, "RELEASE").allowed
    assert plain.status()["staleness"] >= 0.45  # measured too (rounded to ms), just not enforced


def test_heartbeats_never_grow_the_stream_and_old_readers_see_only_messages(
        ledger: Ledger, publishing: Any, redis_server: RedisServer, prefix: str) -> None:
    world = populate(ledger, 3)
    publisher = publishing(heartbeat_every=0.01).publisher
    client = redis_server.client()
    assert wait_until(lambda: publisher.heartbeats >= 5, 10)
    length = client.xlen(f"{prefix}:changes")
    keys = sorted(client.scan_iter(match=f"{prefix}:*"))
    time.sleep(0.5)  # ~50 more heartbeats on a quiet ledger
    assert publisher.heartbeats >= 30
    assert client.xlen(f"{prefix}:changes") == length
    assert sorted(client.scan_iter(match=f"{prefix}:*")) == keys  # one heartbeat key, overwritten
    assert client.type(f"{prefix}:heartbeat") == b"string"
    churn(ledger, world, 20)
    assert wait_until(lambda: publisher.published == ledger.recorder.max_notification_id(), 10)
    # Check every stream entry is still a message: a reader that predates heartbeats (it
    # reads only the stream and the snapshot) meets nothing new.
    for _id, fields in client.xrange(f"{prefix}:changes"):
        assert set(fields) == {b"m"}
        decode_message(fields[b"m"])


def test_a_subscriber_under_a_publisher_without_heartbeats_follows_and_fails_closed_when_strict(
        ledger: Ledger, publishing: Any, make_subscriber: Any) -> None:
    # A publisher from before heartbeats (heartbeat_every=None) and subscribers of this version.
    world = populate(ledger, 2)
    publishing(heartbeat_every=None)
    plain: Subscriber = make_subscriber()
    strict: Subscriber = make_subscriber(max_staleness=0.5)
    converged(ledger, plain, strict)
    churn(ledger, world, 10)
    converged(ledger, plain, strict)
    assert not plain.stale() and plain.heartbeat is None
    # Messages are evidence too, but a quiet ledger gives none: strict ones refuse (documented).
    assert wait_until(strict.stale, 2.0)


def test_a_garbled_or_hostile_heartbeat_never_crashes_a_subscriber_nor_makes_it_fresh(
        ledger: Ledger, publishing: Any, make_subscriber: Any, redis_server: RedisServer, prefix: str) -> None:
    populate(ledger, 1)
    publisher = publishing()
    strict: Subscriber = make_subscriber(max_staleness=0.3)
    converged(ledger, strict)
    assert wait_until(lambda: not strict.stale(), 2.0)
    publisher.stop()
    client = redis_server.client()
    key = f"{prefix}:heartbeat"
    assert wait_until(strict.stale, 2.0)
    position = strict.position
    garbled: list[Any] = [
        b"garbage \xff\x00", msgpack.packb([1, 2, 3]), msgpack.packb({"v": 2, "pos": 1, "ts": time.time()}),
        msgpack.packb({"v": 1, "pos": -5, "ts": time.time()}), msgpack.packb({"v": 1, "pos": 1, "ts": "now"}),
        msgpack.packb({"v": 1, "pos": 1, "ts": float("nan")}), b"x" * 100_000,
    ]
    for value in garbled:
        malformed = strict.heartbeats_malformed
        client.set(key, value)
        assert wait_until(lambda m=malformed: strict.heartbeats_malformed > m, 5)  # read, counted, ignored
        time.sleep(0.1)  # read again: still ignored
        assert strict.alive and strict.stale()
    for pos, ts in ((2**62, time.time()),  # valid, but a position the index never reaches
                    (position, 0.0)):  # valid, from 1970
        client.set(key, encode_heartbeat(pos, ts))
        assert wait_until(lambda p=pos: strict.heartbeat is not None and strict.heartbeat.pos == p, 5)
        time.sleep(0.1)
        assert strict.alive and strict.stale()
    client.delete(key)
    malformed = strict.heartbeats_malformed
    client.rpush(key, b"a list where a string belongs")  # WRONGTYPE on GET
    assert wait_until(lambda: strict.heartbeats_malformed > malformed, 5)
    assert strict.alive and strict.stale()
    assert strict.gaps == 0 and strict.malformed == 0 and strict.position == position
    # Check a real heartbeat again makes it fresh: the bad ones left nothing behind.
    client.delete(key)
    client.set(key, encode_heartbeat(position))
    assert wait_until(lambda: not strict.stale(), 2.0)
