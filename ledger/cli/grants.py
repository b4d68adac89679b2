"""``authledger grant`` and ``authledger revoke``."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from ledger.cli.idempotent import KEY_OPTION, keyed
from ledger.cli.main import emit, global_options, settings
from ledger.cli.text import indent, receipt, table
from ledger.durations import parse_duration

STAGES = ("RELEASE", "PRE", "TEST")


@click.command("grant")
@click.option("--actor", required=True, help="Acting account (must own the APIs).")
@click.option("--app", "apps", multiple=True, required=True, metavar="APP_ID", help="App id (repeat for bulk).")
@click.option("--api", "apis", multiple=True, required=True, metavar="API_ID", help="API id (repeat for bulk).")
@click.option("--stage", type=click.Choice(STAGES), required=True)
@click.option("--until", default=None, metavar="ISO8601", help="End time, with a timezone (default: never).")
@click.option("--for", "for_", default=None, metavar="30d", help="End time from now: Ns, Nm, Nh, Nd or Nw (as HTTP's \"for\").")
@KEY_OPTION
@global_options
def grant(actor: str, apps: tuple[str, ...], apis: tuple[str, ...], stage: str, until: str | None,
          for_: str | None, idempotency_key: str | None) -> None:
    """Let apps call APIs in a stage (one API to many apps, or one app to many APIs)."""
    if until is not None and for_ is not None:
        raise click.UsageError("use either --until or --for, not both")
    end: str | datetime | None = until
    if for_ is not None:
        end = datetime.now(timezone.utc) + parse_duration(for_)
    ledger = settings().ledger()
    # The request is the options as given (--for 30d, not the end time it makes now): a
    # re-run with the same key keeps the first run's end time.
    with keyed(ledger, idempotency_key, "grant"):
        r = ledger.grant(actor, list(apps), list(apis), stage, until=end)
    emit(r.to_dict(), _human_grant)


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
