"""Fixtures for the projection tests: a small world in a real SQLite ledger, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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


def _store_option(db_path: str) -> list[str]:
    """``--db FILE``, or ``--database-url URL`` when the test runs on PostgreSQL."""
    return ["--database-url", db_path] if db_path.startswith("postgresql:") else ["--db", db_path]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], secret_key_env: bytes, db_path: str,
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``run(*args)``: the CLI in-process with ``--db db_path``."""
    from ledger.cli.main import main

    monkeypatch.delenv("AUTHLEDGER_DB", raising=False)

    def run(*args: object) -> Result:
        capsys.readouterr()
        try:
            code = main([*_store_option(db_path), *[str(a) for a in args]])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
