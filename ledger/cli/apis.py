"""``authledger api register|show|list``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from ledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from ledger.cli.main import emit, global_options, settings
from ledger.cli.text import block, indent, table

APPCODE_MODES = ("DISABLE", "HEADER", "HEADER_QUERY")


@click.group("api")
@global_options
def api_group() -> None:
    """Register and look up APIs."""


@api_group.command("register")
@click.option("--owner", required=True, help="Owning account (the acting account).")
@click.option("--name", required=True, help="API name: 1-128 of letters, digits, _ . -")
@click.option("--group", default="", help="API group name.")
@click.option("--appcode-mode", type=click.Choice(APPCODE_MODES), default="DISABLE", show_default=True)
@click.option("--signature-methods", default="HmacSHA256", show_default=True, metavar="HmacSHA256[,HmacSHA1]")
@click.option("--nonce", type=click.Choice(("required", "optional")), default="required", show_default=True)
@click.option("--auth-type", type=click.Choice(("APP", "ANONYMOUS")), default="APP", show_default=True)
@click.option("--method", "http_method", default=None, help="HTTP method (default: any).")
@click.option("--path", "path_pattern", default=None, metavar="/v1/items/{id}", help="Request path pattern.")
@KEY_OPTION
@global_options
def register_api(owner: str, name: str, group: str, appcode_mode: str, signature_methods: str, nonce: str,
                 auth_type: str, http_method: str | None, path_pattern: str | None,
                 idempotency_key: str | None) -> None:
    """Register an API with its security settings."""
    ledger = settings().ledger(create=True)
    with keyed(ledger, idempotency_key, "api register"):
        r = ledger.register_api(
            owner, name, group=group, auth_type=auth_type, appcode_mode=appcode_mode,
            signature_methods=signature_methods, nonce_required=nonce == "required",
            http_method=http_method, path_pattern=path_pattern,
        )
    emit(r.to_dict(), keyed_receipt("API registered"))


@api_group.command("show")
@click.argument("api_id")
@global_options
def show(api_id: str) -> None:
    """An API's settings and the apps currently authorized to call it."""
    from ledger import catalog, views

    ledger = settings().ledger(read=True)
    api = ledger.get_api(api_id)
    data = views.api_with_apps(api, catalog.grants_on(ledger, api.id), datetime.now(timezone.utc))
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

    apis = [views.api(a) for a in catalog.apis(settings().ledger(read=True), owner)]
    emit({"apis": apis, "count": len(apis)}, lambda d: table(d["apis"], [
        ("API ID", "api_id"), ("NAME", "name"), ("OWNER", "owner"), ("GROUP", "group"),
        ("AUTH", "auth_type"), ("APPCODE", "appcode_mode"), ("METHOD", "method"), ("PATH", "path")]))


def register(cli: click.Group) -> None:
    cli.add_command(api_group)
