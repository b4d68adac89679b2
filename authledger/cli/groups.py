"""``authledger group create|list|show|bind-host|unbind-host``: API groups and their hosts."""

from __future__ import annotations

from typing import Any

import click

from authledger.cli.idempotent import KEY_OPTION, keyed, keyed_receipt
from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import block, receipt, table

ACTOR = click.option("--actor", required=True, help="Acting account (must own the group).")


@click.group("group")
@global_options
def group_group() -> None:
    """API groups: an account's APIs routed together, by the hosts bound to the group."""


@group_group.command("create")
@click.option("--owner", required=True, help="Owning account (the acting account).")
@click.option("--name", required=True, help="1-64 of letters, digits, _ . - ('default' is reserved).")
@click.option("--description", default="", help="At most 180 characters.")
@KEY_OPTION
@global_options
def create(owner: str, name: str, description: str, idempotency_key: str | None) -> None:
    """Create an API group (bound to no host until bind-host)."""
    ledger = settings().ledger(create=True)
    r = ledger.create_group(owner, name, description=description,
        idempotency=keyed(idempotency_key, "group create"))
    emit(r.to_dict(), keyed_receipt("API group created"))


@group_group.command("list")
@ACTOR
@global_options
def list_(actor: str) -> None:
    """The actor's API groups, its default group first."""
    from ledger import rules

    rules.account(actor, "actor")
    groups = settings().ledger().group_views(actor)
    emit({"groups": groups, "count": len(groups)}, lambda d: table(
        [{**g, "hosts": ", ".join(g["hosts"]) or "-"} for g in d["groups"]],
        [("GROUP ID", "group_id"), ("NAME", "name"), ("HOSTS", "hosts")]))


@group_group.command("show")
@click.argument("group_id")
@ACTOR
@global_options
def show(group_id: str, actor: str) -> None:
    """One of the actor's API groups and its hosts."""
    from ledger import rules

    rules.account(actor, "actor")
    emit(settings().ledger().group_view(group_id, actor), _human)


def _human(d: dict[str, Any]) -> str:
    return block([(k, (", ".join(v) or "-") if k == "hosts" else v) for k, v in d.items()])


@group_group.command("bind-host")
@click.argument("group_id")
@click.argument("host")
@ACTOR
@global_options
def bind_host(group_id: str, host: str, actor: str) -> None:
    """Bind HOST to the group: requests to it are routed only among the group's APIs."""
    r = settings().ledger(create=True).bind_host(actor, group_id, host)
    emit(r.to_dict(), lambda d: receipt("host bound" if d["changed"] else "host was bound already", d))


@group_group.command("unbind-host")
@click.argument("group_id")
@click.argument("host")
@ACTOR
@global_options
def unbind_host(group_id: str, host: str, actor: str) -> None:
    """Release HOST from the group (anyone may bind it again)."""
    r = settings().ledger().unbind_host(actor, group_id, host)
    emit(r.to_dict(), lambda d: receipt("host unbound", d))


def register(cli: click.Group) -> None:
    cli.add_command(group_group)
