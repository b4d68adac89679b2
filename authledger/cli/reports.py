"""``authledger [--db PATH] report NAME [options]``: the compliance reports of ``reports/``.

The same reports as ``scripts/report_*.py`` (see docs/reports.md), from the database or an
export, written to stdout or to ``--out FILE`` (complete or not at all).
"""

from __future__ import annotations

import click

from authledger.cli.main import global_options, settings


@click.command("report")
@click.argument("name", metavar="NAME")
@click.option("--from-export", "from_export", metavar="FILE", default=None,
              help="Report from a jsonl export instead of the database.")
@click.option("--at", default=None, metavar="ISO8601", help="The instant (access-review, credential-hygiene).")
@click.option("--from", "start", default=None, metavar="ISO8601", help="Window start (access-changes, "
              "separation-of-duties; with --to).")
@click.option("--to", "end", default=None, metavar="ISO8601", help="Window end, exclusive.")
@click.option("--days", type=int, default=90, show_default=True, help="credential-hygiene: N days.")
@click.option("--format", "fmt", default=None, help="md (default), csv, json or html; --json means --format json.")
@click.option("--out", default=None, metavar="FILE", help="Write here (default: stdout).")
@click.option("--index", "index", metavar="FILE", default=None,
              help="Keep the audit index in this SQLite file (as the audit commands; for a read-only ledger).")
@global_options
def report(name: str, from_export: str | None, at: str | None, start: str | None, end: str | None, days: int,
           fmt: str | None, out: str | None, index: str | None) -> None:
    """A compliance report: access-review, access-changes, credential-hygiene, separation-of-duties."""
    from authledger.reports import run

    # --json, the global "one JSON object on stdout", is the JSON report; with another
    # --format it is refused rather than silently ignored.
    if settings().json:
        if fmt not in (None, "json"):
            raise click.UsageError(f"--json gives the report as JSON; it cannot be combined with --format {fmt[:20]}")
        fmt = "json"
    fmt = fmt or "md"

    # The ledger as every command resolves it: --db FILE, --database-url URL, or their variables.
    params: dict[str, object] = {"db": settings().target() if not from_export else None, "from_export": from_export}
    if index is not None:
        params["index"] = index
    if name in run.AT_REPORTS:
        params.update(at=at)
        if start is not None or end is not None:
            params.update(start=start, end=end)  # refused by run.build with a one-line error
    else:
        params.update(start=start, end=end)
        if at is not None:
            params.update(at=at)
    if name == "credential-hygiene":
        params["days"] = days
    run.write(run.generate(name, fmt, **params), out)


def register(cli: click.Group) -> None:
    cli.add_command(report)
