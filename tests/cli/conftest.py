"""Run the CLI in-process (``ledger.cli.main.main``) against a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ledger.cli.main import main


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


Run = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], secret_key_env: bytes, db_path: str,
        monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run(*args)``: the CLI with ``--db db_path`` first (``db=False`` to leave it out)."""
    monkeypatch.delenv("AUTHLEDGER_DB", raising=False)

    def run(*args: object, db: bool = True) -> Result:
        argv = (_store_option(db_path) if db else []) + [str(a) for a in args]
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


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
