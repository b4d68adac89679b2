"""Schema-driven fuzz of the admin API against its own OpenAPI document: never a 5xx, and
every answer (success or error) matches the response schema the document gives for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from ledger.application import Ledger
from ledger.tokens import issue_token
from authledger.service.app import create_app

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from ledger.bootstrap import open_ledger
    from tests.conftest import TEST_KEY

    ledger: Ledger = open_ledger(str(tmp_path_factory.mktemp("fuzz") / "ledger.db"), key=TEST_KEY)
    TOKEN["value"] = issue_token(ledger, "fuzzer").revealed["token"]
    # Something real to hit: an API and an app of the fuzzing account.
    ledger.register_api("fuzzer", "items", path_pattern="/v1/items/{id}")
    ledger.create_app("fuzzer", "fuzzApp", app_key="fuzz-key-0001")
    app = create_app(ledger, access_log=False)
    yield app
    app.state.service.close()
    ledger.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/v1/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_admin_api_never_answers_5xx_and_answers_as_documented(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN['value']}"},
                           checks=[not_a_server_error, response_schema_conformance])
