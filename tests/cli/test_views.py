"""The views behind ``app show`` and ``api show``: expired grants and masking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ledger import catalog, views
from ledger.application import Ledger


def test_an_expired_grant_stays_on_the_app_but_leaves_the_api_view(ledger: Ledger) -> None:
    api_id = ledger.register_api("provider", "items").ids["api_id"]
    app_id = ledger.create_app("consumer", "shop_app").ids["app_id"]
    until = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=123456)
    ledger.grant("provider", app_id, api_id, "TEST", until=until)
    ledger.grant("provider", app_id, api_id, "RELEASE")
    later = until + timedelta(seconds=1)

    api = views.api_with_apps(ledger.get_api(api_id), catalog.grants_on(ledger, api_id), later)
    assert [a["stage"] for a in api["authorized_apps"]] == ["RELEASE"]

    owner = views.owner_app(ledger.get_app(app_id), {api_id: "items"}, later)
    assert [(g["stage"], g["in_force"], g["api_name"]) for g in owner["grants"]] == [
        ("TEST", False, "items"), ("RELEASE", True, "items")]
    assert owner["grants"][0]["until"] == until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_public_view_has_only_id_name_owner_status(ledger: Ledger) -> None:
    app_id = ledger.create_app("consumer", "shop_app", description="private", tags={"a": "b"}).ids["app_id"]
    ledger.disable_app(app_id, "consumer")
    assert views.public_app(ledger.get_app(app_id)) == {
        "app_id": app_id, "name": "shop_app", "owner": "consumer", "status": "disabled"}
