"""API groups and hosts over Redis: gateways route by host exactly as the ledger's own index.

Snapshots and stream messages carry groups (``group_set``), their hosts (``host_set`` /
``host_removed``) and APIs' groups (``api_group``); a gateway older than groups meets kinds
it does not know only once a group exists, and then refuses them without crashing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from authledger.distribution import subscriber as subscriber_module
from ledger.application import Ledger
from ledger.crypto import SecretBox
from projections.auth_index import AuthIndex
from projections.wire import decode_snapshot_chunk, encode_snapshot
from authledger.service.authz import Router
from tests.distribution.harness import churn, populate, wait_until
from tests.distribution.test_subscribers import converged
from tests.legacy import legacy_api

NEW_KINDS = {"api_group", "group_set", "host_set", "host_removed"}


def _groups_world(ledger: Ledger) -> dict[str, str]:
    acme = ledger.create_group("acme", "acme_api").ids["group_id"]
    ledger.bind_host("acme", acme, "api.acme.test")
    ledger.bind_host("acme", acme, "old.acme.test")
    globex = ledger.create_group("globex", "globex_api").ids["group_id"]
    ledger.bind_host("globex", globex, "api.globex.test")
    a = ledger.register_api("acme", "weather", path_pattern="/v1/weather/{city}", group_id=acme).ids["api_id"]
    g = ledger.register_api("globex", "weather", path_pattern="/v1/weather/{city}", group_id=globex).ids["api_id"]
    d = ledger.register_api("zeta", "plain", path_pattern="/v1/plain").ids["api_id"]
    ledger.unbind_host("acme", acme, "old.acme.test")
    return {"acme": a, "globex": g, "plain": d, "acme_group": acme}


def _routes(index: Any) -> list[Any]:
    router = Router(index)
    return [router.route(h, "GET", p) for h in (None, "api.acme.test", "API.GLOBEX.test:8443", "old.acme.test")
            for p in ("/v1/weather/paris", "/v1/plain")]


def test_a_snapshot_carries_groups_and_hosts_and_rebuilds_the_index_exactly(ledger: Ledger, box: SecretBox) -> None:
    world = _groups_world(ledger)
    built = AuthIndex.build(ledger)
    kinds = {c[0] for c in built.changes()}
    assert NEW_KINDS - {"host_removed"} <= kinds
    copy = AuthIndex(box)
    for chunk in encode_snapshot(built.position, built.changes(), chunk_size=3):
        for change in decode_snapshot_chunk(chunk).changes:
            copy.apply_change(change)
    assert copy.digest() == built.digest() and copy.hosts() == built.hosts()
    assert copy.hosts() == {"api.acme.test": world["acme_group"], "api.globex.test": built.hosts()["api.globex.test"]}
    assert _routes(copy) == _routes(built)
    assert Router(copy).resolve("GET", "/v1/weather/paris", "api.acme.test") == world["acme"]
    assert Router(copy).resolve("GET", "/v1/weather/paris", "api.globex.test") == world["globex"]
    assert Router(copy).resolve("GET", "/v1/weather/paris") is None  # no hostless weather API


def test_a_ledger_without_groups_makes_no_new_change_kinds(ledger: Ledger) -> None:
    """What an old gateway receives from an old ledger (or one that never made a group) is unchanged."""
    world = populate(ledger, 4)
    churn(ledger, world, 30)
    legacy_api(ledger, "acme", "old", path_pattern="/old")
    ledger.register_api("acme", "new", path_pattern="/new")  # in the default group: no group_id recorded
    assert not {c[0] for c in AuthIndex.build(ledger).changes()} & NEW_KINDS


def test_gateways_follow_groups_and_hosts_and_route_like_the_ledger(
        ledger: Ledger, publishing: Any, make_subscriber: Any) -> None:
    populate(ledger, 3)
    publishing()
    early = make_subscriber()
    assert wait_until(lambda: early.bootstrapped)
    world = _groups_world(ledger)  # followed change by change
    late = make_subscriber()  # bootstraps from a snapshot that has them
    converged(ledger, early, late)
    expected = _routes(AuthIndex.build(ledger))
    assert _routes(early.view) == _routes(late.view) == expected
    assert Router(early.view).resolve("GET", "/v1/weather/x", "api.globex.test") == world["globex"]
    ledger.unbind_host("globex", AuthIndex.build(ledger).hosts()["api.globex.test"], "api.globex.test")
    converged(ledger, early, late)
    # globex's group is hostless now: its weather API is the only hostless one, so it is found without a host
    assert Router(early.view).resolve("GET", "/v1/weather/x", "api.globex.test") == world["globex"]
    assert Router(early.view).resolve("GET", "/v1/weather/x", "api.acme.test") == world["acme"]


def test_a_gateway_older_than_groups_refuses_the_new_kinds_without_crashing(
        ledger: Ledger, publishing: Any, make_subscriber: Any, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = populate(ledger, 3)

    class OldIndex(AuthIndex):  # an index that knows only the change kinds of before groups
        def __init__(self, box: Any) -> None:
            super().__init__(box)
            for kind in NEW_KINDS:
                del self._change_handlers[kind]

    monkeypatch.setattr(subscriber_module, "AuthIndex", OldIndex)
    publishing(snapshot_every=0.2)
    old = make_subscriber()
    assert wait_until(lambda: old.bootstrapped)
    converged(ledger, old)
    with caplog.at_level(logging.WARNING, logger="authledger.subscriber"):
        g = ledger.create_group("acme", "shop").ids["group_id"]
        ledger.bind_host("acme", g, "shop.acme.test")
        # The refusal is logged when the old gateway meets a new kind (in a stream entry or
        # a snapshot, whichever it reads first): wait for that, not for any re-bootstrap.
        assert wait_until(lambda: "host_set" in caplog.text or "group_set" in caplog.text, 10)
    # Still alive, answering from the index it has (fail-static), the trouble logged
    assert old.alive
    assert "host_set" in caplog.text or "group_set" in caplog.text
    _app, key, _secret = world["apps"][0]
    assert old.view.check(key, world["apis"][0], "RELEASE").app_id == world["apps"][0][0]
