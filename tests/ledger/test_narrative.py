"""A provider authorizes a consumer's app, and the app lives its whole life in the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ledger.application import Ledger
from ledger.errors import AppIsDeleted

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def events_of(ledger: Ledger, after: int = 0) -> list:
    return [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(start=after + 1, limit=1000)]


def test_an_app_from_creation_to_deletion(ledger: Ledger) -> None:
    # The provider (account "acme") registers an API.
    api_id = ledger.register_api("acme", "weather", group="public", source="http", at=at(0)).ids["api_id"]

    # The consumer (another account) creates an app and hands its id over.
    created = ledger.create_app("globex", "Forecaster", description="reads the weather", source="cli", at=at(1))
    app_id = created.ids["app_id"]
    default_key = created.ids["app_key"]
    # Check the secret and the AppCode are revealed once, in the receipt.
    assert len(created.revealed["app_secret"]) >= 32
    assert len(created.revealed["app_code"]) >= 16

    # The provider finds the app by id and grants RELEASE until a date.
    until = datetime(2030, 6, 30, tzinfo=timezone.utc)
    ledger.grant("acme", app_id, api_id, "RELEASE", until=until, source="http", at=at(2))
    app = ledger.get_app(app_id)
    # Check the grant is held with its end time and who gave it.
    g = app.grants[(api_id, "RELEASE")]
    assert (g.until, g.granted_by) == (until, "acme")

    # The consumer adds a second key pair.
    added = ledger.add_key_pair(app_id, "globex", app_key="globex-second-key", source="cli", at=at(3))
    assert added.ids["app_key"] == "globex-second-key"

    # The consumer resets the default pair, with a new AppKey.
    old_secret = ledger.open_secret(ledger.get_app(app_id), default_key)
    reset = ledger.reset_key_pair(default_key, "globex", new_app_key="globex-default-v2", at=at(4))
    app = ledger.get_app(app_id)
    # Check the old AppKey is gone, the new one is the default and has a new secret.
    assert list(app.key_pairs) == ["globex-default-v2", "globex-second-key"]
    assert app.key_pairs["globex-default-v2"].is_default
    assert ledger.open_secret(app, "globex-default-v2") == reset.revealed["app_secret"] != old_secret

    # The provider grants again, shortening the end time.
    shorter = datetime(2030, 3, 31, tzinfo=timezone.utc)
    ledger.grant("acme", app_id, api_id, "RELEASE", until=shorter, source="http", at=at(5))
    # Check the grant now ends earlier.
    assert ledger.get_app(app_id).grants[(api_id, "RELEASE")].until == shorter

    # The consumer disables the app, then enables it: the grant is kept throughout.
    ledger.disable_app(app_id, "globex", at=at(6))
    assert not ledger.get_app(app_id).enabled
    assert (api_id, "RELEASE") in ledger.get_app(app_id).grants
    ledger.enable_app(app_id, "globex", at=at(7))
    assert ledger.get_app(app_id).enabled

    # The consumer gives the grant up.
    revoked = ledger.revoke("globex", app_id, api_id, "RELEASE", at=at(8))
    # Check it was revoked in the consumer role and is gone.
    assert revoked.ids["role"] == "consumer"
    assert ledger.get_app(app_id).grants == {}

    # The consumer deletes the app.
    deleted = ledger.delete_app(app_id, "globex", at=at(9))
    position = deleted.position
    # Check nothing more can be done to it, and nothing is written trying.
    for attempt in (
        lambda: ledger.disable_app(app_id, "globex", at=at(10)),
        lambda: ledger.add_key_pair(app_id, "globex", at=at(10)),
        lambda: ledger.reset_key_pair("globex-second-key", "globex", at=at(10)),
        lambda: ledger.modify_app(app_id, "globex", name="Renamed", at=at(10)),
        lambda: ledger.grant("acme", app_id, api_id, "PRE", at=at(10)),
        lambda: ledger.delete_app(app_id, "globex", at=at(10)),
    ):
        with pytest.raises(AppIsDeleted):
            attempt()
    assert ledger.recorder.max_notification_id() == position

    # Check the log, in order, with actor, source and timestamp on each event.
    log = [(type(e).__name__, e.actor, e.source, e.timestamp) for e in events_of(ledger)]
    assert log == [
        ("ApiRegistered", "acme", "http", at(0)),
        ("AppCreated", "globex", "cli", at(1)),
        ("KeyPairAdded", "globex", "cli", at(1)),
        ("AppCodeAdded", "globex", "cli", at(1)),
        ("AppKeyClaimed", "globex", "cli", at(1)),
        ("AppCodeClaimed", "globex", "cli", at(1)),
        ("GrantGiven", "acme", "http", at(2)),
        ("KeyPairAdded", "globex", "cli", at(3)),
        ("AppKeyClaimed", "globex", "cli", at(3)),
        ("KeyPairReset", "globex", "cli", at(4)),
        ("AppKeyClaimed", "globex", "cli", at(4)),
        ("GrantEndChanged", "acme", "http", at(5)),
        ("Disabled", "globex", "cli", at(6)),
        ("Enabled", "globex", "cli", at(7)),
        ("GrantRevoked", "globex", "cli", at(8)),
        ("Deleted", "globex", "cli", at(9)),
    ]
    # Check the stored topics are the explicit, stable names.
    topics = [n.topic for n in ledger.recorder.select_notifications(start=1, limit=1000)]
    assert topics[-4:] == ["authledger:AppDisabled", "authledger:AppEnabled", "authledger:GrantRevoked", "authledger:AppDeleted"]
    # Check the history is still readable after deletion, and replays to a deleted app.
    app = ledger.get_app(app_id)
    assert app.deleted and app.version == 11
