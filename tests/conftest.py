"""Shared fixtures: ledgers on real SQLite files (and in memory), a fixed secret key."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ledger.application import Ledger
from ledger.bootstrap import open_ledger

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TEST_KEY = bytes(range(32))


@pytest.fixture
def secret_key_env(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("AUTHLEDGER_SECRET_KEY", base64.b64encode(TEST_KEY).decode())
    return TEST_KEY


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.db")


@pytest.fixture
def ledger(db_path: str) -> Iterator[Ledger]:
    """A ledger on a real SQLite file."""
    app = open_ledger(db_path, key=TEST_KEY)
    yield app
    app.close()


@pytest.fixture
def memory_ledger() -> Iterator[Ledger]:
    app = open_ledger(":memory:", key=TEST_KEY)
    yield app
    app.close()
