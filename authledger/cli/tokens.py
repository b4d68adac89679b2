"""``authledger token create|revoke|list`` and ``authledger audit tokens``: bearer tokens for
the HTTP admin API, with their roles and scopes (issue 14.1).

The CLI runs on the server's machine with the ledger and its key: it may issue any token,
the first admin's included (``token create --account ops --role admin``).
"""

from __future__ import annotations

import click

from authledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import ONCE, block, indent, receipt, table

ROLE_CHOICE = click.Choice(["owner", "auditor", "admin"])
_COLUMNS = [("TOKEN ID", "token_id"), ("ACCOUNT", "account"), ("ROLE", "role"), ("SCOPES", "scopes"),
            ("LABEL", "label"), ("ISSUED", "issued_at"), ("EXPIRES", "expires_at")]


@click.group("token")
@global_options
def token_group() -> None:
    """Issue, revoke and list bearer tokens (the admin API's credentials)."""


@token_group.command("create")
@click.option("--account", required=True, help="Account the token acts as.")
@click.option("--role", type=ROLE_CHOICE, default="owner", show_default=True,
              help="owner: the account's apps and APIs; auditor: reads every account; admin: tokens for any "
                   "account, break-glass, reads every account.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="Narrow it (repeatable): read-only, app:<APP_ID> or api:<API_ID> (one app or API, owner tokens).")
@click.option("--expires-at", "expires_at", default=None, metavar="ISO8601", help="When it stops working.")
@click.option("--for", "lifetime", default=None, metavar="DURATION", help="Lifetime instead: 30d, 12h, 90m, 2w.")
@click.option("--actor", default=None, help="Who issues it, recorded on the event (default: the account).")
@click.option("--label", default="", help="What the token is for (printable, at most 128 characters).")
@KEY_OPTION
@global_options
def create(account: str, role: str, scopes: tuple[str, ...], expires_at: str | None, lifetime: str | None,
           actor: str | None, label: str, idempotency_key: str | None) -> None:
    """Issue a token; it is printed once and stored only as a SHA-256 hash."""
    from datetime import UTC, datetime

    from ledger.durations import parse_duration
    from ledger.errors import InvalidInput
    from ledger.tokens import issue_token

    expires: object = expires_at
    if lifetime is not None:
        if expires_at is not None:
            raise InvalidInput("give --expires-at or --for, not both", field="for")
        expires = datetime.now(UTC) + parse_duration(lifetime, "for")
    ledger = settings().ledger(create=True)
    r = issue_token(ledger, account, label, role=role, scopes=list(scopes), expires_at=expires, actor=actor,
        idempotency=keyed(idempotency_key, "token create"))

    def human(d: dict[str, object]) -> str:
        if d.get("replayed"):
            return keyed_receipt("token issued")(d)
        text = receipt("token issued", d, skip=("token",))
        return text + "\n" + indent(block([("token", f"{d['token']}  {ONCE}")]))

    emit(r.to_dict(), human)


@token_group.command("revoke")
@click.argument("token_id")
@click.option("--actor", required=True, help="Acting account (the token's own account, or an admin with --admin).")
@click.option("--admin", "as_admin", is_flag=True, help="Revoke any account's token (an admin's break-glass).")
@global_options
def revoke(token_id: str, actor: str, as_admin: bool) -> None:
    """Revoke a token: it stops authenticating at once."""
    from ledger.tokens import revoke_token

    r = revoke_token(settings().ledger(), token_id, actor, admin=as_admin)
    emit(r.to_dict(), lambda d: receipt("token revoked", d))


@token_group.command("list")
@click.option("--account", default=None, help="Whose tokens (default: every account's).")
@global_options
def list_(account: str | None) -> None:
    """Tokens with their roles, scopes and status (ids and labels; never the token)."""
    from ledger.tokens import list_tokens

    found = [t.to_dict() for t in list_tokens(settings().ledger(), account)]
    emit({"tokens": found, "count": len(found)}, lambda d: table(d["tokens"], [
        *_COLUMNS, ("REVOKED", "revoked"), ("REVOKED AT", "revoked_at")]))


@click.group("audit")
@global_options
def audit_group() -> None:
    """Audit questions about the admin API's tokens."""


@audit_group.command("tokens")
@click.option("--at", default=None, metavar="ISO8601", help="The instant (default: now).")
@click.option("--account", default=None, help="Only this account's tokens.")
@global_options
def audit_tokens(at: str | None, account: str | None) -> None:
    """Who could administer what at an instant: every token live then, its role and scopes."""
    from datetime import UTC, datetime

    from ledger.tokens import tokens_at

    t = datetime.now(UTC) if at is None else at
    rows = tokens_at(settings().ledger(), t, account)
    from ledger.rules import aware_instant

    from ledger.isotime import iso

    when = iso(aware_instant(t, "at"))
    emit({"at": when, "account": account, "tokens": rows, "count": len(rows)},
         lambda d: f"tokens live at {d['at']}\n" + table(d["tokens"], [*_COLUMNS, ("ISSUED BY", "issued_by"),
                                                                        ("CAN", "can")]))


def register(cli: click.Group) -> None:
    cli.add_command(token_group)
    cli.add_command(audit_group)
