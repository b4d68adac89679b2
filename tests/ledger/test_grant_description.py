"""A grant's optional description (GrantGiven v2): validated, kept, shown; bad input writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ledger import views
from ledger.application import Ledger
from ledger.errors import InvalidInput


def _setup(ledger: Ledger) -> tuple[str, str, str]:
    api = ledger.register_api("prov", "weather").ids["api_id"]
    api2 = ledger.register_api("prov", "tides").ids["api_id"]
    app = ledger.create_app("cons", "describedApp").ids["app_id"]
    return api, api2, app


def _last_position(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_a_grant_keeps_its_description_and_giving_it_again_changes_only_its_end(ledger: Ledger) -> None:
    api, api2, app_id = _setup(ledger)
    ledger.grant("prov", app_id, [api, api2], "RELEASE", description="nightly weather sync (ticket 42)")
    ledger.grant("prov", app_id, api, "TEST")
    ledger.grant("prov", app_id, api, "PRE", description="")  # empty: no description
    end = datetime.now(timezone.utc) + timedelta(days=3)
    renewed = ledger.grant("prov", app_id, api, "RELEASE", until=end, description="another text")
    assert renewed.events == 1
    app = ledger.get_app(app_id)
    got = {(g.api_id, g.stage): g.description for g in app.grants.values()}
    assert got == {(api, "RELEASE"): "nightly weather sync (ticket 42)", (api2, "RELEASE"): "nightly weather sync (ticket 42)",
                   (api, "TEST"): None, (api, "PRE"): None}
    assert app.grants[(api, "RELEASE")].until == end
    shown = views.owner_app(app, {}, datetime.now(timezone.utc))["grants"]
    assert [g["description"] for g in shown] == ["nightly weather sync (ticket 42)", "nightly weather sync (ticket 42)",
                                                 None, None]


@pytest.mark.parametrize("bad", ["x" * 181, 42, ["a"], "bad \udcff surrogate"])
def test_a_bad_description_is_a_clear_error_and_writes_nothing(ledger: Ledger, bad: object) -> None:
    api, _, app_id = _setup(ledger)
    before = _last_position(ledger)
    with pytest.raises(InvalidInput) as e:
        ledger.grant("prov", app_id, api, "RELEASE", description=bad)  # type: ignore[arg-type]
    assert e.value.field == "description" and "description" in str(e.value)
    assert _last_position(ledger) == before
    assert ledger.get_app(app_id).grants == {}


def test_a_description_of_180_characters_is_accepted(ledger: Ledger) -> None:
    api, _, app_id = _setup(ledger)
    text = "é" * 180
    ledger.grant("prov", app_id, api, "RELEASE", description=text)
    assert ledger.get_app(app_id).grants[(api, "RELEASE")].description == text
