"""No oracles across tenants (issue 14.3): a caller who may not see a thing gets the same
answer — status and body — whether it exists or not; the probing endpoints answer only
about what the caller owns (or to an auditor or admin). Each test names the oracle it closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.application import Ledger
from ledger.tokens import issue_token
from tests.service.conftest import Admin, TestClient

SECRET = "CustomSecret-0123456789abcdef"
CODE = "C0deC0deC0deC0deC0deC0de"


def _world(acme: Admin, globex: Admin) -> dict[str, str]:
    """acme's API (AppCodes in a header allowed) and globex's app on it, with an extension."""
    api = acme.post("/v1/apis", {"name": "items", "appcode_mode": "HEADER"}).json()["api_id"]
    app = globex.post("/v1/apps", {"name": "shopApp", "extension": '{"tier":"gold"}', "app_key": "globex-key-1",
                                   "app_secret": SECRET, "app_code": CODE}).json()["app_id"]
    assert acme.post("/v1/grants", {"app_id": app, "api_id": api, "stage": "RELEASE"}).status_code == 200
    return {"api": api, "app": app}


def _same(a: Any, b: Any) -> None:
    assert (a.status_code, a.json()) == (b.status_code, b.json()), (a.text, b.text)


def _third(ledger: Ledger, client: TestClient, account: str = "initech", **kw: Any) -> Admin:
    return Admin(client, issue_token(ledger, account, **kw).revealed["token"], account)


# -- POST /v1/check ------------------------------------------------------------------------------


def test_oracle_check_no_longer_tells_a_stranger_another_tenants_app_id_and_extension(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    """Oracle: with any token, /v1/check on someone else's API and credential answered with the
    credential's app id and its owner-only extension (and unknown_key for a made-up key)."""
    w = _world(acme, globex)
    initech = _third(ledger, client)
    theirs = initech.post("/v1/check", {"api_id": w["api"], "app_key": "globex-key-1"})
    made_up = initech.post("/v1/check", {"api_id": w["api"], "app_key": "nobody-key-1"})
    code = initech.post("/v1/check", {"api_id": w["api"], "app_code": CODE})
    assert theirs.status_code == 403 and theirs.json()["error"] == "not_permitted"
    assert w["app"] not in theirs.text and "gold" not in theirs.text
    _same(theirs, made_up)
    _same(theirs, code)
    # An API that does not exist: the same answer again.
    _same(theirs, initech.post("/v1/check", {"api_id": "00000000-0000-4000-8000-000000000000",
                                             "app_key": "globex-key-1"}))


def test_oracle_check_the_api_owner_learns_no_extension_and_one_denial_for_foreign_credentials(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    """Oracle: the API owner probing credentials on its own API learned whether a key exists
    (unknown_key vs not_authorized), whose app it is and that app's extension."""
    w = _world(acme, globex)
    initech = _third(ledger, client)
    initech.post("/v1/apps", {"name": "otherApp", "app_key": "initech-key-1"})  # exists, no grant on the API
    allowed = acme.post("/v1/check", {"api_id": w["api"], "app_key": "globex-key-1"}).json()
    assert allowed["allowed"] is True and allowed["app_id"] == w["app"]  # in its authorized apps anyway
    assert allowed["extension"] is None  # owner-only
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()  # one instant for both answers
    exists = acme.post("/v1/check", {"api_id": w["api"], "app_key": "initech-key-1", "at": soon})
    unknown = acme.post("/v1/check", {"api_id": w["api"], "app_key": "nobody-key-1", "at": soon})
    assert exists.json()["allowed"] is False and exists.json()["app_id"] is None
    _same(exists, unknown)
    # The credential's owner still gets the whole answer, extension included.
    mine = globex.post("/v1/check", {"api_id": w["api"], "app_key": "globex-key-1"}).json()
    assert mine["app_id"] == w["app"] and mine["extension"] == '{"tier":"gold"}'


def test_oracle_check_at_a_past_instant_by_a_stranger_is_refused_before_any_replay(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    """A past instant replays the log: a stranger's question is refused before it starts."""
    from authledger.service.query_handlers import _PAST_REPLAY

    w = _world(acme, globex)
    initech = _third(ledger, client)
    with _PAST_REPLAY:  # were it replayed, this would be 503 busy
        r = initech.post("/v1/check", {"api_id": w["api"], "app_key": "globex-key-1", "at": "2025-01-01T00:00:00Z"})
    assert r.status_code == 403


def test_an_auditor_checks_any_credential_with_the_whole_answer(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    w = _world(acme, globex)
    auditor = _third(ledger, client, "audit-team", role="auditor")
    r = auditor.post("/v1/check", {"api_id": w["api"], "app_key": "globex-key-1"}).json()
    assert r["allowed"] is True and r["app_id"] == w["app"] and r["extension"] == '{"tier":"gold"}'


# -- GET /v1/apis/{id} ---------------------------------------------------------------------------


def test_oracle_show_api_no_longer_lists_another_owners_authorized_apps(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    """Oracle: any token read every app authorized on any API (who buys from whom)."""
    w = _world(acme, globex)
    initech = _third(ledger, client)
    seen = initech.get(f"/v1/apis/{w['api']}").json()
    assert seen["authorized_apps"] == [] and seen["name"] == "items"  # the settings stay public
    # The same answer as for an API nobody is authorized on.
    bare = acme.post("/v1/apis", {"name": "items", "appcode_mode": "HEADER"}).json()["api_id"]
    other = initech.get(f"/v1/apis/{bare}").json()
    assert {k: v for k, v in other.items() if k not in ("api_id", "registered_at", "modified_at")} == \
        {k: v for k, v in seen.items() if k not in ("api_id", "registered_at", "modified_at")}
    # The app's owner sees its own app there; the API's owner and an auditor see all.
    assert [a["app_id"] for a in globex.get(f"/v1/apis/{w['api']}").json()["authorized_apps"]] == [w["app"]]
    assert [a["app_id"] for a in acme.get(f"/v1/apis/{w['api']}").json()["authorized_apps"]] == [w["app"]]
    auditor = _third(ledger, client, "audit-team", role="auditor")
    assert [a["app_id"] for a in auditor.get(f"/v1/apis/{w['api']}").json()["authorized_apps"]] == [w["app"]]


# -- credentials named by value: codes/reset, keys/{key}/reset, audit by app_key ----------------------


def test_oracle_codes_reset_answers_404_alike_for_someone_elses_live_code_and_an_unknown_one(
        acme: Admin, globex: Admin) -> None:
    """Oracle: POST /v1/codes/reset answered 403 for another tenant's live AppCode and 404 for
    anything else, so AppCodes could be probed with any token."""
    _world(acme, globex)
    theirs = acme.post("/v1/codes/reset", {"code": CODE})
    unknown = acme.post("/v1/codes/reset", {"code": "N0tAC0deN0tAC0deN0tAC0de"})
    assert theirs.status_code == 404
    _same(theirs, unknown)
    assert globex.post("/v1/codes/reset", {"code": CODE}).status_code == 200  # its owner still may


def test_oracle_key_reset_and_audit_by_app_key_answer_404_alike(acme: Admin, globex: Admin) -> None:
    """Oracle: the same 403-versus-404 for AppKeys (reset, access, history by app_key)."""
    _world(acme, globex)
    for method, path, body, query in (
        ("POST", "/v1/keys/{}/reset", {}, None),
        ("GET", "/v1/audit/access", None, "app_key"),
        ("GET", "/v1/audit/history", None, "app_key"),
    ):
        answers = []
        for key in ("globex-key-1", "nobody-key-1"):
            if method == "POST":
                answers.append(acme.post(path.format(key), body))
            else:
                answers.append(acme.get(path, params={query: key}))
        theirs, unknown = answers
        assert theirs.status_code == 404, (path, theirs.text)
        assert theirs.json() == {**unknown.json(), "message": unknown.json()["message"].replace(
            "nobody-key-1", "globex-key-1")}


def test_oracle_revoking_another_accounts_token_answers_as_an_unknown_token(
        acme: Admin, globex: Admin) -> None:
    theirs = globex.post("/v1/tokens", {"label": "x"}).json()["token_id"]
    made_up = "00000000-0000-4000-8000-000000000000"
    a, b = acme.delete(f"/v1/tokens/{theirs}"), acme.delete(f"/v1/tokens/{made_up}")
    assert a.status_code == 404
    assert a.json() == {**b.json(), "message": b.json()["message"].replace(made_up, theirs)}


# -- POST /v1/verify-request ---------------------------------------------------------------------


def _raw(key: str) -> str:
    return f"GET /v1/items/1 HTTP/1.1\r\nX-Ca-Key: {key}\r\n\r\n"


def test_oracle_verify_request_by_a_stranger_is_refused_alike_whatever_the_credential(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    """Oracle: any token verified requests on any API: Invalid AppKey for a made-up key,
    Invalid Signature (and the app's id) for a real one — and the AppCode form probed codes."""
    w = _world(acme, globex)
    initech = _third(ledger, client)
    answers = [initech.post("/v1/verify-request", {"api_id": w["api"], "request": raw}) for raw in (
        _raw("globex-key-1"), _raw("nobody-key-1"), f"GET / HTTP/1.1\r\nAuthorization: APPCODE {CODE}\r\n\r\n",
        "GET / HTTP/1.1\r\nAuthorization: APPCODE N0tAC0deN0tAC0deN0tAC0de\r\n\r\n")]
    assert answers[0].status_code == 403
    for other in answers[1:]:
        _same(answers[0], other)


def test_oracle_verify_request_the_api_owner_gets_the_gateways_answer_not_whose_app(
        acme: Admin, globex: Admin) -> None:
    w = _world(acme, globex)
    refused = acme.post("/v1/verify-request", {"api_id": w["api"], "request": _raw("globex-key-1")}).json()
    assert refused["accepted"] is False and refused["app_id"] is None and refused["system_parameters"] == {}
    mine = globex.post("/v1/verify-request", {"api_id": w["api"], "request": _raw("globex-key-1")}).json()
    assert mine["app_id"] == w["app"]  # the credential's owner sees its own app


def test_oracle_verify_request_at_is_bounded_to_now_and_the_window_to_the_servers(
        acme: Admin, globex: Admin, ledger: Ledger, client: TestClient) -> None:
    """Oracle: verify-request took any caller-chosen ``at`` and a window of up to a year, so an
    old captured request could be checked against today's secrets, or any past state."""
    w = _world(acme, globex)
    raw = _raw("globex-key-1")
    far = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    r = globex.post("/v1/verify-request", {"api_id": w["api"], "request": raw, "at": far})
    assert r.status_code == 400 and r.json()["field"] == "at"
    r = globex.post("/v1/verify-request", {"api_id": w["api"], "request": raw, "window": 86400 * 365})
    assert r.status_code == 400 and r.json()["field"] == "window"
    near = (datetime.now(UTC) - timedelta(seconds=60)).isoformat()
    assert globex.post("/v1/verify-request", {"api_id": w["api"], "request": raw, "at": near,
                                              "window": 600}).status_code == 200
    # An auditor may replay any instant, with a wide window.
    auditor = _third(ledger, client, "audit-team", role="auditor")
    r = auditor.post("/v1/verify-request", {"api_id": w["api"], "request": raw, "at": far, "window": 86400 * 365})
    assert r.status_code == 200, r.text
