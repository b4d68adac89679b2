"""The CLI run in-process against the test's ledger: one ``run`` fixture for every test folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from authledger.cli.main import main


def store_option(db_path: str) -> list[str]:
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
    """``run(*args)``: the CLI with the ledger option first (``db=False`` to leave it out)."""
    monkeypatch.delenv("AUTHLEDGER_DB", raising=False)

    def run(*args: object, db: bool = True) -> Result:
        argv = (store_option(db_path) if db else []) + [str(a) for a in args]
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
