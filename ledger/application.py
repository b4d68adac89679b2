"""The ledger application: every use case is a method; every change is an event.

``Ledger`` puts together the use cases of ``ledger.commands`` (APIs, apps, credentials,
grants) over ``ledger.core.LedgerCore``, which runs each command: checks first, then one
save of everything it changed, exactly once (see ledger/core.py and docs/ledger.md).
Tokens (``ledger.tokens``) and queries (``ledger.catalog``) are functions over a Ledger.
"""

from __future__ import annotations

from ledger.commands.apis import ApiCommands
from ledger.commands.apps import AppCommands
from ledger.commands.credentials import CredentialCommands
from ledger.commands.grants import GrantCommands
from ledger.commands.groups import GroupCommands
from ledger.core import MAX_RETRIES, SOURCES, STORE_RETRY_SECONDS, LedgerCore, Receipt, parse_id

__all__ = ["MAX_RETRIES", "SOURCES", "STORE_RETRY_SECONDS", "Ledger", "LedgerCore", "Receipt", "parse_id"]


class Ledger(ApiCommands, GroupCommands, AppCommands, CredentialCommands, GrantCommands):
    """authledger's write side."""

    name = "Ledger"  # stable: it prefixes settings and names Postgres tables
