"""Fixtures for the console: the service with its console over a real SQLite ledger, and a
logged-in browser-like client per account (cookies, CSRF token scraped from the page)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from authledger.console import routes
from authledger.service.app import create_app
from ledger.application import Ledger
from ledger.tokens import issue_token

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
IDEM = re.compile(r'name="idempotency" value="([^"]+)"')


@dataclass
class Browser:
    """One account's console session."""

    client: TestClient
    token: str
    token_id: str
    account: str
    csrf: str = ""

    def login(self) -> Any:
        r = self.client.post("/console/login", data={"token": self.token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = CSRF.search(self.client.get("/console/apps").text).group(1)  # type: ignore[union-attr]
        return r

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, follow_redirects=False, **kw)

    def idempotency(self, page: str) -> str:
        return IDEM.search(self.get(page).text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def console_app(ledger: Ledger, db_path: str) -> Iterator[Any]:
    app = create_app(ledger, more_routes=routes, db_path=db_path)
    yield app
    app.state.service.close()


def _browser(app: Any, ledger: Ledger, account: str, role: str = "owner", **kw: Any) -> Browser:
    receipt = issue_token(ledger, account, "console", role=role, **kw).to_dict()
    b = Browser(TestClient(app, raise_server_exceptions=False), receipt["token"], receipt["token_id"], account)
    b.login()
    return b


@pytest.fixture
def acme(console_app: Any, ledger: Ledger) -> Browser:
    return _browser(console_app, ledger, "acme")


@pytest.fixture
def globex(console_app: Any, ledger: Ledger) -> Browser:
    return _browser(console_app, ledger, "globex")


@pytest.fixture
def auditor(console_app: Any, ledger: Ledger) -> Browser:
    return _browser(console_app, ledger, "audit-team", role="auditor")


@pytest.fixture
def make_browser(console_app: Any, ledger: Ledger) -> Any:
    return lambda account, role="owner", **kw: _browser(console_app, ledger, account, role, **kw)
