"""Events as ledgers older than API groups hold them: written directly, past today's rules."""

from __future__ import annotations

from typing import Any

from ledger.domain import Api


def legacy_api(ledger: Any, owner: str, name: str, *, http_method: str | None = None,
               path_pattern: str | None = None, auth_type: str = "APP", appcode_mode: str = "DISABLE",
               nonce_required: bool = True) -> str:
    """Save an ApiRegistered with no ``group_id`` (as before groups) and no route checks; its id."""
    api = Api(owner=owner, name=name, group="", auth_type=auth_type, appcode_mode=appcode_mode,
              signature_methods=("HmacSHA256",), nonce_required=nonce_required, http_method=http_method,
              path_pattern=path_pattern)
    # The stored state as an old writer made it: the field did not exist.
    for e in api.pending_events:
        e.__dict__.pop("group_id", None)
    recordings = ledger.save(api)
    wake = getattr(ledger, "_wake_listeners", None)  # as the ledger's own commands do: followers look now
    if wake is not None and recordings:
        wake(int(recordings[-1].notification.id))
    return str(api.id)
