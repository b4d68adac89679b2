"""``authledger migrate --from sqlite:PATH --to postgresql://...``: move a ledger to PostgreSQL.

Copies the stored events as they are, in position order, keeping positions, and prints the
chain digest (HEAD@POSITION) computed on both sides. Exit 0 when they match; 6 when they
do not (LogMismatch); 5 when the target already holds a ledger; 2 for a bad source or URL.
No secret key is needed: sealed secrets are copied sealed.
"""

from __future__ import annotations

import click

from authledger.cli.main import emit, global_options


@click.command("migrate")
@click.option("--from", "source", required=True, metavar="sqlite:PATH", help="The SQLite ledger to copy.")
@click.option("--to", "target", required=True, metavar="URL", help="An empty PostgreSQL database.")
@click.option("--batch", default=5000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Events read and copied per batch.")
@global_options
def migrate(source: str, target: str, batch: int) -> None:
    """Copy a SQLite ledger's log into an empty PostgreSQL database and prove it by digest."""
    from authledger.migrate import migrate as run
    from projections.chain import LogMismatch

    result = run(source, target, batch=batch)
    if not result.ok:
        raise LogMismatch(f"digests differ after the copy: source {result.source_digest}, "
                          f"target {result.target_digest}", result.last_position)
    emit(result.to_dict(), f"migrated {result.events} events (positions 1..{result.last_position})\n"
         f"source digest: {result.source_digest}\ntarget digest: {result.target_digest}\nmatch: yes")


def register(cli: click.Group) -> None:
    cli.add_command(migrate)
