"""Run the CLI in-process (``authledger.cli.main.main``) against a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.cli_runner import Result, Run, store_option  # noqa: F401 - names the CLI tests import from here


@pytest.fixture
def position(db_path: str, secret_key_env: bytes) -> Callable[[], int]:
    """The ledger's last notification id (0 when empty), read afresh each call."""
    from ledger.bootstrap import open_ledger

    def position() -> int:
        ledger = open_ledger(db_path)
        try:
            return ledger.recorder.max_notification_id() or 0
        finally:
            ledger.close()

    return position


def make_api(run: Run, owner: str = "provider", name: str = "items", *extra: str) -> str:
    r = run("--json", "api", "register", "--owner", owner, "--name", name, *extra)
    assert r.code == 0, r.err
    return str(r.json["api_id"])


def make_app(run: Run, owner: str = "consumer", name: str = "shop_app", *extra: str) -> dict[str, Any]:
    r = run("--json", "app", "create", "--owner", owner, "--name", name, *extra)
    assert r.code == 0, r.err
    return dict(r.json)
