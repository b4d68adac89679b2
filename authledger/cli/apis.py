"""``authledger api register|modify|delete|show|list``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from authledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import block, indent, receipt, table

APPCODE_MODES = ("DISABLE", "HEADER", "HEADER_QUERY")


@click.group("api")
@global_options
def api_group() -> None:
    """Register and look up APIs."""


@api_group.command("register")
@click.option("--owner", required=True, help="Owning account (the acting account).")
@click.option("--name", required=True, help="API name: 1-128 of letters, digits, _ . -")
@click.option("--group-id", default=None, metavar="GROUP_ID",
              help="One of the owner's API groups (authledger group create); default: the owner's default group.")
@click.option("--group", default="", help="A free-text label shown with the API (not used for routing).")
@click.option("--appcode-mode", type=click.Choice(APPCODE_MODES), default="DISABLE", show_default=True)
@click.option("--signature-methods", default="HmacSHA256", show_default=True, metavar="HmacSHA256[,HmacSHA1]")
@click.option("--nonce", type=click.Choice(("required", "optional")), default="required", show_default=True)
@click.option("--auth-type", type=click.Choice(("APP", "ANONYMOUS")), default="APP", show_default=True)
@click.option("--method", "http_method", default=None, help="HTTP method (default: any).")
@click.option("--path", "path_pattern", default=None, metavar="/v1/items/{id}", help="Request path pattern.")
@KEY_OPTION
@global_options
def register_api(owner: str, name: str, group_id: str | None, group: str, appcode_mode: str, signature_methods: str, nonce: str,
                 auth_type: str, http_method: str | None, path_pattern: str | None,
                 idempotency_key: str | None) -> None:
    """Register an API with its security settings."""
    ledger = settings().ledger(create=True)
    r = ledger.register_api(
        owner, name, group=group, auth_type=auth_type, appcode_mode=appcode_mode,
        signature_methods=signature_methods, nonce_required=nonce == "required",
        http_method=http_method, path_pattern=path_pattern, group_id=group_id,
        idempotency=keyed(idempotency_key, "api register"),
    )
    emit(r.to_dict(), keyed_receipt("API registered"))


@api_group.command("modify")
@click.argument("api_id")
@click.option("--actor", required=True, help="Acting account (the API's owner).")
@click.option("--name", default=None, help="New name: 1-128 of letters, digits, _ . -")
@click.option("--group", default=None, help="New API group name.")
@click.option("--appcode-mode", type=click.Choice(APPCODE_MODES), default=None)
@click.option("--signature-methods", default=None, metavar="HmacSHA256[,HmacSHA1]")
@click.option("--nonce", type=click.Choice(("required", "optional")), default=None)
@click.option("--auth-type", type=click.Choice(("APP", "ANONYMOUS")), default=None)
@click.option("--method", "http_method", default=None, help="HTTP method (ANY: any method).")
@click.option("--path", "path_pattern", default=None, metavar="/v1/items/{id}", help="Request path pattern.")
@click.option("--no-path", is_flag=True, help="Remove the path pattern (the API is no longer routed by path).")
@global_options
def modify(api_id: str, actor: str, name: str | None, group: str | None, appcode_mode: str | None,
           signature_methods: str | None, nonce: str | None, auth_type: str | None, http_method: str | None,
           path_pattern: str | None, no_path: bool) -> None:
    """Change an API's settings (only those given); the gateway uses them at once, audits
    of an earlier instant still answer from the old ones."""
    if no_path and path_pattern is not None:
        raise click.UsageError("use either --path or --no-path, not both")
    paths = {"path_pattern": None} if no_path else ({"path_pattern": path_pattern} if path_pattern is not None else {})
    r = settings().ledger().modify_api(
        api_id, actor, name=name, group=group, auth_type=auth_type, appcode_mode=appcode_mode,
        signature_methods=signature_methods, nonce_required=None if nonce is None else nonce == "required",
        **({"http_method": http_method} if http_method is not None else {}), **paths,
    )
    emit(r.to_dict(), lambda d: receipt("API modified", d))


@api_group.command("delete")
@click.argument("api_id")
@click.option("--actor", required=True, help="Acting account (the API's owner).")
@global_options
def delete(api_id: str, actor: str) -> None:
    """Delete an API: every grant on it ends now; it cannot be granted or modified again.
    Its history stays (history, who-could-call at an earlier instant, reports)."""
    r = settings().ledger().delete_api(api_id, actor)
    emit(r.to_dict(), lambda d: receipt("API deleted", d))


@api_group.command("show")
@click.argument("api_id")
@global_options
def show(api_id: str) -> None:
    """An API's settings and the apps currently authorized to call it."""
    from ledger import catalog, views

    ledger = settings().ledger(read=True)
    api = ledger.live_api(api_id)  # a deleted API is not found (exit 3); `history --api` keeps it
    data = views.api_with_apps(api, catalog.grants_on(ledger, api.id), datetime.now(timezone.utc),
                               catalog.group_names(ledger))
    emit(data, _human_show)


def _human_show(d: dict[str, Any]) -> str:
    settings_ = [(k, v) for k, v in d.items() if k != "authorized_apps"]
    apps = table(d["authorized_apps"], [("APP ID", "app_id"), ("NAME", "app_name"), ("OWNER", "app_owner"),
                                        ("STATUS", "app_status"), ("STAGE", "stage"), ("UNTIL", "until"),
                                        ("GRANTED BY", "granted_by")])
    return f"{block(settings_)}\nauthorized apps ({len(d['authorized_apps'])}):\n{indent(apps)}"


@api_group.command("list")
@click.option("--owner", default=None, help="Only APIs of this account.")
@global_options
def list_(owner: str | None) -> None:
    """Registered APIs."""
    from ledger import catalog, views

    ledger = settings().ledger(read=True)
    names = catalog.group_names(ledger)
    apis = [views.api(a, names) for a in catalog.apis(ledger, owner)]
    emit({"apis": apis, "count": len(apis)}, lambda d: table(d["apis"], [
        ("API ID", "api_id"), ("NAME", "name"), ("OWNER", "owner"), ("GROUP", "group_name"),
        ("AUTH", "auth_type"), ("APPCODE", "appcode_mode"), ("METHOD", "method"), ("PATH", "path")]))


def register(cli: click.Group) -> None:
    cli.add_command(api_group)
