"""``authledger --database-url postgresql://... publish --redis URL``: a real publisher process on
the real PostgreSQL ledger, commands written by another process (this one), a subscriber
fed over a real redis-server.

- the subscriber's index digest equals ``AuthIndex.build``'s over the same ledger (every
  event kind, idempotency records included: the publisher must pass them over);
- the publisher follows the log through LISTEN/NOTIFY: with its polling interval set to a
  full second, a change committed here reaches the subscriber in milliseconds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.idempotency import request
from tests.conftest import TEST_KEY
from tests.distribution.harness import authledger, churn, populate, wait_until
from tests.distribution.test_subscribers import converged

POLL = 1.0  # the publisher's polling interval: LISTEN/NOTIFY must make it irrelevant
SQLITE_POLL = 0.05  # the follow loop's polling interval on SQLite (projections.follow)


@pytest.fixture
def pg_ledger(pg_url: str) -> Any:
    ledger = open_ledger(pg_url, key=TEST_KEY)
    yield ledger
    ledger.close()


def _publish(url: str, redis_url: str, prefix: str, log: Path) -> Any:
    return authledger("--database-url", url, "publish", "--redis", redis_url, "--prefix", prefix,
                      "--snapshot-every", "0.5", "--poll-interval", str(POLL), log=log)


@pytest.mark.postgres
def test_publish_on_postgres_feeds_subscribers_the_index_rebuilt_from_the_ledger(
        pg_url: str, pg_ledger: Ledger, redis_server: Any, prefix: str, make_subscriber: Any, tmp_path: Path) -> None:
    ledger = pg_ledger
    world = populate(ledger, 8)
    log = tmp_path / "publish.log"
    proc = _publish(pg_url, redis_server.url, prefix, log)
    try:
        sub = make_subscriber()
        assert wait_until(lambda: sub.bootstrapped, 30), log.read_text()
        churn(ledger, world, 120)
        ledger.create_app("bob", "keyedApp", idempotency=request("publish-1", "test:app create", {"name": "keyedApp"}))
        ledger.create_app("bob", "keyedApp", idempotency=request("publish-1", "test:app create", {"name": "keyedApp"}))  # replayed: nothing written
        ledger.delete_app(world["apps"][2][0], "bob")
        ledger.reset_key_pair(world["apps"][3][1], "bob")
        digest = converged(ledger, sub, timeout=30)
        assert sub.gaps == 0 and sub.malformed == 0
        assert proc.poll() is None, log.read_text()
        # The index holds the keyed app once.
        assert sum(1 for n in ledger.recorder.select_notifications(1, 100_000)
                   if n.topic == "authledger:IdempotencyKeyUsed") == 1
        assert len(digest) == 64
    finally:
        proc.terminate()
        proc.wait(10)
    assert "publisher stopped at position" in log.read_text()


@pytest.mark.postgres
def test_publish_on_postgres_follows_by_listen_notify_not_by_polling(
        pg_url: str, pg_ledger: Ledger, redis_server: Any, prefix: str, make_subscriber: Any, tmp_path: Path) -> None:
    ledger = pg_ledger
    world = populate(ledger, 2)
    api = world["apis"][0]
    app = world["apps"][0][0]
    log = tmp_path / "publish.log"
    proc = _publish(pg_url, redis_server.url, prefix, log)
    try:
        sub = make_subscriber(block_ms=1000)  # XREAD BLOCK returns as soon as an entry arrives
        assert wait_until(lambda: sub.bootstrapped, 30), log.read_text()
        converged(ledger, sub, timeout=30)
        latencies = []
        for i in range(20):
            time.sleep(0.05 + (i % 5) * 0.037)  # commit at varied offsets from any polling phase
            if i % 2 == 0:
                r = ledger.grant("acme", app, api, "TEST")
            else:
                r = ledger.revoke("acme", app, api, "TEST")
            committed = time.monotonic()
            assert wait_until(lambda p=r.position: sub.position >= p, 5, interval=0.0005), (i, sub.status())
            latencies.append(time.monotonic() - committed)
        median, worst = statistics.median(latencies), max(latencies)
        print(f"publish on PostgreSQL, commit here -> subscriber applied: median {median * 1000:.1f} ms, "
              f"max {worst * 1000:.1f} ms (publisher polling every {POLL:.0f} s)")
        # Polling every second would average ~500 ms; LISTEN/NOTIFY is milliseconds.
        assert median < SQLITE_POLL, latencies
        assert worst < POLL / 2, latencies
    finally:
        proc.terminate()
        proc.wait(10)
