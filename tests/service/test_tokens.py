"""Bearer tokens: issued and revoked as events, stored only as SHA-256, shown once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.errors import InvalidInput, NotFound
from ledger.tokens import TokenNotFound, account_for_token, issue_token, list_tokens, revoke_token, token_hash
from tests.service import harness


def test_a_token_acts_for_its_account_until_revoked(ledger: Ledger, db_path: str) -> None:
    # Check issuing reveals the token once and records an event with actor and source.
    receipt = issue_token(ledger, "acme", "deploy bot")
    token, token_id = receipt.revealed["token"], receipt.ids["token_id"]
    assert token.startswith("alt_") and account_for_token(ledger, token) == "acme"
    issued = ledger.recorder.select_notifications(1, 10, topics=["authledger:TokenIssued"])[0]
    event = ledger.mapper.to_domain_event(issued)
    assert (event.actor, event.source, event.token_hash) == ("acme", "cli", token_hash(token))

    # Check only the hash is on disk, and listing never shows the token.
    assert token.encode() not in Path(db_path).read_bytes()
    assert token not in str([t.to_dict() for t in list_tokens(ledger, "acme")])

    # Check only the token's account may revoke it (another account's token answers as an
    # unknown one: token ids are no oracle); revoking twice changes nothing.
    with pytest.raises(TokenNotFound) as other:
        revoke_token(ledger, token_id, "globex")
    with pytest.raises(TokenNotFound) as unknown:
        revoke_token(ledger, "00000000-0000-4000-8000-000000000000", "globex")
    assert str(other.value).replace(token_id, "ID") == str(unknown.value).replace(
        "00000000-0000-4000-8000-000000000000", "ID")
    assert revoke_token(ledger, token_id, "acme").events == 1
    assert revoke_token(ledger, token_id, "acme").events == 0
    assert account_for_token(ledger, token) is None
    assert list_tokens(ledger, "acme")[0].revoked is True


def test_malformed_and_unknown_tokens_act_for_nobody(ledger: Ledger) -> None:
    for junk in ("", "alt_", "alt_" + "x" * 500, "Bearer", "alt_\x00\udcff", 42):
        assert account_for_token(ledger, junk) is None
    with pytest.raises(NotFound):
        revoke_token(ledger, "00000000-0000-4000-8000-000000000000", "acme")
    with pytest.raises(InvalidInput):
        issue_token(ledger, "acme", "x" * 200)
    with pytest.raises(InvalidInput):
        issue_token(ledger, "not an account!")


def test_token_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    created = harness.cli(db, "token", "create", "--account", "acme", "--label", "ci")
    assert created["token"].startswith("alt_") and created["label"] == "ci"
    listed = harness.cli(db, "token", "list", "--account", "acme")
    assert listed["count"] == 1 and "token" not in listed["tokens"][0]
    revoked = harness.cli(db, "token", "revoke", created["token_id"], "--actor", "acme")
    assert revoked["revoked"] is True
    assert harness.cli(db, "token", "list", "--account", "acme")["tokens"][0]["revoked"] is True
