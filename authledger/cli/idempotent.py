"""``--idempotency-key KEY`` for the commands that generate ids or credentials.

Re-running such a command with the same key (after a timeout, a lost connection, exit 7)
does not run it twice: the first run's result comes back (its ids; secrets were shown once,
by the first run, and are not shown again) and nothing is written. The same key with other
options is refused (exit 2). Keys belong to the acting account and never expire; see
ledger/idempotency.py and docs/ledger.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from authledger.cli.text import receipt
from ledger import idempotency

KEY_OPTION = click.option(
    "--idempotency-key", "idempotency_key", default=None, metavar="KEY",
    help="Run at most once per KEY (1-255 printable ASCII): a re-run returns the first result.")


def keyed(key: str | None, operation: str) -> idempotency.Request | None:
    """The ledger command's ``idempotency`` argument: ``key`` and this CLI command with its
    options as given (None without a key)."""
    params = {k: v for k, v in click.get_current_context().params.items() if k != "idempotency_key"}
    return idempotency.request(key, "cli:" + operation, params)


def keyed_receipt(title: str, skip: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], str]:
    """The human receipt; a replay says so and names the secrets it does not show again."""

    def human(d: dict[str, Any]) -> str:
        if not d.get("replayed"):
            return receipt(title, d, skip=skip)
        rows = {k: v for k, v in d.items() if k not in ("replayed", "withheld")}
        if d.get("withheld"):
            rows["not shown again"] = ", ".join(d["withheld"]) + " (shown once, by the first run)"
        return receipt(f"{title} (replayed: this idempotency key already ran; nothing written)", rows, skip=skip)

    return human
