"""Every admin operation × every kind of caller (issue 14.2), the expected status generated
from the operation table (tests/service/roles_matrix.py), checked over the real app
(TestClient, every cell) and over a real ``authledger serve`` with tokens the CLI made."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.bootstrap import open_ledger
from ledger.tokens import issue_token, revoke_token
from authledger.service.admin import OPERATIONS
from authledger.service.app import create_app
from tests.conftest import TEST_KEY
from tests.service import harness
from tests.service.roles_matrix import (
    ADMIN_ACCOUNT,
    AUDITOR_ACCOUNT,
    CALLERS,
    OTHER_ACCOUNT,
    OWNER_ACCOUNT,
    REQUESTS,
    Client,
    Tokens,
    expected,
    make_world,
    request_for,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Tokens]]:
    """One ledger file and app for the whole matrix (each cell makes its own world in it)."""
    ledger = open_ledger(str(tmp_path_factory.mktemp("roles") / "ledger.db"), key=TEST_KEY)
    app = create_app(ledger)
    client = Client(TestClient(app, raise_server_exceptions=False))
    soon = datetime.now(UTC) + timedelta(seconds=1)
    owner = issue_token(ledger, OWNER_ACCOUNT, "owner").revealed["token"]
    elsewhere_app = client.ok("POST", "/v1/apps", owner, {"name": "elsewhereApp"})["app_id"]
    elsewhere_api = client.ok("POST", "/v1/apis", owner, {"name": "elsewhere"})["api_id"]
    revoked = issue_token(ledger, OWNER_ACCOUNT, "revoked")
    revoke_token(ledger, revoked.ids["token_id"], OWNER_ACCOUNT)
    tokens = Tokens(
        owner=owner,
        other_owner=issue_token(ledger, OTHER_ACCOUNT).revealed["token"],
        auditor=issue_token(ledger, AUDITOR_ACCOUNT, role="auditor").revealed["token"],
        admin=issue_token(ledger, ADMIN_ACCOUNT, role="admin").revealed["token"],
        read_only=issue_token(ledger, OWNER_ACCOUNT, scopes=["read-only"]).revealed["token"],
        expired=issue_token(ledger, OWNER_ACCOUNT, expires_at=soon).revealed["token"],
        revoked=revoked.revealed["token"],
        elsewhere_app=issue_token(ledger, OWNER_ACCOUNT, scopes=[f"app:{elsewhere_app}"]).revealed["token"],
        elsewhere_api=issue_token(ledger, OWNER_ACCOUNT, scopes=[f"api:{elsewhere_api}"]).revealed["token"],
    )
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    yield client, tokens
    app.state.service.close()
    ledger.close()


def test_every_operation_declares_who_may_call_it_and_the_matrix_knows_how_to_call_it() -> None:
    # Fails for an operation added to the table without an access rule or a matrix request.
    for op in OPERATIONS:
        assert op.access is not None, op.op_id
        assert op.access.kind in ("read", "write") and op.access.roles, op.op_id
        assert op.access.others in ("own", "public", "forbidden", "hidden"), op.op_id
        assert op.op_id in REQUESTS, f"tests/service/roles_matrix.py: how is {op.op_id} called?"
    assert not set(REQUESTS) - {op.op_id for op in OPERATIONS}


def test_the_expectations_are_not_all_alike() -> None:
    # A generator that answered 200 (or 403) everywhere would test nothing.
    statuses = {expected(op, caller) for op in OPERATIONS for caller in CALLERS}
    assert {200, 201, 401, 403, 404} <= statuses


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.op_id)
def test_role_matrix(served: tuple[Client, Tokens], op: Any, caller: str) -> None:
    client, tokens = served
    world = make_world(client, tokens.owner)
    token = tokens.for_caller(caller, op, client, world)
    method, path, body, query = request_for(op, world)
    r = client.call(method, path, token, body, query)
    assert r.status_code == expected(op, caller), (op.op_id, caller, r.status_code, r.text)
    if r.status_code == 401:
        assert r.json()["error"] == "unauthenticated"
    elif r.status_code == 403:
        assert r.json()["error"] == "not_permitted"


def test_an_expired_a_revoked_and_an_unknown_token_get_the_same_401(served: tuple[Client, Tokens]) -> None:
    client, tokens = served
    answers = [client.call("GET", "/v1/apps", t) for t in (tokens.expired, tokens.revoked, "alt_" + "x" * 43)]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1


def test_the_role_matrix_holds_on_a_real_server_with_tokens_from_the_cli(tmp_path: Path) -> None:
    """The whole matrix over a real ``authledger serve``, with tokens made by ``authledger token
    create`` (the first admin's included)."""
    db = str(tmp_path / "ledger.db")

    def cli_token(account: str, *extra: str) -> str:
        return str(harness.cli(db, "token", "create", "--account", account, *extra)["token"])

    owner = cli_token(OWNER_ACCOUNT)
    with harness.serve(db, "--no-access-log") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                                     timeout=30) as http:
        client = Client(http)
        elsewhere_app = client.ok("POST", "/v1/apps", owner, {"name": "elsewhereApp"})["app_id"]
        elsewhere_api = client.ok("POST", "/v1/apis", owner, {"name": "elsewhere"})["api_id"]
        revoked = harness.cli(db, "token", "create", "--account", OWNER_ACCOUNT)
        harness.cli(db, "token", "revoke", revoked["token_id"], "--actor", OWNER_ACCOUNT)
        tokens = Tokens(
            owner=owner, other_owner=cli_token(OTHER_ACCOUNT), auditor=cli_token(AUDITOR_ACCOUNT, "--role", "auditor"),
            admin=cli_token(ADMIN_ACCOUNT, "--role", "admin"), read_only=cli_token(OWNER_ACCOUNT, "--scope", "read-only"),
            expired=cli_token(OWNER_ACCOUNT, "--for", "1s"), revoked=revoked["token"],
            elsewhere_app=cli_token(OWNER_ACCOUNT, "--scope", f"app:{elsewhere_app}"),
            elsewhere_api=cli_token(OWNER_ACCOUNT, "--scope", f"api:{elsewhere_api}"),
        )
        time.sleep(1.05)  # the --for 1s token has expired
        checked = 0
        for op in OPERATIONS:
            # The refusals first, on one world (they write nothing), then the owner's success;
            # every other success on a world of its own.
            world = make_world(client, owner)
            method, path, body, query = request_for(op, world)
            successes = []
            for caller in (*[c for c in CALLERS if c != "owner"], "owner"):
                want = expected(op, caller)
                if caller != "owner" and want < 400:
                    successes.append(caller)
                    continue
                r = client.call(method, path, tokens.for_caller(caller, op, client, world), body, query)
                assert r.status_code == want, (op.op_id, caller, r.status_code, r.text)
                checked += 1
            for caller in successes:
                world = make_world(client, owner)
                method, path, body, query = request_for(op, world)
                r = client.call(method, path, tokens.for_caller(caller, op, client, world), body, query)
                assert r.status_code == expected(op, caller), (op.op_id, caller, r.status_code, r.text)
                checked += 1
        assert checked == len(OPERATIONS) * len(CALLERS)


def test_the_who_may_do_what_table_in_the_docs_is_the_operation_tables() -> None:
    from authledger.service.permissions import BEGIN, END, markdown_table

    doc = (harness.REPO / "docs" / "roles.md").read_text()
    shown = doc.partition(BEGIN)[2].partition(END)[0]
    assert shown.strip() == markdown_table(OPERATIONS).strip(), "run: python -m authledger.service.permissions"


def test_the_openapi_document_shows_which_roles_each_operation_needs() -> None:
    from authledger.service.openapi import document

    doc = document()
    for op in OPERATIONS:
        described = doc["paths"][op.path][op.method.lower()]
        assert op.access is not None
        assert described["x-roles"] == list(op.access.roles), op.op_id
        assert described["x-access"]["kind"] == op.access.kind
        assert described["description"].startswith("Roles: " + ", ".join(op.access.roles))
    writes = doc["paths"]["/v1/apps"]["post"]
    assert "auditor" not in writes["x-roles"] and writes["x-access"]["kind"] == "write"
