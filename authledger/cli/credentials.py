"""``authledger key add|delete|reset|list`` and ``authledger code add|delete|reset``.

A new or reset AppSecret or AppCode is printed once, by the command that made it;
everywhere else it is masked.
"""

from __future__ import annotations

import click

from authledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from authledger.cli.secret_input import secret_option
from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import receipt, table

ACTOR = click.option("--actor", required=True, help="Acting account (must own the app).")


@click.group("key")
@global_options
def key_group() -> None:
    """Key pairs (AppKey + AppSecret) of an app."""


@key_group.command("add")
@click.argument("app_id")
@ACTOR
@click.option("--app-key", default=None, help="Custom AppKey (else generated).")
@secret_option("app-secret", "Custom AppSecret (else generated).")
@KEY_OPTION
@global_options
def key_add(app_id: str, actor: str, app_key: str | None, app_secret: str | None, idempotency_key: str | None) -> None:
    """Add a key pair; its AppSecret is shown once."""
    ledger = settings().ledger()
    r = ledger.add_key_pair(app_id, actor, app_key=app_key, app_secret=app_secret,
        idempotency=keyed(idempotency_key, "key add"))
    emit(r.to_dict(), keyed_receipt("key pair added"))


@key_group.command("delete")
@click.argument("app_id")
@click.argument("app_key")
@ACTOR
@global_options
def key_delete(app_id: str, app_key: str, actor: str) -> None:
    """Delete an added key pair (the default pair cannot be deleted)."""
    r = settings().ledger().delete_key_pair(app_id, app_key, actor)
    emit(r.to_dict(), lambda d: receipt("key pair deleted", d))


@key_group.command("reset")
@click.argument("app_key")
@ACTOR
@click.option("--new-app-key", default=None, help="Also change the AppKey.")
@secret_option("new-app-secret", "Custom new AppSecret (else generated).")
@KEY_OPTION
@global_options
def key_reset(app_key: str, actor: str, new_app_key: str | None, new_app_secret: str | None,
              idempotency_key: str | None) -> None:
    """Give a key pair a new AppSecret (shown once); the old one stops working at once."""
    ledger = settings().ledger()
    r = ledger.reset_key_pair(app_key, actor, new_app_key=new_app_key, new_app_secret=new_app_secret,
        idempotency=keyed(idempotency_key, "key reset"))
    emit(r.to_dict(), keyed_receipt("key pair reset"))


@key_group.command("list")
@click.argument("app_id")
@ACTOR
@global_options
def key_list(app_id: str, actor: str) -> None:
    """An app's key pairs, secrets masked (owner only)."""
    from ledger import views
    from ledger.errors import NotPermitted

    app = settings().ledger().get_app(app_id)
    if app.owner != actor:
        raise NotPermitted(f"account {actor} does not own app {app.id}", field="actor")
    pairs = views.key_pairs(app)
    emit({"app_id": str(app.id), "key_pairs": pairs, "count": len(pairs)}, lambda d: table(
        d["key_pairs"], [("APP KEY", "app_key"), ("APP SECRET", "app_secret"), ("DEFAULT", "default"),
                         ("ADDED", "added_at"), ("SECRET SET", "secret_set_at")]))


@click.group("code")
@global_options
def code_group() -> None:
    """AppCodes of an app."""


@code_group.command("add")
@click.argument("app_id")
@ACTOR
@secret_option("code", "Custom AppCode (else generated).")
@KEY_OPTION
@global_options
def code_add(app_id: str, actor: str, code: str | None, idempotency_key: str | None) -> None:
    """Add an AppCode; it is shown once."""
    ledger = settings().ledger()
    r = ledger.add_app_code(app_id, actor, code=code, idempotency=keyed(idempotency_key, "code add"))
    emit(r.to_dict(), keyed_receipt("AppCode added"))


@code_group.command("delete")
@click.argument("app_id")
@click.argument("code")
@ACTOR
@global_options
def code_delete(app_id: str, code: str, actor: str) -> None:
    """Delete one of an app's AppCodes."""
    r = settings().ledger().delete_app_code(app_id, code, actor)
    emit(r.to_dict(), lambda d: receipt("AppCode deleted", d))


@code_group.command("reset")
@click.argument("code")
@ACTOR
@secret_option("new-code", "Custom new AppCode (else generated).")
@KEY_OPTION
@global_options
def code_reset(code: str, actor: str, new_code: str | None, idempotency_key: str | None) -> None:
    """Replace an AppCode with a new one (shown once); the old one stops working at once."""
    ledger = settings().ledger()
    r = ledger.reset_app_code(code, actor, new_code=new_code,
        idempotency=keyed(idempotency_key, "code reset"))
    emit(r.to_dict(), keyed_receipt("AppCode reset"))


def register(cli: click.Group) -> None:
    cli.add_command(key_group)
    cli.add_command(code_group)
