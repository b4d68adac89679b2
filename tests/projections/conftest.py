"""Fixtures for the projection tests: a small world in a real SQLite ledger, and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ledger.application import Ledger

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """An instant ``minutes`` after T0."""
    return T0 + timedelta(minutes=minutes)


@dataclass
class World:
    """One provider API (AppCode by header) and one app holding a RELEASE grant until T0+60m."""

    ledger: Ledger
    api_id: str
    other_api_id: str
    no_code_api_id: str
    app_id: str
    app_key: str
    app_secret: str
    app_code: str


@pytest.fixture
def world(ledger: Ledger) -> World:
    api = ledger.register_api("acme", "weather", appcode_mode="HEADER", nonce_required=False, at=at(0))
    other = ledger.register_api("acme", "maps", at=at(0))
    no_code = ledger.register_api("acme", "billing", appcode_mode="DISABLE", at=at(0))
    app = ledger.create_app("bob", "shop_app", extension='{"tenant":"shop"}', at=at(1))
    api_id, app_id = api.ids["api_id"], app.ids["app_id"]
    ledger.grant("acme", app_id, api_id, "RELEASE", until=at(60), at=at(2))
    ledger.grant("acme", app_id, no_code.ids["api_id"], "RELEASE", at=at(2))
    return World(ledger, api_id, other.ids["api_id"], no_code.ids["api_id"], app_id,
                 app.ids["app_key"], app.revealed["app_secret"], app.revealed["app_code"])


