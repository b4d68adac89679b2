"""Token roles, scopes and expiry on the CLI (issue 14.1): ``token create --role/--scope/--for``,
``token list``, ``token revoke --admin`` and ``audit tokens --at`` (who could administer what, when)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tests.cli.conftest import Run, make_api, make_app


def test_the_first_admin_token_comes_from_the_cli_and_is_an_event_with_its_role(run: Run) -> None:
    r = run("--json", "token", "create", "--account", "ops", "--role", "admin", "--label", "first admin")
    assert r.code == 0, r.err
    made = r.json
    assert made["role"] == "admin" and made["scopes"] == [] and made["expires_at"] is None
    assert made["token"].startswith("alt_")
    listed = run("--json", "token", "list").json["tokens"]  # every account's
    assert [(t["account"], t["role"], t["issued_by"]) for t in listed] == [("ops", "admin", "ops")]
    assert made["token"] not in run("token", "list").out


def test_scopes_and_expiry_are_checked_and_recorded(run: Run) -> None:
    app = make_app(run, owner="acme")["app_id"]
    api = make_api(run, owner="acme")
    r = run("--json", "token", "create", "--account", "acme", "--scope", "read-only", "--scope", f"app:{app}",
            "--for", "1h", "--actor", "ops")
    assert r.code == 0, r.err
    assert r.json["scopes"] == ["read-only", f"app:{app}"] and r.json["expires_at"] is not None
    assert run("--json", "token", "list", "--account", "acme").json["tokens"][0]["issued_by"] == "ops"
    # Refused, nothing written: a bad role, an unknown scope, two resources, a resource of another
    # account (the same answer as an unknown id), a resource scope on an auditor, a past expiry.
    other = make_app(run, owner="globex", name="their_app")["app_id"]
    for args, code, field in (
        (("--role", "root"), 2, None),
        (("--scope", "everything"), 2, "scopes"),
        (("--scope", f"app:{app}", "--scope", f"api:{api}"), 2, "scopes"),
        (("--scope", f"app:{other}"), 3, "app_id"),
        (("--role", "auditor", "--scope", f"app:{app}"), 2, "scopes"),
        (("--expires-at", "2020-01-01T00:00:00Z"), 2, "expires_at"),
        (("--for", "1h", "--expires-at", "2999-01-01T00:00:00Z"), 2, "for"),
    ):
        before = len(run("--json", "token", "list").json["tokens"])
        bad = run("--json", "token", "create", "--account", "acme", *args)
        assert bad.code == code, (args, bad.err)
        if field:
            assert f'"field": "{field}"' in bad.err, bad.err
        assert len(run("--json", "token", "list").json["tokens"]) == before


def test_audit_tokens_answers_who_could_administer_what_at_an_instant(run: Run) -> None:
    owner = run("--json", "token", "create", "--account", "acme").json
    run("--json", "token", "create", "--account", "audit-team", "--role", "auditor")
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    assert run("token", "revoke", owner["token_id"], "--actor", "acme").code == 0
    short = run("--json", "token", "create", "--account", "acme", "--for", "1s").json

    then = run("--json", "audit", "tokens", "--at", between).json
    assert {(t["account"], t["role"]) for t in then["tokens"]} == {("acme", "owner"), ("audit-team", "auditor")}
    assert {t["can"] for t in then["tokens"]} == {"administer account acme", "read every account"}
    now = run("--json", "audit", "tokens").json
    assert [t["token_id"] for t in now["tokens"] if t["account"] == "acme"] == [short["token_id"]]
    time.sleep(1.05)
    later = run("--json", "audit", "tokens", "--account", "acme").json
    assert later["tokens"] == []  # revoked, and expired
    assert "read every account" in run("audit", "tokens").out
    assert run("audit", "tokens", "--at", "yesterday").code == 2


def test_only_the_tokens_account_revokes_it_unless_as_admin(run: Run) -> None:
    made = run("--json", "token", "create", "--account", "acme").json
    refused = run("--json", "token", "revoke", made["token_id"], "--actor", "ops")
    assert refused.code == 3  # another account's token: as an unknown one
    r = run("--json", "token", "revoke", made["token_id"], "--actor", "ops", "--admin")
    assert r.code == 0 and r.json["revoked"] is True and r.json["account"] == "acme"
    assert run("--json", "token", "list", "--account", "acme").json["tokens"][0]["revoked_by"] == "ops"
