"""Roles, scopes and expiry over HTTP (issue 14.1): who issues what, break-glass attributed to
the admin, auditors reading every account, GET /v1/audit/tokens, tokens from before roles."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.tokens import TOKEN_ISSUED, issue_token, principal_for_token
from tests.conftest import TEST_KEY
from tests.service.conftest import Admin, TestClient


def _as(ledger: Ledger, client: TestClient, account: str, **kw: Any) -> Admin:
    return Admin(client, issue_token(ledger, account, **kw).revealed["token"], account)


def _events(ledger: Ledger, topic: str) -> list[Any]:
    return [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(1, 1000, topics=[topic])]


def test_an_admin_issues_any_role_for_any_account_attributed_to_itself(ledger: Ledger, client: TestClient) -> None:
    admin = _as(ledger, client, "ops", role="admin")
    r = admin.post("/v1/tokens", {"account": "audit-team", "role": "auditor", "label": "q3 audit", "for": "30d"})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "auditor" and r.json()["account"] == "audit-team"
    issued = _events(ledger, TOKEN_ISSUED)[-1]
    assert (issued.actor, issued.account, issued.role, issued.source) == ("ops", "audit-team", "auditor", "http")
    auditor = Admin(client, r.json()["token"], "audit-team")
    assert len(auditor.get("/v1/tokens", params={"account": "audit-team"}).json()["data"]) == 1


def test_an_owner_issues_only_owner_tokens_for_itself_never_outliving_its_own(
        acme: Admin, ledger: Ledger, client: TestClient) -> None:
    assert acme.post("/v1/tokens", {"role": "admin"}).status_code == 403
    assert acme.post("/v1/tokens", {"role": "auditor"}).status_code == 403
    assert acme.post("/v1/tokens", {"account": "globex"}).status_code == 403
    end = datetime.now(UTC) + timedelta(hours=1)
    short = _as(ledger, client, "acme", expires_at=end)
    minted = short.post("/v1/tokens", {"label": "longer", "for": "30d"}).json()
    assert datetime.fromisoformat(minted["expires_at"]) == end
    unbounded = short.post("/v1/tokens", {"label": "forever"}).json()
    assert datetime.fromisoformat(unbounded["expires_at"]) == end
    # A scoped or read-only token mints nothing.
    read_only = _as(ledger, client, "acme", scopes=["read-only"])
    assert read_only.post("/v1/tokens", {}).status_code == 403


def test_a_scope_on_another_accounts_app_answers_as_an_unknown_app(
        acme: Admin, globex: Admin) -> None:
    theirs = globex.post("/v1/apps", {"name": "theirApp"}).json()["app_id"]
    made_up = "00000000-0000-4000-8000-000000000000"
    a = acme.post("/v1/tokens", {"scopes": [f"app:{theirs}"]})
    b = acme.post("/v1/tokens", {"scopes": [f"app:{made_up}"]})
    assert a.status_code == b.status_code == 404
    assert a.json() == {**b.json(), "message": b.json()["message"].replace(made_up, theirs)}


def test_an_auditor_reads_every_account_and_writes_nothing(acme: Admin, globex: Admin, ledger: Ledger,
                                                           client: TestClient) -> None:
    api = acme.post("/v1/apis", {"name": "items"}).json()["api_id"]
    app = globex.post("/v1/apps", {"name": "shopApp"}).json()["app_id"]
    acme.post("/v1/grants", {"app_id": app, "api_id": api, "stage": "RELEASE"})
    auditor = _as(ledger, client, "audit-team", role="auditor")
    listed = auditor.get("/v1/apps").json()
    assert [a["app_id"] for a in listed["data"]] == [app] and "key_pairs" in listed["data"][0]  # full view
    assert auditor.get("/v1/apps", params={"owner": "acme"}).json()["data"] == []
    assert auditor.get(f"/v1/apps/{app}/keys").status_code == 200
    assert auditor.get("/v1/audit/who-could-call", params={"api_id": api}).json()["could_call"]
    assert auditor.get("/v1/audit/replay", params={"until": datetime.now(UTC).isoformat()}).status_code == 200
    assert len(auditor.get("/v1/tokens").json()["data"]) >= 3  # every account's
    for method, path, body in (("POST", f"/v1/apps/{app}/disable", None), ("POST", "/v1/apps", {"name": "mineApp"}),
                               ("POST", "/v1/tokens", {})):
        r = client.request(method, path, json=body, headers={"Authorization": f"Bearer {auditor.token}"})
        assert r.status_code == 403 and r.json()["field"] == "authorization", r.text
    # An owner cannot ask for another account's lists.
    assert acme.get("/v1/apps", params={"owner": "globex"}).status_code == 403
    assert acme.get("/v1/tokens", params={"account": "globex"}).status_code == 403


def test_break_glass_by_an_admin_is_attributed_to_the_admin(acme: Admin, globex: Admin, ledger: Ledger,
                                                            client: TestClient) -> None:
    api = acme.post("/v1/apis", {"name": "items"}).json()["api_id"]
    app = globex.post("/v1/apps", {"name": "shopApp"}).json()["app_id"]
    acme.post("/v1/grants", {"app_id": app, "api_id": api, "stage": "RELEASE"})
    admin = _as(ledger, client, "ops", role="admin")
    assert admin.post(f"/v1/apps/{app}/disable").status_code == 200
    assert admin.post("/v1/revoke", {"app_id": app, "api_id": api, "stage": "RELEASE"}).status_code == 200
    events = [n for n in ledger.recorder.select_notifications(1, 1000)
              if n.topic in ("authledger:AppDisabled", "authledger:GrantRevoked")]
    decoded = [ledger.mapper.to_domain_event(n) for n in events]
    assert [(e.actor, e.source) for e in decoded] == [("ops", "http"), ("ops", "http")]
    assert decoded[1].role == "admin"
    # Not break-glass: an admin neither changes nor grants what it does not own.
    assert admin.patch(f"/v1/apps/{app}", {"description": "mine"}).status_code == 403
    assert admin.post("/v1/grants", {"app_id": app, "api_id": api, "stage": "TEST"}).status_code == 403
    # ... and revokes any account's token.
    theirs = globex.post("/v1/tokens", {}).json()["token_id"]
    assert admin.delete(f"/v1/tokens/{theirs}").status_code == 200


def test_audit_tokens_over_http_who_could_administer_what_when(acme: Admin, globex: Admin, ledger: Ledger,
                                                               client: TestClient) -> None:
    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    extra = acme.post("/v1/tokens", {"label": "deploy", "scopes": ["read-only"]}).json()
    own = acme.get("/v1/audit/tokens").json()
    assert {t["account"] for t in own["tokens"]} == {"acme"} and own["count"] == 2
    assert {t["can"] for t in own["tokens"]} == {"administer account acme", "read account acme"}
    then = acme.get("/v1/audit/tokens", params={"at": before}).json()
    assert extra["token_id"] not in {t["token_id"] for t in then["tokens"]}
    assert acme.get("/v1/audit/tokens", params={"account": "globex"}).status_code == 403
    auditor = _as(ledger, client, "audit-team", role="auditor")
    everyone = auditor.get("/v1/audit/tokens").json()
    assert {t["account"] for t in everyone["tokens"]} == {"acme", "globex", "audit-team"}
    assert acme.delete(f"/v1/tokens/{extra['token_id']}").status_code == 200
    assert extra["token_id"] not in {t["token_id"] for t in acme.get("/v1/audit/tokens").json()["tokens"]}


def test_a_token_issued_before_roles_reads_as_an_owner_without_scope_or_expiry(db_path: str,
                                                                                 tmp_path: Any) -> None:
    """A TokenIssued event as written before roles existed (no role, scopes, expires_at)."""
    from eventsourcing.persistence import StoredEvent

    source = open_ledger(db_path, key=TEST_KEY)
    token = issue_token(source, "acme", "old").revealed["token"]
    stored = source.recorder.select_notifications(1, 10, topics=[TOKEN_ISSUED])[0]
    state = source.mapper.transcoder.decode(stored.state)
    for name in ("role", "scopes", "expires_at"):
        state.pop(name)
    legacy = open_ledger(str(tmp_path / "legacy.db"), key=TEST_KEY)
    legacy.recorder.insert_events([StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                                               source.mapper.transcoder.encode(state))])
    p = principal_for_token(legacy, token)
    assert p is not None and (p.account, p.role, p.scopes, p.expires_at) == ("acme", "owner", (), None)
    from ledger.tokens import list_tokens, tokens_at

    assert list_tokens(legacy, "acme")[0].role == "owner"
    assert tokens_at(legacy, datetime.now(UTC))[0]["can"] == "administer account acme"
    source.close()
    legacy.close()


@pytest.mark.parametrize("scopes", [["read-only", "app:x"], "read-only", [42]])
def test_malformed_scopes_are_400(acme: Admin, scopes: Any) -> None:
    r = acme.post("/v1/tokens", {"scopes": scopes})
    assert r.status_code == 400 and r.json()["field"] in ("scopes", "app_id"), r.text
