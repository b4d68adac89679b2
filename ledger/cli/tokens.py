"""``authledger token create|revoke|list``: bearer tokens for the HTTP admin API."""

from __future__ import annotations

import click

from ledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from ledger.cli.main import emit, global_options, settings
from ledger.cli.text import ONCE, block, indent, receipt, table


@click.group("token")
@global_options
def token_group() -> None:
    """Issue, revoke and list bearer tokens (the admin API's credentials)."""


@token_group.command("create")
@click.option("--account", required=True, help="Account the token acts as.")
@click.option("--label", default="", help="What the token is for (printable, at most 128 characters).")
@KEY_OPTION
@global_options
def create(account: str, label: str, idempotency_key: str | None) -> None:
    """Issue a token; it is printed once and stored only as a SHA-256 hash."""
    from ledger.tokens import issue_token

    ledger = settings().ledger(create=True)
    with keyed(ledger, idempotency_key, "token create"):
        r = issue_token(ledger, account, label)

    def human(d: dict[str, object]) -> str:
        if d.get("replayed"):
            return keyed_receipt("token issued")(d)
        text = receipt("token issued", d, skip=("token",))
        return text + "\n" + indent(block([("token", f"{d['token']}  {ONCE}")]))

    emit(r.to_dict(), human)


@token_group.command("revoke")
@click.argument("token_id")
@click.option("--actor", required=True, help="Acting account (the token's own account).")
@global_options
def revoke(token_id: str, actor: str) -> None:
    """Revoke a token: it stops authenticating at once."""
    from ledger.tokens import revoke_token

    r = revoke_token(settings().ledger(), token_id, actor)
    emit(r.to_dict(), lambda d: receipt("token revoked", d))


@token_group.command("list")
@click.option("--account", required=True, help="Whose tokens.")
@global_options
def list_(account: str) -> None:
    """An account's tokens (ids, labels, status; never the token)."""
    from ledger.tokens import list_tokens

    found = [t.to_dict() for t in list_tokens(settings().ledger(), account)]
    emit({"tokens": found, "count": len(found)}, lambda d: table(d["tokens"], [
        ("TOKEN ID", "token_id"), ("LABEL", "label"), ("ISSUED", "issued_at"),
        ("REVOKED", "revoked"), ("REVOKED AT", "revoked_at")]))


def register(cli: click.Group) -> None:
    cli.add_command(token_group)
