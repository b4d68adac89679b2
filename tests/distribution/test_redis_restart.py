"""Redis killed and restarted mid-stream (on the same port, with its data gone): subscribers
keep answering from the index they have (fail-static), reconnect with backoff and catch up;
one with a maximum staleness denies while it is exceeded."""

from __future__ import annotations

import time
from typing import Any

from authledger.distribution.subscriber import Subscriber
from ledger.application import Ledger
from projections.decision import Reason
from tests.distribution.harness import RedisServer, churn, populate, wait_until
from tests.distribution.test_subscribers import converged


def test_subscribers_answer_through_a_redis_restart_then_reconnect_and_catch_up(
        ledger: Ledger, publishing: Any, make_subscriber: Any, redis_server: RedisServer) -> None:
    world = populate(ledger, 6)
    api = world["apis"][0]
    steady = ledger.create_app("bob", "steady")  # not in world["apps"]: churn leaves it alone
    key = steady.ids["app_key"]
    ledger.grant("acme", steady.ids["app_id"], api, "RELEASE")
    publishing()
    plain = make_subscriber()
    strict: Subscriber = make_subscriber(max_staleness=0.5)
    churn(ledger, world, 30)
    converged(ledger, plain, strict)
    before = plain.view.check(key, api, "RELEASE")
    assert before.allowed and strict.view.check(key, api, "RELEASE").allowed

    redis_server.stop()
    churn(ledger, world, 30, seed=2)  # the ledger goes on without Redis
    ledger.disable_app(world["apps"][1][0], "bob")
    time.sleep(0.8)
    # Check fail-static: the index still answers as it stood; the strict one denies once stale
    assert plain.view.check(key, api, "RELEASE") == before
    assert wait_until(lambda: not plain.connected and strict.stale(), 3)
    denied = strict.view.check(key, api, "RELEASE")
    assert not denied.allowed and denied.reason is Reason.NOT_AUTHORIZED
    assert plain.status()["staleness"] > 0.5 and plain.alive and strict.alive

    redis_server.start()  # same port, empty: the publisher re-snapshots and republishes
    churn(ledger, world, 10, seed=3)
    converged(ledger, plain, strict, timeout=15)
    assert plain.connected and not strict.stale()
    assert strict.view.check(key, api, "RELEASE").allowed
    assert plain.view.check(world["apps"][1][1], api, "RELEASE").reason is Reason.APP_DISABLED
