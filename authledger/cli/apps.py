"""``authledger app create|modify|disable|enable|delete|show|list``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from authledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from authledger.cli.secret_input import secret_option
from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import block, indent, receipt, table


def parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    """``K=V`` options as a dict (a later K wins); a value may be empty, a key may not."""
    tags: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected K=V, got {item[:40]!r}", param_hint="'--tag'")
        tags[key] = value
    return tags


@click.group("app")
@global_options
def app_group() -> None:
    """Create, change and look up apps."""


@app_group.command("create")
@click.option("--owner", required=True, help="Owning account (the acting account).")
@click.option("--name", required=True, help="4-26 letters, digits or _, starting with a letter.")
@click.option("--description", default="", help="At most 180 characters.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="A tag (repeat, at most 20).")
@click.option("--extension", default="", help="Text passed to backends as CaAppExtInfo (<= 1,024 bytes).")
@click.option("--app-key", default=None, help="Custom AppKey of the default key pair (else generated).")
@secret_option("app-secret", "Custom AppSecret of the default key pair (else generated).")
@secret_option("app-code", "Custom AppCode (else generated).")
@KEY_OPTION
@global_options
def create(owner: str, name: str, description: str, tags: tuple[str, ...], extension: str,
           app_key: str | None, app_secret: str | None, app_code: str | None, idempotency_key: str | None) -> None:
    """Create an app with its default key pair and an AppCode; their secrets are shown once."""
    tag_map = parse_tags(tags)
    ledger = settings().ledger(create=True)
    r = ledger.create_app(
        owner, name, description=description, tags=tag_map, extension=extension,
        app_key=app_key, app_secret=app_secret, app_code=app_code,
        idempotency=keyed(idempotency_key, "app create"),
    )
    emit(r.to_dict(), keyed_receipt("app created"))


@app_group.command("modify")
@click.argument("app_id")
@click.option("--actor", required=True, help="Acting account (must own the app).")
@click.option("--name", default=None)
@click.option("--description", default=None)
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Replaces all tags (repeat).")
@click.option("--clear-tags", is_flag=True, help="Remove every tag.")
@click.option("--extension", default=None)
@global_options
def modify(app_id: str, actor: str, name: str | None, description: str | None, tags: tuple[str, ...],
           clear_tags: bool, extension: str | None) -> None:
    """Change an app's name, description, tags or extension (only what is given)."""
    if clear_tags and tags:
        raise click.UsageError("use either --tag or --clear-tags, not both")
    tag_map = {} if clear_tags else (parse_tags(tags) if tags else None)
    r = settings().ledger().modify_app(
        app_id, actor, name=name, description=description, tags=tag_map, extension=extension
    )
    emit(r.to_dict(), lambda d: receipt("app modified", d))


def _state_command(verb: str, method: str, doc: str) -> click.Command:
    @click.argument("app_id")
    @click.option("--actor", required=True, help="Acting account (must own the app).")
    @global_options
    def command(app_id: str, actor: str) -> None:
        r = getattr(settings().ledger(), method)(app_id, actor)
        emit(r.to_dict(), lambda d: receipt(f"app {verb}d", d))

    command.__doc__ = doc
    return app_group.command(verb)(command)


_state_command("disable", "disable_app", "Disable an app: its calls are refused, its grants kept.")
_state_command("enable", "enable_app", "Enable a disabled app: its grants work again.")
_state_command("delete", "delete_app", "Delete an app: its credentials and grants stop working.")


@app_group.command("show")
@click.argument("app_id")
@click.option("--actor", default=None, help="Acting account; its owner sees everything but secrets.")
@global_options
def show(app_id: str, actor: str | None) -> None:
    """An app: the full (masked) view for its owner, else id, name, owner and status."""
    from ledger import views

    ledger = settings().ledger(read=True)
    app = ledger.get_app(app_id)
    if actor is None or actor != app.owner:
        emit(views.public_app(app), lambda d: block(d.items()))
        return
    from ledger import catalog

    names, ended = catalog.api_names(ledger, app)
    emit(views.owner_app(app, names, datetime.now(timezone.utc), ended), human_app)


def human_app(d: dict[str, Any]) -> str:
    attrs = [(k, v) for k, v in d.items() if k not in ("key_pairs", "app_codes", "grants")]
    kps = table(d["key_pairs"], [("APP KEY", "app_key"), ("APP SECRET", "app_secret"), ("DEFAULT", "default"),
                                 ("ADDED", "added_at"), ("SECRET SET", "secret_set_at")])
    codes = table(d["app_codes"], [("APP CODE", "app_code"), ("ADDED", "added_at")])
    grants = table(d["grants"], [("API ID", "api_id"), ("API", "api_name"), ("STAGE", "stage"),
                                 ("UNTIL", "until"), ("IN FORCE", "in_force"), ("GRANTED BY", "granted_by"),
                                 ("GRANTED AT", "granted_at"), ("DESCRIPTION", "description")])
    return "\n".join([
        block(attrs),
        f"key pairs ({len(d['key_pairs'])}):", indent(kps),
        f"AppCodes ({len(d['app_codes'])}):", indent(codes),
        f"grants ({len(d['grants'])}):", indent(grants),
    ])


@app_group.command("list")
@click.option("--owner", default=None, help="Only apps of this account.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only apps carrying this tag (repeat: all).")
@global_options
def list_(owner: str | None, tags: tuple[str, ...]) -> None:
    """Apps, in creation order (public view: id, name, owner, status)."""
    from ledger import catalog, views

    tag_map = parse_tags(tags)
    apps = [views.public_app(a) for a in catalog.apps(settings().ledger(read=True), owner, tag_map)]
    emit({"apps": apps, "count": len(apps)}, lambda d: table(
        d["apps"], [("APP ID", "app_id"), ("NAME", "name"), ("OWNER", "owner"), ("STATUS", "status")]))


def register(cli: click.Group) -> None:
    cli.add_command(app_group)
