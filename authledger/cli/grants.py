"""``authledger grant`` and ``authledger revoke``."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from authledger.cli.idempotent import KEY_OPTION, keyed
from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import indent, receipt, table
from ledger.durations import grant_end

STAGES = ("RELEASE", "PRE", "TEST")


@click.group("grant", invoke_without_command=True)
@click.option("--actor", default=None, help="Acting account (must own the APIs).  [required]")
@click.option("--app", "apps", multiple=True, metavar="APP_ID", help="App id (repeat for bulk).  [required]")
@click.option("--api", "apis", multiple=True, metavar="API_ID", help="API id (repeat for bulk).  [required]")
@click.option("--stage", type=click.Choice(STAGES), default=None, help="  [required]")
@click.option("--until", default=None, metavar="ISO8601", help="End time, with a timezone (default: never).")
@click.option("--for", "for_", default=None, metavar="30d", help="End time from now: Ns, Nm, Nh, Nd or Nw (as HTTP's \"for\").")
@click.option("--description", default=None, metavar="TEXT",
              help="What the grant is for (at most 180 characters); kept by the grant when it is given again.")
@KEY_OPTION
@global_options
@click.pass_context
def grant(ctx: click.Context, actor: str | None, apps: tuple[str, ...], apis: tuple[str, ...], stage: str | None,
          until: str | None, for_: str | None, description: str | None, idempotency_key: str | None) -> None:
    """Let apps call APIs in a stage (one API to many apps, or one app to many APIs);
    `grant list` shows grants."""
    given = actor is not None or apps or apis or stage is not None or until is not None or for_ is not None \
        or description is not None or idempotency_key is not None
    if ctx.invoked_subcommand is not None:
        if given:
            raise click.UsageError(f"options of grant go after `grant {ctx.invoked_subcommand}`, not before")
        return
    for name, value in (("--actor", actor), ("--app", apps), ("--api", apis), ("--stage", stage)):
        if not value:
            raise click.UsageError(f"Missing option '{name}'.")
    assert actor is not None and stage is not None
    # The same reading of until/for as POST /v1/grants (ledger.durations.grant_end).
    end = grant_end(until, for_, datetime.now(timezone.utc))
    ledger = settings().ledger()
    if description is None:
        # A grant without --description is the same request as one from before the option
        # existed: a retry across an upgrade under the same idempotency key still matches.
        ctx.params.pop("description", None)
    # The request is the options as given (--for 30d, not the end time it makes now): a
    # re-run with the same key keeps the first run's end time.
    r = ledger.grant(actor, list(apps), list(apis), stage, until=end, description=description,
        idempotency=keyed(idempotency_key, "grant"))  # type: ignore[arg-type]
    emit(r.to_dict(), _human_grant)


@grant.command("list")
@click.option("--actor", required=True, help="Acting account: sees grants on its APIs and of its apps.")
@click.option("--app", "app_id", default=None, metavar="APP_ID", help="Only grants held by this app.")
@click.option("--api", "api_id", default=None, metavar="API_ID", help="Only grants on this API.")
@click.option("--stage", type=click.Choice(STAGES), default=None, help="Only grants in this stage.")
@global_options
def list_grants(actor: str, app_id: str | None, api_id: str | None, stage: str | None) -> None:
    """Grants on the actor's APIs or held by the actor's apps, in force or expired (as GET /v1/grants)."""
    from ledger import catalog, rules, views
    from ledger.core import parse_id

    rules.account(actor, "actor")
    app_id = None if app_id is None else str(parse_id(app_id, "app"))
    api_id = None if api_id is None else str(parse_id(api_id, "api"))
    now = datetime.now(timezone.utc)
    found = [views.grant(app, api, g, now)
             for app, api, g in catalog.grants(settings().ledger(), actor, app_id=app_id, api_id=api_id, stage=stage)]
    emit({"grants": found, "count": len(found)}, lambda d: table(d["grants"], [
        ("APP ID", "app_id"), ("APP", "app_name"), ("API ID", "api_id"), ("API", "api_name"), ("STAGE", "stage"),
        ("UNTIL", "until"), ("IN FORCE", "in_force"), ("GRANTED BY", "granted_by"), ("DESCRIPTION", "description")],
        empty="(no grants)"))


def _human_grant(d: dict[str, object]) -> str:
    granted = d["granted"]
    assert isinstance(granted, list)
    title = "granted (replayed: this idempotency key already ran; nothing written)" if d.get("replayed") else "granted"
    rest = {k: v for k, v in d.items() if k not in ("replayed", "withheld")}
    head = receipt(title, {**rest, "granted": f"{len(granted)} grant(s) given or changed"})
    rows = table(granted, [("APP ID", "app_id"), ("API ID", "api_id")], empty="(already granted as asked)")
    return head + "\n" + indent(rows, "    ")


@click.command("revoke")
@click.option("--actor", required=True, help="Acting account: the API's owner or the app's owner.")
@click.option("--app", "app_id", required=True, metavar="APP_ID")
@click.option("--api", "api_id", required=True, metavar="API_ID")
@click.option("--stage", type=click.Choice(STAGES), required=True)
@global_options
def revoke(actor: str, app_id: str, api_id: str, stage: str) -> None:
    """Take a grant back (the API's owner, or the app's owner giving it up)."""
    r = settings().ledger().revoke(actor, app_id, api_id, stage)
    emit(r.to_dict(), lambda d: receipt("revoked", d))


def register(cli: click.Group) -> None:
    cli.add_command(grant)
    cli.add_command(revoke)
