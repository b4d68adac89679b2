"""Fixtures for the HTTP service: an app over a real SQLite ledger, tokens, a client."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

with warnings.catch_warnings():
    # starlette's TestClient is httpx-based; newer starlette nudges towards httpx2.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from ledger.application import Ledger
from ledger.tokens import issue_token
from authledger.service.app import create_app


@dataclass
class Admin:
    """A test client acting as one account (its bearer token in every request)."""

    client: TestClient
    token: str
    account: str

    def _h(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self._h(kw.pop("headers", None)), **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self._h(kw.pop("headers", None)), **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(path, json=json, headers=self._h(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self._h(kw.pop("headers", None)), **kw)


@pytest.fixture
def app(ledger: Ledger) -> Iterator[Any]:
    application = create_app(ledger)
    yield application
    application.state.service.close()


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def acme(ledger: Ledger, client: TestClient) -> Admin:
    return Admin(client, issue_token(ledger, "acme", "tests").revealed["token"], "acme")


@pytest.fixture
def globex(ledger: Ledger, client: TestClient) -> Admin:
    return Admin(client, issue_token(ledger, "globex", "tests").revealed["token"], "globex")
